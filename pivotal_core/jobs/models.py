"""Jobs: background work and its progress, shown by the UI and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, TimestampMixin

JOB_STATES = ("queued", "running", "succeeded", "failed")


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"

    kind: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress_current: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str | None] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None]
    # Who runs it: "<host>:<process id>" of the worker that started it last.
    worker: Mapped[str | None] = mapped_column(String(120))
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    @property
    def percent(self) -> float | None:
        if not self.progress_total:
            return None
        return round(100.0 * self.progress_current / self.progress_total, 1)
