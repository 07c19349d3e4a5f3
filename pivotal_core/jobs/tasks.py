"""Core housekeeping tasks."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab
from sqlalchemy import delete

from pivotal_core.authnz.models import LoginFailure, RefreshToken
from pivotal_core.db import new_transaction_manager, tm_session, utcnow
from pivotal_core.jobs.queue import task_context


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
    @huey.periodic_task(crontab(minute="*/15"), name="core.prune_auth_records")
    def prune_auth_records_task() -> dict[str, int]:
        context = task_context(huey)
        manager = new_transaction_manager()
        with manager:
            session = tm_session(context.session_factory, manager)
            return prune_auth_records(session, int(context.settings["auth.login_window"]))
