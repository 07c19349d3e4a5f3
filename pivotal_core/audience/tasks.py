"""The periodic recount of active segments (``recordCountCache``)."""

from __future__ import annotations

from typing import Any

from huey import crontab

from pivotal_core.audience.services import refresh_active_segments
from pivotal_core.db import new_transaction_manager, tm_session
from pivotal_core.jobs.queue import task_context

REFRESH_TASK = "audience.refresh_segment_counts"


def register(huey: Any) -> None:
    @huey.periodic_task(crontab(minute="*/15"), name=REFRESH_TASK)
    def refresh_segment_counts() -> dict[str, int]:
        context = task_context(huey)
        manager = new_transaction_manager()
        with manager:
            session = tm_session(context.session_factory, manager)
            session.info["pivotal.hooks"] = context.hooks
            return refresh_active_segments(session)

    # Found by name like the tasks of register_task (tests and the CLI run it on demand).
    huey.__dict__.setdefault("pivotal_tasks", {})[REFRESH_TASK] = refresh_segment_counts
