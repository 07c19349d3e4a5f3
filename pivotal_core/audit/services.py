"""Recording and reading audit events: one event per changed field, written in batches.

A record's creation is one event for the whole record: its ``field`` is :data:`RECORD`
and its ``new_value`` the object of the values the record was created with. A million-row
import then writes a million creation events, not one per field of every row, and the
trail still says field by field what each record started with (:func:`field_changes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from pivotal_core.audit.models import AuditEvent
from pivotal_core.db import utcnow


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through what: every service write takes one."""

    user_id: int | None
    source: str
    request_id: str | None = None
    job_id: int | None = None
    batch_id: int | None = None
    user: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def system(cls, source: str = "system", job_id: int | None = None) -> Actor:
        return cls(user_id=None, source=source, job_id=job_id)


def audit_value(value: Any) -> Any:
    """A JSON-safe copy of a field value for the audit trail."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [audit_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): audit_value(v) for k, v in value.items()}
    return value


# The ``field`` of an event about the whole record (its creation).
RECORD = "*"


def event_rows(action: str, changes: Mapping[str, tuple[Any, Any]]) -> list[tuple[str, Any, Any]]:
    """``(field, old, new)`` of the events a change writes, JSON-safe: one per changed
    field, or for a creation one about the whole record."""
    if action == "create":
        values = {name: audit_value(new) for name, (_, new) in sorted(changes.items())}
        return [(RECORD, None, values)] if values else []
    return [
        (name, audit_value(old), audit_value(new)) for name, (old, new) in sorted(changes.items())
    ]


def field_changes(event: Any) -> list[tuple[str, Any, Any]]:
    """``(field, old, new)`` for each field an event changed: a creation event gives one
    entry per value the record was created with."""
    if event.field == RECORD and isinstance(event.new_value, dict):
        return [(name, None, value) for name, value in sorted(event.new_value.items())]
    return [(event.field, event.old_value, event.new_value)]


class AuditBuffer:
    """Collects audit rows and writes them with one multi-row INSERT per batch."""

    def __init__(self, session: Session, actor: Actor, batch_size: int = 5000) -> None:
        self.session = session
        self.actor = actor
        self.batch_size = batch_size
        self.rows: list[dict[str, Any]] = []
        self.written = 0

    def add(
        self,
        entity: str,
        entity_id: int,
        action: str,
        changes: Mapping[str, tuple[Any, Any]],
        at: datetime | None = None,
    ) -> None:
        """Queue the events of a change (see :func:`event_rows`); ``at`` dates them
        (default: now)."""
        now = at or utcnow()
        for name, old, new in event_rows(action, changes):
            self.rows.append(
                {
                    "entity": entity,
                    "entity_id": entity_id,
                    "action": action,
                    "field": name,
                    "old_value": old,
                    "new_value": new,
                    "actor_id": self.actor.user_id,
                    "source": self.actor.source,
                    "request_id": self.actor.request_id,
                    "job_id": self.actor.job_id,
                    "batch_id": self.actor.batch_id,
                    "created_at": now,
                }
            )
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            # A Core INSERT on the table: about a third less CPU than the ORM's bulk path.
            self.session.execute(insert(AuditEvent.__table__), self.rows)
            self.written += len(self.rows)
            self.rows = []


def record_changes(
    session: Session,
    actor: Actor,
    entity: str,
    entity_id: int,
    action: str,
    changes: Mapping[str, tuple[Any, Any]],
) -> None:
    """Write the audit events of a change to one record (one per changed field; one for
    a creation)."""
    buffer = AuditBuffer(session, actor)
    buffer.add(entity, entity_id, action, changes)
    buffer.flush()


def record_history(
    session: Session,
    entity: str,
    entity_id: int,
    *,
    limit: int = 50,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Audit events of one record, newest first, keyset-paged by event id."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(session.scalars(stmt))


def diff_fields(
    before: Mapping[str, Any], after: Mapping[str, Any], names: Iterable[str]
) -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` for the names whose value differs."""
    return {
        name: (before.get(name), after.get(name))
        for name in names
        if before.get(name) != after.get(name)
    }
