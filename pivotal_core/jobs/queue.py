"""huey from settings, and tasks that run in their own transaction and report progress.

``huey.url``: ``sqlite:///var/huey.sqlite`` (embedded default), ``redis://host:6379/0``
(production; many consumers share it) or ``memory://`` (tests, with ``huey.immediate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from sqlalchemy.orm import Session, sessionmaker

from pivotal_core.db import new_transaction_manager, tm_session
from pivotal_core.jobs import services


class SettingsProblem(ValueError):
    pass


@dataclass
class TaskContext:
    """What tasks need from the application; attached to the huey instance at start-up."""

    registry: Any

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self.registry["dbsession_factory"]

    @property
    def settings(self) -> dict[str, Any]:
        return self.registry.settings

    @property
    def hooks(self) -> Any:
        return self.registry.pivotal_hooks.hook


def make_huey(settings: dict[str, Any]) -> Huey:
    url = str(settings["huey.url"])
    name = settings.get("huey.name", "pivotal")
    immediate = bool(settings.get("huey.immediate", False))
    if url.startswith("memory:"):
        return MemoryHuey(name, immediate=immediate)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), immediate=immediate)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, immediate=immediate)
    raise SettingsProblem(
        f"huey.url {url!r}: use sqlite:///PATH, redis://HOST:PORT/DB or memory://"
    )


# A consumer of a queue that cannot block (SQLite) polls it, sleeping longer after each
# empty poll; huey's own ceiling (10 s) would leave a job queued that long after a quiet
# spell. Reading an embedded SQLite file once a second per worker thread costs nothing.
POLL_MAX_DELAY = 1.0


def create_consumer(huey: Huey, workers: int) -> Any:
    """The job consumer of ``huey`` with ``workers`` threads (``pivotal worker`` and
    ``pivotal serve``): a queue it polls is asked at least every :data:`POLL_MAX_DELAY`
    seconds, so a job starts within about a second of being queued; Redis hands a job
    over as soon as it is queued anyway (a blocking read)."""
    options: dict[str, Any] = {"workers": workers, "worker_type": "thread"}
    if not huey.storage.blocking:
        options["max_delay"] = POLL_MAX_DELAY
    return huey.create_consumer(**options)


def task_context(huey: Huey) -> TaskContext:
    context = getattr(huey, "pivotal_context", None)
    if context is None:
        raise RuntimeError("huey has no Pivotal context: build it with pivotal_core's app factory")
    return context


JobFunction = Callable[..., dict[str, Any] | None]


def register_task(
    huey: Huey,
    name: str,
    function: JobFunction,
    *,
    retries: int = 3,
    retry_delay: int = 10,
) -> Any:
    """Register ``function(session, progress, **params)`` as the huey task ``name``.

    The task runs the function inside its own transaction, against a ``jobs`` row
    (``job_id``) whose status and progress it keeps current. A job that already
    succeeded is never run again, so a redelivered message does no work twice. On an
    error the transaction is rolled back and the task retried with growing delay; the
    last failure marks the job failed.
    """

    # The parameters travel as one dict: as keyword arguments, names huey reserves for its
    # own options (id, priority, timeout, delay, expires, retries, task) would be taken.
    def run(
        job_id: int, params: dict[str, Any] | None = None, task: Any = None
    ) -> dict[str, Any] | None:
        context = task_context(huey)
        factory = context.session_factory
        if not services.start(factory, job_id):
            return None
        progress = services.Progress(factory, job_id)
        manager = new_transaction_manager()
        try:
            with manager:
                session = tm_session(factory, manager)
                session.info["pivotal.hooks"] = context.hooks
                progress.share(session)
                result = function(session, progress, **(params or {}))
        except Exception as exc:
            # Recorded on the job, then re-raised so that huey retries it with backoff.
            services.fail(factory, job_id, exc, final=not task or not task.retries)
            raise
        services.succeed(factory, job_id, result or {})
        return result

    run.__name__ = name.replace(".", "_")
    tasks = huey.__dict__.setdefault("pivotal_tasks", {})
    tasks[name] = huey.task(
        retries=retries, retry_delay=retry_delay, retry_backoff=2, name=name, context=True
    )(run)
    return tasks[name]


def register_periodic(
    huey: Huey, name: str, schedule: Callable[..., bool], work: Callable[[Session], Any]
) -> Any:
    """Run ``work(session)`` on ``schedule`` (a huey ``crontab``) in a transaction of its
    own, with the plugins' hooks on the session; found by ``name`` like the tasks of
    :func:`register_task`, so tests and the CLI can run it on demand. No job row: a
    periodic task is housekeeping, logged by what it does."""

    def periodic() -> Any:
        context = task_context(huey)
        manager = new_transaction_manager()
        with manager:
            session = tm_session(context.session_factory, manager)
            session.info["pivotal.hooks"] = context.hooks
            return work(session)

    periodic.__name__ = name.replace(".", "_")
    task = huey.periodic_task(schedule, name=name)(periodic)
    huey.__dict__.setdefault("pivotal_tasks", {})[name] = task
    return task


def registered_task(huey: Huey, name: str) -> Any:
    """The task registered as ``name`` with :func:`register_task` (for enqueueing it)."""
    try:
        return huey.pivotal_tasks[name]
    except (AttributeError, KeyError) as exc:
        raise LookupError(f"no task {name!r} is registered on this queue") from exc
