"""JSON API of accounts: /api/v1/accounts."""

from __future__ import annotations

from sqlalchemy import func, or_

from pivotal_core.accounts import services
from pivotal_core.accounts.models import Account
from pivotal_core.accounts.schemas import AccountInput, AccountOutput, account_json
from pivotal_core.api.pagination import SortKey
from pivotal_core.api.records import RecordResource, add_record_endpoints
from pivotal_core.authnz.permissions import Permission
from pivotal_core.normalize import company_match_key


def search_accounts(q: str):
    q = q.strip().lower()
    key = company_match_key(q) or q
    return or_(
        Account.name_key.startswith(key, autoescape=True),
        Account.domain.startswith(q, autoescape=True),
        func.lower(Account.name).contains(q, autoescape=True),
    )


SORT_KEYS = {
    "id": SortKey("id", Account.id, "number"),
    "name": SortKey("name", Account.name, "text"),
    "domain": SortKey("domain", func.coalesce(Account.domain, ""), "text"),
    "created_at": SortKey("created_at", Account.created_at, "datetime"),
    "updated_at": SortKey("updated_at", Account.updated_at, "datetime"),
}

RESOURCE = RecordResource(
    entity="account",
    plural="accounts",
    model=Account,
    input_schema=AccountInput(),
    output_schema=AccountOutput(),
    to_json=lambda request, records: [account_json(a) for a in records],
    get=services.get_account,
    create=services.create_account,
    update=services.update_account,
    delete=services.delete_account,
    restore=services.restore_account,
    sort_keys=SORT_KEYS,
    default_sort="name",
    search=search_accounts,
    read_permission=Permission.ACCOUNTS_READ,
    write_permission=Permission.ACCOUNTS_WRITE,
    delete_permission=Permission.ACCOUNTS_DELETE,
)


def includeme(config):
    add_record_endpoints(config, RESOURCE)
