"""Contact input schemas and the JSON shape of a contact."""

from __future__ import annotations

from typing import Any

import colander

from pivotal_core.api.validation import Integer, JSONObject, Text, TextList
from pivotal_core.contacts.models import SENIORITIES, Contact


def _text(name: str, max_length: int, **kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(), name=name, missing=None, validator=colander.Length(max=max_length), **kw
    )


class ContactInput(colander.MappingSchema):
    account_id = colander.SchemaNode(Integer(), missing=None)
    first_name = _text("first_name", 100)
    last_name = _text("last_name", 100)
    email = _text("email", 254)
    phone = _text("phone", 40, description="any format; stored as E.164")
    mobile = _text("mobile", 40, description="any format; stored as E.164")
    title = _text("title", 200)
    seniority = _text("seniority", 20, description="one of " + ", ".join(SENIORITIES))
    department = _text("department", 100)
    linkedin_url = _text("linkedin_url", 300)
    city = _text("city", 100)
    region = _text("region", 100)
    postal_code = _text("postal_code", 20)
    country = _text("country", 60, description="ISO 3166 code or country name")
    timezone = _text("timezone", 64, description="IANA time zone, e.g. Europe/Berlin")
    tags = colander.SchemaNode(TextList(max_items=100), missing=None)
    custom_fields = colander.SchemaNode(JSONObject(), missing=None)
    external_ids = colander.SchemaNode(
        JSONObject(max_keys=20), missing=None, description="{source: id in that source}"
    )


class ContactOutput(ContactInput):
    id = colander.SchemaNode(Integer())
    email_domain = colander.SchemaNode(Text(), missing=None)
    full_name = colander.SchemaNode(Text())
    field_provenance = colander.SchemaNode(JSONObject())
    created_at = colander.SchemaNode(colander.DateTime())
    updated_at = colander.SchemaNode(colander.DateTime())
    deleted_at = colander.SchemaNode(colander.DateTime(), missing=None)


def contact_json(contact: Contact, external_ids: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": contact.id,
        "account_id": contact.account_id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "email": contact.email,
        "email_domain": contact.email_domain,
        "phone": contact.phone,
        "mobile": contact.mobile,
        "title": contact.title,
        "seniority": contact.seniority,
        "department": contact.department,
        "linkedin_url": contact.linkedin_url,
        "city": contact.city,
        "region": contact.region,
        "postal_code": contact.postal_code,
        "country": contact.country,
        "timezone": contact.timezone,
        "tags": contact.tags or [],
        "custom_fields": contact.custom_fields or {},
        "external_ids": external_ids or {},
        "field_provenance": contact.field_provenance or {},
        "created_at": contact.created_at.isoformat() if contact.created_at else None,
        "updated_at": contact.updated_at.isoformat() if contact.updated_at else None,
        "deleted_at": contact.deleted_at.isoformat() if contact.deleted_at else None,
    }
