"""What accounts and contacts share: applying field changes with provenance and audit,
soft delete and restore, custom field values, and the change broadcast to plugins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor, audit_value, record_changes
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.db import utcnow
from pivotal_core.errors import NotFound, ValidationFailed
from pivotal_core.normalize import NormalizationError

# Sources of values a person chose: the API, the staff UI and bulk edits of many records.
MANUAL_SOURCES = ("api", "ui", "bulk")


LIST_FIELDS = frozenset({"tags", "technologies", "secondary_domains"})


def clean_fields(
    values: Mapping[str, Any], cleaners: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    """Run each value through its cleaner; collect every failure under its field name.

    ``None`` clears a field (an empty list for list fields).
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():
        if value is None and name in LIST_FIELDS:
            cleaned[name] = []
            continue
        cleaner = cleaners.get(name)
        if cleaner is None:
            cleaned[name] = value
            continue
        try:
            cleaned[name] = cleaner(value) if value is not None else None
        except NormalizationError as exc:
            errors[name] = exc.message
        except ValidationFailed as exc:
            errors.update({_nested(name, k): v for k, v in exc.fields.items()})
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _nested(name: str, key: str) -> str:
    """``secondary_domains`` + ``[1]`` -> ``secondary_domains[1]``; ``a`` + ``b`` -> ``a.b``."""
    if key == name:
        return key
    return f"{name}{key}" if key.startswith("[") else f"{name}.{key}"


def provenance_entry(actor: Actor, at: dt.datetime, batch: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": actor.source, "at": at.isoformat()}
    if actor.user_id is not None:
        entry["actor_id"] = actor.user_id
    if batch is not None:
        entry["batch"] = batch
    if actor.job_id is not None:
        entry["job_id"] = actor.job_id
    if actor.source in MANUAL_SOURCES:
        # A person typed this value: imports will not overwrite it unless told to.
        entry["manual"] = True
    return entry


def stage_changes(
    actor: Actor, record: Any, values: Mapping[str, Any], at: dt.datetime
) -> dict[str, tuple[Any, Any]]:
    """Set ``values`` on ``record`` with their provenance, in memory only: the caller
    flushes and writes the audit events (one per changed field). Returns
    ``{field: (old, new)}``; custom field values are compared per key, as
    ``custom_fields.<key>``."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, new in values.items():
        if name == "custom_fields":
            current = dict(record.custom_fields or {})
            for key, value in new.items():
                if current.get(key) != value:
                    changes[f"custom_fields.{key}"] = (current.get(key), value)
                    if value is None:
                        current.pop(key, None)
                    else:
                        current[key] = value
            record.custom_fields = current
            continue
        old = getattr(record, name)
        if old != new:
            changes[name] = (old, new)
            setattr(record, name, new)
    if not changes:
        return changes
    provenance = dict(record.field_provenance or {})
    entry = provenance_entry(actor, at)
    for name in changes:
        provenance[name] = entry
    record.field_provenance = provenance
    record.updated_at = at
    return changes


def apply_changes(
    session: Session,
    actor: Actor,
    entity: str,
    record: Any,
    values: Mapping[str, Any],
    action: str = "update",
) -> dict[str, tuple[Any, Any]]:
    """Set ``values`` on ``record``; write provenance and one audit event per changed field.

    Custom field values arrive as ``custom_fields`` and are audited per key as
    ``custom_fields.<key>``. Returns ``{field: (old, new)}``.
    """
    changes = stage_changes(actor, record, values, utcnow())
    if not changes:
        return changes
    session.flush()
    record_changes(session, actor, entity, record.id, action, changes)
    notify_record_changed(session, entity, record, changes, actor, action)
    return changes


def notify_record_changed(
    session: Session,
    entity: str,
    record: Any,
    changes: Mapping[str, tuple[Any, Any]],
    actor: Actor,
    action: str,
) -> None:
    hooks = session.info.get("pivotal.hooks")
    if hooks is not None:
        hooks.pivotal_record_changed(
            entity=entity, record=record, changes=changes, actor=actor, action=action
        )


def get_live_or_deleted(session: Session, model: type, record_id: int, entity: str) -> Any:
    record = session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).first()
    if record is None:
        raise NotFound(f"{entity.capitalize()} {record_id} not found")
    return record


MAX_REDIRECT_HOPS = 20


def resolve_redirect(session: Session, model: type, entity: str, record_id: int) -> Any | None:
    """The record ``record_id`` (deleted ones too) or, when it was merged into another,
    the record it lives on as (following ``record_redirects``); None if there is none."""
    from pivotal_core.dataquality.models import RecordRedirect

    record = session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).first()
    for _ in range(MAX_REDIRECT_HOPS):
        if record is None or record.deleted_at is None or record.merged_into_id is None:
            break
        new_id = session.scalar(
            select(RecordRedirect.new_id).where(
                RecordRedirect.entity == entity, RecordRedirect.old_id == record.id
            )
        )
        if new_id is None:
            break
        record = session.scalars(
            select(model).where(model.id == new_id).execution_options(include_deleted=True)
        ).first()
    return record


def soft_delete(session: Session, actor: Actor, entity: str, record: Any) -> None:
    if record.deleted_at is not None:
        return
    now = utcnow()
    record.deleted_at = now
    session.flush()
    changes = {"deleted_at": (None, now)}
    record_changes(session, actor, entity, record.id, "delete", changes)
    notify_record_changed(session, entity, record, changes, actor, "delete")


def restore(session: Session, actor: Actor, entity: str, record: Any) -> None:
    old = record.deleted_at
    if old is None:
        return
    record.deleted_at = None
    session.flush()
    changes = {"deleted_at": (old, None)}
    record_changes(session, actor, entity, record.id, "restore", changes)
    notify_record_changed(session, entity, record, changes, actor, "restore")


# ---------------------------------------------------------------- custom fields


def custom_field_definitions(session: Session, entity: str) -> dict[str, CustomFieldDefinition]:
    rows = session.scalars(
        select(CustomFieldDefinition).where(CustomFieldDefinition.entity == entity)
    )
    return {row.key: row for row in rows}


def check_custom_value(definition: CustomFieldDefinition, value: Any) -> Any:
    kind = definition.type
    if value is None:
        return None
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if len(value) > 1000:
            raise ValueError("must be at most 1000 characters")
        return value.strip() or None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("must be a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError("must be a date (YYYY-MM-DD)") from exc
    if kind == "enum":
        if value not in definition.options:
            raise ValueError(f"must be one of {', '.join(map(str, definition.options))}")
        return value
    if kind == "tags":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        return sorted({v.strip().lower() for v in value if v.strip()})
    raise ValueError(f"has unsupported type {kind}")


def clean_custom_fields(session: Session, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check custom field values against their definitions; errors name ``custom_fields.<key>``."""
    definitions = custom_field_definitions(session, entity)
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[f"custom_fields.{key}"] = "is not a defined custom field"
            continue
        try:
            cleaned[key] = check_custom_value(definition, value)
        except ValueError as exc:
            errors[f"custom_fields.{key}"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def dump_value(value: Any) -> Any:
    return audit_value(value)


def unique_sorted(values: Iterable[str]) -> list[str]:
    return sorted({v for v in values if v})
