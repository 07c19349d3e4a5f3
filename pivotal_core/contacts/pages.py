"""Contacts in the staff UI: the list, a contact's page (fields with provenance, account,
external ids, history), the form, and the list's bulk actions."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any

from pyramid.request import Request
from sqlalchemy.orm import selectinload

from pivotal_core.accounts.pages import ACCOUNT
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts import services
from pivotal_core.contacts.api import SORT_KEYS, search_contacts
from pivotal_core.contacts.models import SENIORITIES, Contact
from pivotal_core.contacts.schemas import ContactInput
from pivotal_core.web.record_pages import (
    DetailField,
    FormField,
    RecordPages,
    RecordTable,
    add_record_pages,
    when,
)
from pivotal_core.web.tables import Column
from pivotal_core.web.templating import add_template_dir

ACCOUNT_FILTER = re.compile(r"account:(\d{1,18})")


def search_contact_table(q: str):
    """The list's quick search; ``account:<id>`` lists the contacts at one account (the
    account page links there), anything else searches names and emails."""
    match = ACCOUNT_FILTER.fullmatch(q.strip())
    if match:
        return Contact.account_id == int(match[1])
    return search_contacts(q)


def contact_label(contact: Contact) -> str:
    return contact.full_name or contact.email or f"Contact {contact.id}"


def _account_href(request: Request, contact: Contact) -> str | None:
    return request.route_path("web.account", id=contact.account_id) if contact.account_id else None


SENIORITY_OPTIONS = tuple((s, s.replace("_", " ")) for s in SENIORITIES)

TABLE = RecordTable(
    name="contacts",
    model=Contact,
    columns=(
        Column("name", "Name", contact_label, sort="last_name", link=True),
        Column("email", "Email", lambda c: c.email, sort="email", mono=True),
        Column(
            "account",
            "Account",
            lambda c: c.account.name if c.account else None,
            href=_account_href,
        ),
        Column("title", "Title", lambda c: c.title),
        Column(
            "seniority",
            "Seniority",
            lambda c: c.seniority.replace("_", " ") if c.seniority else None,
        ),
        Column("phone", "Phone", lambda c: c.phone, mono=True),
        Column("country", "Country", lambda c: c.country),
        Column("tags", "Tags", lambda c: c.tags or None),
        Column("updated", "Updated", lambda c: when(c.updated_at), sort="updated_at", mono=True),
        Column("mobile", "Mobile", lambda c: c.mobile, mono=True, default=False),
        Column("department", "Department", lambda c: c.department, default=False),
        Column("city", "City", lambda c: c.city, default=False),
        Column(
            "created",
            "Created",
            lambda c: when(c.created_at),
            sort="created_at",
            mono=True,
            default=False,
        ),
    ),
    sort_keys=SORT_KEYS,
    default_sort="last_name",
    search=search_contact_table,
    detail_route="web.contact",
    list_route="web.contacts",
    load_options=(selectinload(Contact.account),),
)

FORM = (
    (
        "Person",
        (
            FormField("first_name", "First name"),
            FormField("last_name", "Last name"),
            FormField("email", "Email", "email"),
            FormField(
                "account_id",
                "Account",
                "reference",
                reference=ACCOUNT,
                help="the account's id; empty: found from the email's domain",
            ),
            FormField("title", "Title"),
            FormField("seniority", "Seniority", "select", options=SENIORITY_OPTIONS),
            FormField("department", "Department"),
            FormField("linkedin_url", "LinkedIn", "url"),
        ),
    ),
    (
        "Phones",
        (
            FormField("phone", "Phone", "tel", help="any format; stored as E.164"),
            FormField("mobile", "Mobile", "tel", help="any format; stored as E.164"),
        ),
    ),
    (
        "Location",
        (
            FormField("city", "City"),
            FormField("region", "Region"),
            FormField("postal_code", "Postal code"),
            FormField("country", "Country", help="ISO code or name"),
            FormField("timezone", "Time zone", help="IANA name, e.g. Europe/Berlin"),
        ),
    ),
    ("Classification", (FormField("tags", "Tags", "list", help="comma-separated"),)),
)

DETAILS = (
    (
        "Person",
        (
            DetailField("first_name", "First name"),
            DetailField("last_name", "Last name"),
            DetailField("email", "Email", "email"),
            DetailField("account_id", "Account", "reference", reference=ACCOUNT),
            DetailField("title", "Title"),
            DetailField("seniority", "Seniority"),
            DetailField("department", "Department"),
            DetailField("linkedin_url", "LinkedIn", "url"),
        ),
    ),
    (
        "Phones",
        (
            DetailField("phone", "Phone", "tel"),
            DetailField("mobile", "Mobile", "tel"),
        ),
    ),
    (
        "Location",
        (
            DetailField("city", "City"),
            DetailField("region", "Region"),
            DetailField("postal_code", "Postal code", "mono"),
            DetailField("country", "Country"),
            DetailField("timezone", "Time zone", "mono"),
        ),
    ),
    ("Classification", (DetailField("tags", "Tags", "tags"),)),
)


def local_time(timezone: str | None) -> str | None:
    """The contact's current local time, for deciding whether to call now."""
    if not timezone:
        return None
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return dt.datetime.now(zone).strftime("%H:%M (%a) %Z")


def contact_extra(request: Request, contact: Contact) -> dict[str, Any]:
    external = services.external_ids_of(request.dbsession, [contact.id]).get(contact.id, {})
    return {
        "external_ids": sorted(external.items()),
        "local_time": local_time(contact.timezone),
    }


PAGES = RecordPages(
    entity="contact",
    plural="contacts",
    model=Contact,
    table=TABLE,
    label=contact_label,
    input_schema=ContactInput,
    form=FORM,
    details=DETAILS,
    get=services.get_contact,
    create=services.create_contact,
    update=services.update_contact,
    delete=services.delete_contact,
    restore=services.restore_contact,
    read_permission=Permission.CONTACTS_READ,
    write_permission=Permission.CONTACTS_WRITE,
    prepare_changes=services.prepare_changes,
    check_changes=services.check_changes,
    unique_fields=services.UNIQUE_FIELDS,
    delete_permission=Permission.CONTACTS_DELETE,
    detail_extra=contact_extra,
)


def includeme(config):
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    add_record_pages(config, PAGES)
