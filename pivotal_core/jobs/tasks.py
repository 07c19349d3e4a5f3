"""Core housekeeping tasks."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab
from sqlalchemy import delete

from pivotal_core.authnz.models import LoginFailure, RefreshToken
from pivotal_core.db import utcnow
from pivotal_core.jobs.queue import register_periodic, task_context
from pivotal_core.jobs.services import reap_stopped

log = logging.getLogger(__name__)
REAP_TASK = "jobs.reap_stopped"


def prune_auth_records(session, window_seconds: int) -> dict[str, int]:
    """Delete login failures older than the throttle window and long-expired refresh tokens."""
    now = utcnow()
    failures = session.execute(
        delete(LoginFailure).where(LoginFailure.failed_at < now - timedelta(seconds=window_seconds))
    ).rowcount
    tokens = session.execute(
        delete(RefreshToken).where(RefreshToken.expires_at < now - timedelta(days=1))
    ).rowcount
    return {"login_failures": failures, "refresh_tokens": tokens}


def register(huey) -> None:
    def prune(session) -> dict[str, int]:
        return prune_auth_records(session, int(task_context(huey).settings["auth.login_window"]))

    register_periodic(huey, "core.prune_auth_records", crontab(minute="*/15"), prune)

    def reap(session) -> list[int]:
        minutes = int(task_context(huey).settings["jobs.stale_after_minutes"])
        stopped = reap_stopped(session, timedelta(minutes=minutes))
        if stopped:
            log.warning("jobs marked failed, their worker stopped: %s", stopped)
        return stopped

    task = register_periodic(huey, REAP_TASK, crontab(minute="*/5"), reap)

    @huey.on_startup(name=REAP_TASK)
    def reap_on_startup() -> None:
        # A consumer starting again on this host finds at once what its last run left.
        task.call_local()
