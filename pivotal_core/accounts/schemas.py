"""Account input schemas and the JSON shape of an account."""

from __future__ import annotations

from typing import Any

import colander

from pivotal_core.accounts.models import Account
from pivotal_core.api.validation import Integer, JSONObject, Text, TextList


def _text(name: str, max_length: int, **kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(), name=name, missing=None, validator=colander.Length(max=max_length), **kw
    )


class AccountInput(colander.MappingSchema):
    name = colander.SchemaNode(Text(), validator=colander.Length(min=1, max=200))
    domain = _text("domain", 300, description="primary domain; URLs are accepted")
    secondary_domains = colander.SchemaNode(TextList(max_items=50, max_length=300), missing=None)
    parent_id = colander.SchemaNode(Integer(), missing=None)
    industry = _text("industry", 100)
    employee_count = colander.SchemaNode(Integer(), missing=None)
    annual_revenue = colander.SchemaNode(Integer(), missing=None)
    phone = _text("phone", 40)
    linkedin_url = _text("linkedin_url", 300)
    description = _text("description", 5000)
    street = _text("street", 200)
    city = _text("city", 100)
    region = _text("region", 100)
    postal_code = _text("postal_code", 20)
    country = _text("country", 60, description="ISO 3166 code or country name")
    technologies = colander.SchemaNode(TextList(max_items=200), missing=None)
    tags = colander.SchemaNode(TextList(max_items=100), missing=None)
    custom_fields = colander.SchemaNode(JSONObject(), missing=None)


class AccountOutput(AccountInput):
    id = colander.SchemaNode(Integer())
    name_key = colander.SchemaNode(Text())
    field_provenance = colander.SchemaNode(JSONObject())
    created_at = colander.SchemaNode(colander.DateTime())
    updated_at = colander.SchemaNode(colander.DateTime())
    deleted_at = colander.SchemaNode(colander.DateTime(), missing=None)


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "name_key": account.name_key,
        "domain": account.domain,
        "secondary_domains": account.secondary_domains or [],
        "parent_id": account.parent_id,
        "industry": account.industry,
        "employee_count": account.employee_count,
        "annual_revenue": account.annual_revenue,
        "phone": account.phone,
        "linkedin_url": account.linkedin_url,
        "description": account.description,
        "street": account.street,
        "city": account.city,
        "region": account.region,
        "postal_code": account.postal_code,
        "country": account.country,
        "technologies": account.technologies or [],
        "tags": account.tags or [],
        "custom_fields": account.custom_fields or {},
        "field_provenance": account.field_provenance or {},
        "created_at": account.created_at.isoformat() if account.created_at else None,
        "updated_at": account.updated_at.isoformat() if account.updated_at else None,
        "deleted_at": account.deleted_at.isoformat() if account.deleted_at else None,
    }
