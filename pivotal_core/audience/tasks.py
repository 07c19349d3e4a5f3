"""The periodic recount of active segments (``recordCountCache``)."""

from __future__ import annotations

from typing import Any

from huey import crontab

from pivotal_core.audience.services import refresh_active_segments
from pivotal_core.jobs.queue import register_periodic

REFRESH_TASK = "audience.refresh_segment_counts"


def register(huey: Any) -> None:
    register_periodic(huey, REFRESH_TASK, crontab(minute="*/15"), refresh_active_segments)
