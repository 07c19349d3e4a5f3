"""Jobs: queueing after commit, status and progress written in short transactions of their own
so the UI and API see them while the work runs."""

from __future__ import annotations

import time
import traceback
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from pivotal_core.db import utcnow
from pivotal_core.errors import NotFound
from pivotal_core.jobs.models import Job


def enqueue(
    session: Session,
    task: Any,
    kind: str,
    params: dict[str, Any],
    *,
    created_by_id: int | None = None,
    total: int | None = None,
) -> Job:
    """Create a queued job in ``session`` and send ``task`` once the transaction commits.

    Nothing is sent if the transaction aborts, so a worker never sees a job whose row
    does not exist.
    """
    job = Job(
        kind=kind,
        status="queued",
        params=params,
        created_by_id=created_by_id,
        progress_total=total,
        progress_current=0,
        attempts=0,
    )
    session.add(job)
    session.flush()
    job_id = job.id
    manager = session.info.get("transaction_manager")
    if manager is None:
        raise RuntimeError("enqueue needs a session joined to a transaction manager")

    def send(committed: bool) -> None:
        if committed:
            task(job_id, params)

    manager.get().addAfterCommitHook(send)
    return job


def _write(factory: sessionmaker[Session], job_id: int, **values: Any) -> None:
    with factory() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow(), **values))


def start(factory: sessionmaker[Session], job_id: int) -> bool:
    """Mark the job running; False when it already succeeded or does not exist."""
    with factory() as session, session.begin():
        job = session.get(Job, job_id, with_for_update=session.get_bind().dialect.name != "sqlite")
        if job is None or job.status == "succeeded":
            return False
        job.status = "running"
        job.attempts = (job.attempts or 0) + 1
        job.started_at = job.started_at or utcnow()
        job.error = None
        job.updated_at = utcnow()
    return True


def succeed(factory: sessionmaker[Session], job_id: int, result: dict[str, Any]) -> None:
    with factory() as session, session.begin():
        job = session.get(Job, job_id)
        if job is None:
            return
        job.status = "succeeded"
        job.result = result
        job.finished_at = utcnow()
        if job.progress_total is not None:
            job.progress_current = job.progress_total
        job.updated_at = utcnow()


def fail(factory: sessionmaker[Session], job_id: int, exc: BaseException, *, final: bool) -> None:
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    values: dict[str, Any] = {"error": detail[:4000]}
    if final:
        values.update(status="failed", finished_at=utcnow())
    else:
        values.update(status="queued", message="retrying after an error")
    _write(factory, job_id, **values)


class Progress:
    """Reports progress of one job; writes at most every ``interval`` seconds.

    Progress is written in short transactions of its own so it shows while the job runs.
    SQLite allows one writer at a time, and the job's own transaction holds that lock, so
    there progress is written in the job's transaction (``share``) and shows at its end.
    """

    def __init__(self, factory: sessionmaker[Session], job_id: int, interval: float = 0.5):
        self.factory = factory
        self.job_id = job_id
        self.interval = interval
        self._last = 0.0
        self._shared: Session | None = None

    def share(self, session: Session) -> None:
        """Write through ``session`` when its database serialises writers (SQLite)."""
        if session.get_bind().dialect.name == "sqlite":
            self._shared = session

    def __call__(
        self,
        current: int,
        total: int | None = None,
        message: str | None = None,
        force: bool = False,
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        values: dict[str, Any] = {"progress_current": current}
        if total is not None:
            values["progress_total"] = total
        if message is not None:
            values["message"] = message[:500]
        if self._shared is not None:
            self._shared.execute(
                update(Job).where(Job.id == self.job_id).values(updated_at=utcnow(), **values)
            )
        else:
            _write(self.factory, self.job_id, **values)


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    return job


def recent_jobs(session: Session, limit: int = 50, status: str | None = None) -> list[Job]:
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(Job.status == status)
    return list(session.scalars(stmt))
