"""Data quality: duplicates and merges, privacy erase (and imports with survivorship)."""

from __future__ import annotations

from typing import Any

from pivotal_core.jobs.queue import register_task


def scan_duplicates_job(session: Any, progress: Any, entity: str, limit: int | None = None):
    from pivotal_core.dataquality.duplicates import scan_duplicates

    return scan_duplicates(session, entity, limit=limit, progress=progress).as_dict()


def includeme(config: Any) -> None:
    config.include(".api")
    config.include(".pages")
    config.include(".review_pages")

    def register_tasks() -> None:
        # At the configuration commit: the jobs area, which builds huey, comes after this
        # one. Registered at start-up (not on first use) so a `pivotal worker` has them.
        from pivotal_core.dataquality.duplicates import SCAN_TASK

        register_task(config.registry["pivotal.huey"], SCAN_TASK, scan_duplicates_job)

    config.action("pivotal.dataquality.tasks", register_tasks)
