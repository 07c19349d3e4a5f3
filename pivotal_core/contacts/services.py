"""Contacts: create, update, soft delete, restore, secondary identifiers; every write audited."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.services import find_account_by_domain
from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.contacts.models import SENIORITIES, Contact, ContactIdentifier
from pivotal_core.errors import Conflict, NotFound, ValidationFailed
from pivotal_core.normalize import (
    NormalizationError,
    email_domain,
    normalize_country,
    normalize_email,
    normalize_linkedin_url,
    normalize_name,
    normalize_phone,
    normalize_tags,
    normalize_text,
)
from pivotal_core.records import (
    apply_changes,
    clean_custom_fields,
    clean_fields,
    notify_record_changed,
    resolve_redirect,
    restore,
    soft_delete,
)

ENTITY = "contact"

EDITABLE_FIELDS = (
    "account_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "title",
    "seniority",
    "department",
    "linkedin_url",
    "city",
    "region",
    "postal_code",
    "country",
    "timezone",
    "tags",
    "custom_fields",
)

# A contact needs at least one of these.
IDENTIFYING_FIELDS = ("email", "first_name", "last_name")
# Each belongs to one contact: a bulk edit, which gives every contact the same value,
# may not set them.
UNIQUE_FIELDS = ("email", "external_ids")


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    value = value.strip()
    if value not in _timezones():
        raise NormalizationError("is not a known IANA time zone (e.g. Europe/Berlin)")
    return value


def _seniority(value: str) -> str:
    value = value.strip().lower().replace("-", "_").replace(" ", "_")
    if value not in SENIORITIES:
        raise NormalizationError(f"must be one of {', '.join(SENIORITIES)}")
    return value


def _person_name(value: str) -> str | None:
    name = normalize_name(value)
    if name and len(name) > 100:
        raise NormalizationError("must be at most 100 characters")
    return name


def _text(limit: int):
    return lambda value: normalize_text(value, limit)


def cleaners(default_region: str) -> dict[str, Any]:
    return {
        "first_name": _person_name,
        "last_name": _person_name,
        "email": normalize_email,
        "phone": lambda v: normalize_phone(v, default_region),
        "mobile": lambda v: normalize_phone(v, default_region),
        "title": _text(200),
        "seniority": _seniority,
        "department": _text(100),
        "linkedin_url": normalize_linkedin_url,
        "city": _text(100),
        "region": _text(100),
        "postal_code": _text(20),
        "country": normalize_country,
        "timezone": _timezone,
        "tags": normalize_tags,
    }


def get_contact(session: Session, contact_id: int, *, include_deleted: bool = False) -> Contact:
    """The contact ``contact_id``; the id of a merged contact gives the one it was merged into."""
    contact = session.get(Contact, contact_id)
    if contact is None or contact.deleted_at is not None:
        contact = resolve_redirect(session, Contact, ENTITY, contact_id)
        if contact is None or (contact.deleted_at is not None and not include_deleted):
            raise NotFound(f"Contact {contact_id} not found")
    return contact


def find_contact_by_email(session: Session, email: str) -> Contact | None:
    return session.scalars(select(Contact).where(Contact.email == email)).first()


def _ensure_email_free(session: Session, email: str, exclude_id: int | None) -> None:
    stmt = select(Contact.id).where(Contact.email == email)
    if exclude_id is not None:
        stmt = stmt.where(Contact.id != exclude_id)
    existing = session.scalar(stmt)
    if existing is not None:
        raise Conflict(
            f"A contact with email {email} already exists (contact {existing})",
            {"email": f"is already used by contact {existing}"},
        )


def _check_account(session: Session, account_id: int) -> None:
    account = session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise ValidationFailed({"account_id": f"account {account_id} does not exist"})


def clean_external_ids(values: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for source, value in values.items():
        key = str(source).strip().lower()
        if not key or len(key) > 60:
            errors[f"external_ids.{source}"] = "source name must be 1 to 60 characters"
        elif not isinstance(value, str) or not value.strip() or len(value) > 300:
            errors[f"external_ids.{source}"] = "must be a string of 1 to 300 characters"
        else:
            cleaned[key] = value.strip()
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _prepare(
    session: Session, values: dict[str, Any], default_region: str, contact: Contact | None
) -> tuple[dict[str, Any], dict[str, str] | None]:
    custom = values.pop("custom_fields", None)
    external = values.pop("external_ids", None)
    cleaned = clean_fields(values, cleaners(default_region))
    if custom is not None:
        cleaned["custom_fields"] = clean_custom_fields(session, ENTITY, custom)
    external_ids = clean_external_ids(external) if external is not None else None
    contact_id = contact.id if contact is not None else None
    if "email" in cleaned:
        email = cleaned["email"]
        cleaned["email_domain"] = email_domain(email) if email else None
        if email:
            _ensure_email_free(session, email, contact_id)
    if cleaned.get("account_id") is not None:
        _check_account(session, cleaned["account_id"])
    if external_ids:
        _ensure_identifiers_free(session, external_ids, contact_id)
    return cleaned, external_ids


def _ensure_identifiers_free(
    session: Session, external_ids: dict[str, str], contact_id: int | None
) -> None:
    for source, value in external_ids.items():
        stmt = select(ContactIdentifier.contact_id).where(
            ContactIdentifier.kind == f"external:{source}", ContactIdentifier.value == value
        )
        if contact_id is not None:
            stmt = stmt.where(ContactIdentifier.contact_id != contact_id)
        owner = session.scalar(stmt)
        if owner is not None:
            raise Conflict(
                f"External id {source}={value} already belongs to contact {owner}",
                {f"external_ids.{source}": f"already belongs to contact {owner}"},
            )


def _set_external_ids(
    session: Session, actor: Actor, contact: Contact, external_ids: dict[str, str]
) -> None:
    current = external_ids_of(session, [contact.id]).get(contact.id, {})
    changes: dict[str, tuple[Any, Any]] = {}
    for source, value in external_ids.items():
        if current.get(source) == value:
            continue
        changes[f"external_ids.{source}"] = (current.get(source), value)
        session.execute(
            delete(ContactIdentifier).where(
                ContactIdentifier.contact_id == contact.id,
                ContactIdentifier.kind == f"external:{source}",
            )
        )
        session.add(
            ContactIdentifier(contact_id=contact.id, kind=f"external:{source}", value=value)
        )
    if changes:
        session.flush()
        record_changes(session, actor, ENTITY, contact.id, "update", changes)
        notify_record_changed(session, ENTITY, contact, changes, actor, "update")


def external_ids_of(session: Session, contact_ids: list[int]) -> dict[int, dict[str, str]]:
    result: dict[int, dict[str, str]] = {}
    if not contact_ids:
        return result
    rows = session.execute(
        select(ContactIdentifier.contact_id, ContactIdentifier.kind, ContactIdentifier.value).where(
            ContactIdentifier.contact_id.in_(contact_ids),
            ContactIdentifier.kind.startswith("external:"),
        )
    )
    for contact_id, kind, value in rows:
        result.setdefault(contact_id, {})[kind.split(":", 1)[1]] = value
    return result


def create_contact(
    session: Session, actor: Actor, values: dict[str, Any], *, default_region: str = "US"
) -> Contact:
    present = {k: v for k, v in values.items() if v is not None}
    cleaned, external_ids = _prepare(session, present, default_region, None)
    if not (cleaned.get("email") or cleaned.get("last_name") or cleaned.get("first_name")):
        raise ValidationFailed({"email": "an email or a name is required"})
    if cleaned.get("account_id") is None and cleaned.get("email_domain"):
        # A new contact joins the account that owns its email domain.
        account = find_account_by_domain(session, cleaned["email_domain"])
        if account is not None:
            cleaned["account_id"] = account.id
    contact = Contact(tags=[], custom_fields={}, field_provenance={})
    session.add(contact)
    apply_changes(session, actor, ENTITY, contact, cleaned, "create")
    if external_ids:
        _set_external_ids(session, actor, contact, external_ids)
    return contact


def update_contact(
    session: Session,
    actor: Actor,
    contact: Contact,
    values: dict[str, Any],
    *,
    default_region: str = "US",
) -> dict[str, tuple[Any, Any]]:
    cleaned, external_ids = _prepare(session, dict(values), default_region, contact)
    check_changes(session, contact, cleaned)
    changes = apply_changes(session, actor, ENTITY, contact, cleaned)
    if external_ids:
        _set_external_ids(session, actor, contact, external_ids)
    return changes


def check_changes(session: Session, contact: Contact, cleaned: dict[str, Any]) -> None:
    """The rule about the whole contact an update must keep (create_contact's rule): it
    still has an email or a name."""
    if not any(cleaned.get(name, getattr(contact, name)) for name in IDENTIFYING_FIELDS):
        raise ValidationFailed({"email": "an email or a name is required"})


def prepare_changes(
    session: Session, values: dict[str, Any], *, default_region: str = "US"
) -> dict[str, Any]:
    """``values`` for many contacts at once (a bulk edit), cleaned and checked once as
    update_contact does; each contact is then checked with :func:`check_changes`. Fields
    that belong to one contact (:data:`UNIQUE_FIELDS`) are refused."""
    refused = {
        name: "belongs to one contact; change it on the contact's page"
        for name in UNIQUE_FIELDS
        if name in values
    }
    if refused:
        raise ValidationFailed(refused)
    cleaned, _ = _prepare(session, dict(values), default_region, None)
    return cleaned


def delete_contact(session: Session, actor: Actor, contact: Contact) -> None:
    soft_delete(session, actor, ENTITY, contact)


def restore_contact(session: Session, actor: Actor, contact: Contact) -> None:
    if contact.email:
        clash = session.scalar(
            select(Contact.id).where(Contact.email == contact.email, Contact.id != contact.id)
        )
        if clash is not None:
            raise Conflict(
                f"Cannot restore: email {contact.email} now belongs to contact {clash}",
                {"email": f"now belongs to contact {clash}"},
            )
    restore(session, actor, ENTITY, contact)
