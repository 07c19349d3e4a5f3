"""Audit events: one row per changed field of a business record (one per creation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, utcnow


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"

    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(BigInteger)
    # create, update, delete, restore, merge, erase, ...
    action: Mapped[str] = mapped_column(String(20))
    # The changed field; "*" for a creation, whose new_value holds every initial value.
    field: Mapped[str] = mapped_column(String(100))
    old_value: Mapped[Any | None] = mapped_column(JSONValue)
    new_value: Mapped[Any | None] = mapped_column(JSONValue)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    # api, ui, cli, import:<source>, job, system
    source: Mapped[str] = mapped_column(String(120))
    request_id: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    # The import batch that made the change (undo finds its changes by this).
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_audit_events_entity_entity_id_id", "entity", "entity_id", "id"),
        Index("ix_audit_events_job_id", "job_id"),
        Index("ix_audit_events_batch_id", "batch_id"),
    )
