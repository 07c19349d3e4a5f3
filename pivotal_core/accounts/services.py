"""Accounts: create, update, soft delete, restore, hierarchy; every write audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from pivotal_core.accounts.models import Account
from pivotal_core.audit.services import Actor
from pivotal_core.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from pivotal_core.normalize import (
    NormalizationError,
    company_match_key,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_linkedin_url,
    normalize_phone,
    normalize_tags,
    normalize_text,
)
from pivotal_core.records import (
    apply_changes,
    clean_custom_fields,
    clean_fields,
    resolve_redirect,
    restore,
    soft_delete,
)

ENTITY = "account"
MAX_HIERARCHY_DEPTH = 50

EDITABLE_FIELDS = (
    "name",
    "domain",
    "secondary_domains",
    "parent_id",
    "industry",
    "employee_count",
    "annual_revenue",
    "phone",
    "linkedin_url",
    "description",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "technologies",
    "tags",
    "custom_fields",
)


def _text(limit: int):
    return lambda value: normalize_text(value, limit)


def _domains(values: Iterable[str]) -> list[str]:
    result: list[str] = []
    for position, value in enumerate(values):
        try:
            domain = normalize_domain(value)
        except NormalizationError as exc:
            raise ValidationFailed({f"[{position}]": f"{value!r} {exc.message}"}) from exc
        if domain and domain not in result:
            result.append(domain)
    return sorted(result)


def _technologies(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        text = normalize_text(value, 100)
        if text and text.lower() not in seen:
            seen[text.lower()] = text
    return sorted(seen.values(), key=str.lower)


def _non_negative(value: int) -> int:
    if value < 0:
        raise NormalizationError("must not be negative")
    return value


def _company_name(value: str) -> str | None:
    name = normalize_company_name(value)
    if name and len(name) > 200:
        raise NormalizationError("must be at most 200 characters")
    return name


def cleaners(default_region: str) -> dict[str, Any]:
    return {
        "name": _company_name,
        "domain": normalize_domain,
        "secondary_domains": _domains,
        "industry": _text(100),
        "employee_count": _non_negative,
        "annual_revenue": _non_negative,
        "phone": lambda v: normalize_phone(v, default_region),
        "linkedin_url": normalize_linkedin_url,
        "description": _text(5000),
        "street": _text(200),
        "city": _text(100),
        "region": _text(100),
        "postal_code": _text(20),
        "country": normalize_country,
        "technologies": _technologies,
        "tags": normalize_tags,
    }


def get_account(session: Session, account_id: int, *, include_deleted: bool = False) -> Account:
    """The account ``account_id``; the id of a merged account gives the one it was merged into."""
    account = session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        account = resolve_redirect(session, Account, ENTITY, account_id)
        if account is None or (account.deleted_at is not None and not include_deleted):
            raise NotFound(f"Account {account_id} not found")
    return account


def find_account_by_domain(session: Session, domain: str) -> Account | None:
    """The live account whose primary or secondary domain is ``domain``."""
    account = session.scalars(select(Account).where(Account.domain == domain)).first()
    if account is not None:
        return account
    return session.scalars(
        select(Account).where(_has_secondary_domain(session, [domain])).limit(1)
    ).first()


def _has_secondary_domain(session: Session, domains: list[str]):
    if session.get_bind().dialect.name == "postgresql":
        # The column's Python-side type is the generic JSON (JSONB only as a variant), which
        # has no containment operator; coerce it so ``contains`` renders as JSONB ``@>``.
        column = type_coerce(Account.secondary_domains, JSONB)
        return or_(*(column.contains([d]) for d in domains))
    each = func.json_each(Account.secondary_domains).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value.in_(domains)))


def _ensure_domains_free(
    session: Session, domains: list[str], exclude_id: int | None, field: str
) -> None:
    if not domains:
        return
    stmt = select(Account.id, Account.name, Account.domain).where(
        or_(Account.domain.in_(domains), _has_secondary_domain(session, domains))
    )
    if exclude_id is not None:
        stmt = stmt.where(Account.id != exclude_id)
    clash = session.execute(stmt.limit(1)).first()
    if clash is not None:
        raise Conflict(
            f"Domain already belongs to account {clash.id} ({clash.name})",
            {field: f"already belongs to account {clash.id} ({clash.name})"},
        )


def _check_parent(session: Session, account_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    if parent_id == account_id:
        raise Unprocessable(
            "An account cannot be its own parent", {"parent_id": "cannot be the account itself"}
        )
    parent = session.get(Account, parent_id)
    if parent is None or parent.deleted_at is not None:
        raise ValidationFailed({"parent_id": f"account {parent_id} does not exist"})
    if account_id is None:
        return
    # Walk up from the proposed parent; meeting the account itself would close a cycle.
    seen = {parent_id}
    current = parent.parent_id
    for _ in range(MAX_HIERARCHY_DEPTH):
        if current is None:
            return
        if current == account_id:
            raise Unprocessable(
                f"Account {parent_id} is below account {account_id}; making it the parent "
                "would create a cycle",
                {"parent_id": f"account {parent_id} is a descendant of this account"},
            )
        if current in seen:
            return
        seen.add(current)
        current = session.scalar(select(Account.parent_id).where(Account.id == current))
    raise Unprocessable(
        "Account hierarchy is too deep",
        {"parent_id": f"hierarchy deeper than {MAX_HIERARCHY_DEPTH} levels"},
    )


def _prepare(
    session: Session, values: dict[str, Any], default_region: str, account: Account | None
) -> dict[str, Any]:
    custom = values.pop("custom_fields", None)
    cleaned = clean_fields(values, cleaners(default_region))
    if custom is not None:
        cleaned["custom_fields"] = clean_custom_fields(session, ENTITY, custom)
    if "name" in cleaned and not cleaned["name"]:
        raise ValidationFailed({"name": "is required"})
    account_id = account.id if account is not None else None
    primary = cleaned.get("domain", account.domain if account else None)
    if "secondary_domains" in cleaned:
        cleaned["secondary_domains"] = [d for d in cleaned["secondary_domains"] if d != primary]
    if cleaned.get("domain"):
        _ensure_domains_free(session, [cleaned["domain"]], account_id, "domain")
    if cleaned.get("secondary_domains"):
        _ensure_domains_free(session, cleaned["secondary_domains"], account_id, "secondary_domains")
    if "parent_id" in cleaned:
        _check_parent(session, account_id, cleaned["parent_id"])
    if "name" in cleaned:
        cleaned["name_key"] = company_match_key(cleaned["name"]) or ""
    return cleaned


def create_account(
    session: Session, actor: Actor, values: dict[str, Any], *, default_region: str = "US"
) -> Account:
    if not values.get("name"):
        raise ValidationFailed({"name": "is required"})
    present = {k: v for k, v in values.items() if v is not None}
    cleaned = _prepare(session, present, default_region, None)
    account = Account(
        name_key=cleaned.pop("name_key"),
        secondary_domains=[],
        technologies=[],
        tags=[],
        custom_fields={},
        field_provenance={},
    )
    session.add(account)
    apply_changes(session, actor, ENTITY, account, cleaned, "create")
    return account


def update_account(
    session: Session,
    actor: Actor,
    account: Account,
    values: dict[str, Any],
    *,
    default_region: str = "US",
) -> dict[str, tuple[Any, Any]]:
    cleaned = _prepare(session, dict(values), default_region, account)
    name_key = cleaned.pop("name_key", None)
    if name_key is not None:
        account.name_key = name_key
    return apply_changes(session, actor, ENTITY, account, cleaned)


# Each belongs to one account: a bulk edit, which gives every account the same value,
# may not set them.
UNIQUE_FIELDS = ("domain", "secondary_domains")
# Set with the values but not audited: derived from them (the name's match key).
DERIVED_FIELDS = ("name_key",)


def prepare_changes(
    session: Session, values: dict[str, Any], *, default_region: str = "US"
) -> dict[str, Any]:
    """``values`` for many accounts at once (a bulk edit), cleaned and checked once as
    update_account does (with ``name_key`` derived from a new name); each account is then
    checked with :func:`check_changes`. Fields that belong to one account
    (:data:`UNIQUE_FIELDS`) are refused."""
    refused = {
        name: "belongs to one account; change it on the account's page"
        for name in UNIQUE_FIELDS
        if name in values
    }
    if refused:
        raise ValidationFailed(refused)
    return _prepare(session, dict(values), default_region, None)


def check_changes(session: Session, account: Account, cleaned: dict[str, Any]) -> None:
    """The rule about the account itself an update must keep: a new parent may not be the
    account or one of its descendants."""
    if "parent_id" in cleaned:
        _check_parent(session, account.id, cleaned["parent_id"])


def delete_account(session: Session, actor: Actor, account: Account) -> None:
    soft_delete(session, actor, ENTITY, account)


def restore_account(session: Session, actor: Actor, account: Account) -> None:
    # Any of its domains may have gone to another account, as primary or secondary.
    for domain in [account.domain, *(account.secondary_domains or [])]:
        if not domain:
            continue
        clash = session.scalars(
            select(Account).where(
                or_(Account.domain == domain, _has_secondary_domain(session, [domain])),
                Account.id != account.id,
            )
        ).first()
        if clash is not None:
            field = "domain" if domain == account.domain else "secondary_domains"
            raise Conflict(
                f"Cannot restore: domain {domain} now belongs to account {clash.id}",
                {field: f"now belongs to account {clash.id} ({clash.name})"},
            )
    restore(session, actor, ENTITY, account)


def account_children(session: Session, account_id: int) -> list[Account]:
    return list(
        session.scalars(
            select(Account).where(Account.parent_id == account_id).order_by(Account.name)
        )
    )


def account_ancestors(session: Session, account: Account) -> list[Account]:
    """Parent, grandparent, ... (nearest first)."""
    chain: list[Account] = []
    current = account.parent_id
    seen = {account.id}
    while current is not None and current not in seen and len(chain) < MAX_HIERARCHY_DEPTH:
        seen.add(current)
        parent = session.get(Account, current)
        if parent is None:
            break
        chain.append(parent)
        current = parent.parent_id
    return chain
