"""Accounts in the staff UI: the list, an account's page (fields with provenance,
hierarchy, contacts, history), the form, and the list's bulk actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyramid.request import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from pivotal_core.accounts import services
from pivotal_core.accounts.api import SORT_KEYS, search_accounts
from pivotal_core.accounts.models import Account
from pivotal_core.accounts.schemas import AccountInput
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts.models import Contact
from pivotal_core.web.record_pages import (
    DetailField,
    FormField,
    RecordPages,
    RecordTable,
    Reference,
    add_record_pages,
    number,
    when,
)
from pivotal_core.web.tables import Column
from pivotal_core.web.templating import add_template_dir

CONTACTS_SHOWN = 50
CHILDREN_SHOWN = 100


def account_name(session: Session, account_id: int) -> str | None:
    """The name of an account, deleted ones too (a reference may point at one)."""
    return session.scalar(
        select(Account.name).where(Account.id == account_id).execution_options(include_deleted=True)
    )


ACCOUNT = Reference("web.account", account_name)


def _parent_href(request: Request, account: Account) -> str | None:
    return request.route_path("web.account", id=account.parent_id) if account.parent_id else None


TABLE = RecordTable(
    name="accounts",
    model=Account,
    columns=(
        Column("name", "Name", lambda a: a.name, sort="name", link=True),
        Column("domain", "Domain", lambda a: a.domain, sort="domain", mono=True),
        Column("industry", "Industry", lambda a: a.industry),
        Column("country", "Country", lambda a: a.country),
        Column("employees", "Employees", lambda a: number(a.employee_count), mono=True),
        Column("city", "City", lambda a: a.city),
        Column("tags", "Tags", lambda a: a.tags or None),
        Column("updated", "Updated", lambda a: when(a.updated_at), sort="updated_at", mono=True),
        Column("revenue", "Revenue", lambda a: number(a.annual_revenue), mono=True, default=False),
        Column(
            "parent",
            "Parent",
            lambda a: a.parent.name if a.parent else None,
            default=False,
            href=_parent_href,
        ),
        Column(
            "created",
            "Created",
            lambda a: when(a.created_at),
            sort="created_at",
            mono=True,
            default=False,
        ),
    ),
    sort_keys=SORT_KEYS,
    default_sort="name",
    search=search_accounts,
    detail_route="web.account",
    list_route="web.accounts",
    load_options=(selectinload(Account.parent),),
)

FORM = (
    (
        "Company",
        (
            FormField("name", "Name", required=True),
            FormField("domain", "Primary domain", help="a URL is fine: https://www.acme.com"),
            FormField("secondary_domains", "Secondary domains", "list", help="comma-separated"),
            FormField(
                "parent_id",
                "Parent account",
                "reference",
                reference=ACCOUNT,
                help="the parent's account id",
            ),
            FormField("industry", "Industry"),
            FormField("employee_count", "Employees", "integer"),
            FormField("annual_revenue", "Annual revenue", "integer"),
            FormField("phone", "Phone", "tel"),
            FormField("linkedin_url", "LinkedIn", "url"),
            FormField("description", "Description", "textarea"),
        ),
    ),
    (
        "Location",
        (
            FormField("street", "Street"),
            FormField("city", "City"),
            FormField("region", "Region"),
            FormField("postal_code", "Postal code"),
            FormField("country", "Country", help="ISO code or name"),
        ),
    ),
    (
        "Classification",
        (
            FormField("technologies", "Technologies", "list", help="comma-separated"),
            FormField("tags", "Tags", "list", help="comma-separated"),
        ),
    ),
)

DETAILS = (
    (
        "Company",
        (
            DetailField("name", "Name"),
            DetailField("domain", "Primary domain", "mono"),
            DetailField("secondary_domains", "Secondary domains", "tags"),
            DetailField("parent_id", "Parent", "reference", reference=ACCOUNT),
            DetailField("industry", "Industry"),
            DetailField("employee_count", "Employees", "number"),
            DetailField("annual_revenue", "Annual revenue", "number"),
            DetailField("phone", "Phone", "tel"),
            DetailField("linkedin_url", "LinkedIn", "url"),
            DetailField("description", "Description", "longtext"),
        ),
    ),
    (
        "Location",
        (
            DetailField("street", "Street"),
            DetailField("city", "City"),
            DetailField("region", "Region"),
            DetailField("postal_code", "Postal code", "mono"),
            DetailField("country", "Country"),
        ),
    ),
    (
        "Classification",
        (
            DetailField("technologies", "Technologies", "tags"),
            DetailField("tags", "Tags", "tags"),
        ),
    ),
)


def account_extra(request: Request, account: Account) -> dict[str, Any]:
    """The hierarchy around the account and the contacts at it."""
    session = request.dbsession
    children = services.account_children(session, account.id)
    contacts = list(
        session.scalars(
            select(Contact)
            .where(Contact.account_id == account.id)
            .order_by(func.coalesce(Contact.last_name, ""), Contact.id)
            .limit(CONTACTS_SHOWN)
        )
    )
    contact_count = session.scalar(
        select(func.count()).select_from(Contact).where(Contact.account_id == account.id)
    )
    return {
        # Root first, down to the account's parent.
        "ancestors": list(reversed(services.account_ancestors(session, account))),
        "children": children[:CHILDREN_SHOWN],
        "child_count": len(children),
        "contacts": contacts,
        "contact_count": contact_count or 0,
        "contacts_url": request.route_path("web.contacts", _query={"q": f"account:{account.id}"}),
    }


PAGES = RecordPages(
    entity="account",
    plural="accounts",
    model=Account,
    table=TABLE,
    label=lambda a: a.name,
    input_schema=AccountInput,
    form=FORM,
    details=DETAILS,
    get=services.get_account,
    create=services.create_account,
    update=services.update_account,
    delete=services.delete_account,
    restore=services.restore_account,
    read_permission=Permission.ACCOUNTS_READ,
    write_permission=Permission.ACCOUNTS_WRITE,
    prepare_changes=services.prepare_changes,
    check_changes=services.check_changes,
    unique_fields=services.UNIQUE_FIELDS,
    derived_fields=services.DERIVED_FIELDS,
    delete_permission=Permission.ACCOUNTS_DELETE,
    detail_extra=account_extra,
)


def includeme(config):
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    add_record_pages(config, PAGES)
