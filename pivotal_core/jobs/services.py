"""Jobs: queueing after commit, status and progress written in short transactions of their own
so the UI and API see them while the work runs."""

from __future__ import annotations

import os
import socket
import time
import traceback
from datetime import timedelta
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
        job.worker = this_worker()
        job.error = None
        job.updated_at = utcnow()
    return True


def _host() -> str:
    """This host's name, with its process id namespace where there is one (two containers
    may share a name, never a namespace)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").removeprefix("pid:")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()[:80]}{namespace}"


def this_worker() -> str:
    """``<host>:<process id>`` of this process, as :func:`start` records it on a job."""
    return f"{_host()}:{os.getpid()}"


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def reap_stopped(session: Session, stale_after: timedelta) -> list[int]:
    """Mark failed the running jobs whose worker stopped without saying so (killed, the
    machine restarted): those started by a process of this host that is gone, and those of
    other hosts that wrote nothing for ``stale_after`` where progress is written as a job
    goes (not on SQLite, whose jobs write it at their end). Returns their ids."""
    host = _host()
    now = utcnow()
    watch_time = session.get_bind().dialect.name != "sqlite"
    stopped: list[tuple[int, str]] = []
    for job_id, worker, updated_at in session.execute(
        select(Job.id, Job.worker, Job.updated_at).where(Job.status == "running")
    ):
        name, _, pid = (worker or "").rpartition(":")
        if name == host and pid.isdigit():
            # A worker of this host: its process tells, however long it has been quiet.
            if not _alive(pid):
                stopped.append((job_id, f"its worker ({worker}) stopped while running it"))
        elif watch_time and updated_at < now - stale_after:
            minutes = int(stale_after.total_seconds() // 60)
            stopped.append(
                (job_id, f"its worker ({worker or 'unknown'}) gave no sign for {minutes} minutes")
            )
    for job_id, reason in stopped:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "running")
            .values(status="failed", error=reason, finished_at=now, updated_at=now)
        )
    return [job_id for job_id, _ in stopped]


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
