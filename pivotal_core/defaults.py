"""The core's own hook implementations, registered before any plugin and never disabled."""

from __future__ import annotations

from pathlib import Path

from pivotal_core import hookimpl
from pivotal_core.audience import tasks as audience_tasks
from pivotal_core.dataquality import tasks as dataquality_tasks
from pivotal_core.jobs import tasks


@hookimpl
def pivotal_migration_locations() -> list[str]:
    return [str(Path(__file__).parent / "migrations" / "versions")]


@hookimpl
def pivotal_register_tasks(huey) -> None:
    tasks.register(huey)
    dataquality_tasks.register(huey)
    audience_tasks.register(huey)
