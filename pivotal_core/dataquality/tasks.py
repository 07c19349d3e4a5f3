"""The import jobs: run a batch (rows rebuilt from its stored file) and undo one; the
hourly removal of uploads nobody imported; batches whose job stopped marked failed; the
nightly duplicates scan (a scan job per entity, at ``dataquality.duplicate_scan_hour``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from huey import crontab
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor
from pivotal_core.dataquality.duplicates import (
    SCAN_HOUR_SETTING,
    SCAN_MINUTE,
    scan_every_entity,
)
from pivotal_core.dataquality.files import FileFormat, FileProblem, count_rows
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.dataquality.services import (
    DEFAULT_ROWS_FACTORY,
    IMPORT_TASK,
    UNDO_TASK,
    fail_stopped_batches,
    resolve_rows_factory,
    run_batch_committing,
    undo_batch,
)
from pivotal_core.dataquality.uploads import clean_uploads
from pivotal_core.errors import NotFound
from pivotal_core.jobs.queue import register_periodic, register_task, task_context

CLEAN_UPLOADS_TASK = "dataquality.clean_uploads"
NIGHTLY_SCAN_TASK = "dataquality.nightly_duplicate_scan"
STOPPED_BATCHES_TASK = "dataquality.fail_stopped_batches"


def _batch(session: Session, batch_id: int) -> ImportBatch:
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"Import batch {batch_id} not found")
    return batch


def _rows_in_file(batch: ImportBatch) -> int | None:
    """The rows of the batch's kept file, for a progress bar with an end; None when the
    file cannot be read through (the import then meets the problem and reports it)."""
    try:
        return count_rows(batch.stored_path, FileFormat.from_dict(batch.file_format or {}))
    except (FileProblem, OSError):
        return None


def register(huey: Any) -> None:
    def run_import(
        session: Session, progress: Any, batch_id: int, rows_factory: str = DEFAULT_ROWS_FACTORY
    ) -> dict[str, Any]:
        settings = task_context(huey).settings
        batch = _batch(session, batch_id)
        if batch.status == "succeeded":
            return dict(batch.counts or {})  # a redelivered message: nothing left to do
        total = _rows_in_file(batch)
        if total is not None:
            done = int((batch.counts or {}).get("rows") or 0)  # a retry goes on from there
            progress(done, total, f"{total:,} rows to import", force=True)
        factory = resolve_rows_factory(rows_factory)
        rows = factory(batch, settings.get("phone.default_region", "US"), session)
        actor = Actor(
            user_id=batch.created_by_id,
            source=f"import:{batch.source}",
            job_id=progress.job_id,
            batch_id=batch_id,
        )
        counts = run_batch_committing(
            session, batch, rows, progress, settings=settings, actor=actor
        )
        return counts.as_dict()

    def undo_import(
        session: Session, progress: Any, batch_id: int, actor_id: int | None = None
    ) -> dict[str, Any]:
        actor = Actor(user_id=actor_id, source="job", job_id=progress.job_id)
        return undo_batch(session, _batch(session, batch_id), actor)

    register_task(huey, IMPORT_TASK, run_import)
    register_task(huey, UNDO_TASK, undo_import)

    def clean(session: Session) -> dict[str, Any]:
        return clean_uploads(session, task_context(huey).settings).as_dict()

    register_periodic(huey, CLEAN_UPLOADS_TASK, crontab(minute="0"), clean)
    # After the jobs of killed workers are marked failed (jobs.reap_stopped, every 5
    # minutes), their batches say so too.
    register_periodic(huey, STOPPED_BATCHES_TASK, crontab(minute="*/5"), fail_stopped_batches)

    def nightly(moment: datetime) -> bool:
        # Read when huey asks (every minute), not at registration: the settings are not
        # attached to the queue yet when tasks are registered.
        hour = int(task_context(huey).settings.get(SCAN_HOUR_SETTING, -1))
        return hour >= 0 and (moment.hour, moment.minute) == (hour, SCAN_MINUTE)

    def scan(session: Session) -> list[int]:
        return scan_every_entity(session, huey)

    register_periodic(huey, NIGHTLY_SCAN_TASK, nightly, scan)
