"""JSON API of contacts: /api/v1/contacts."""

from __future__ import annotations

from sqlalchemy import func, or_

from pivotal_core.api.pagination import SortKey
from pivotal_core.api.records import RecordResource, add_record_endpoints
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts import services
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.schemas import ContactInput, ContactOutput, contact_json


def search_contacts(q: str):
    q = q.strip().lower()
    if "@" in q:
        return Contact.email.startswith(q, autoescape=True)
    return or_(
        func.lower(Contact.last_name).startswith(q, autoescape=True),
        func.lower(Contact.first_name).startswith(q, autoescape=True),
        Contact.email.startswith(q, autoescape=True),
    )


SORT_KEYS = {
    "id": SortKey("id", Contact.id, "number"),
    "last_name": SortKey("last_name", func.coalesce(Contact.last_name, ""), "text"),
    "email": SortKey("email", func.coalesce(Contact.email, ""), "text"),
    "created_at": SortKey("created_at", Contact.created_at, "datetime"),
    "updated_at": SortKey("updated_at", Contact.updated_at, "datetime"),
}


def contacts_json(request, contacts):
    external = services.external_ids_of(request.dbsession, [c.id for c in contacts])
    return [contact_json(c, external.get(c.id)) for c in contacts]


RESOURCE = RecordResource(
    entity="contact",
    plural="contacts",
    model=Contact,
    input_schema=ContactInput(),
    output_schema=ContactOutput(),
    to_json=contacts_json,
    get=services.get_contact,
    create=services.create_contact,
    update=services.update_contact,
    delete=services.delete_contact,
    restore=services.restore_contact,
    sort_keys=SORT_KEYS,
    default_sort="id",
    search=search_contacts,
    read_permission=Permission.CONTACTS_READ,
    write_permission=Permission.CONTACTS_WRITE,
    delete_permission=Permission.CONTACTS_DELETE,
)


def includeme(config):
    add_record_endpoints(config, RESOURCE)
