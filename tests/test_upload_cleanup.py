"""Removing what abandoned uploads leave behind: old notes, old files nothing refers to and
partial files of stopped uploads; never a file a batch or a domain set refers to, nor a
note younger than ``dataquality.upload_retention_hours``."""

from __future__ import annotations

import io
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pivotal_core.audience.models import DomainSet
from pivotal_core.audit.services import Actor
from pivotal_core.config import SettingsError, merge_settings
from pivotal_core.dataquality import uploads
from pivotal_core.dataquality.tasks import CLEAN_UPLOADS_TASK
from pivotal_core.db import utcnow
from pivotal_core.errors import Conflict
from pivotal_core.jobs.queue import registered_task

HOUR = 3600
OLD = 100  # hours: past the default retention of 72


def aged(path: Path | str, hours: float) -> Path:
    """Make ``path`` look last written ``hours`` ago."""
    moment = time.time() - hours * HOUR
    os.utime(path, (moment, moment))
    return Path(path)


def content(who: str) -> io.BytesIO:
    return io.BytesIO(f"Email,First Name\n{who}@example.com,{who}\n".encode())


def receive(settings, who: str) -> tuple[Path, Path]:
    """An upload's note and file."""
    upload = uploads.receive_upload(settings, content(who), f"{who}.csv", uploaded_by_id=None)
    note = Path(settings["dataquality.imports_dir"]) / "uploads" / f"{upload.id}.json"
    return note, Path(upload.stored_path)


def left(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def settings(app, imports_dir):
    return app.registry.settings


@pytest.fixture
def scene(settings, imports_dir, dbsession) -> dict[str, Path]:
    """One of each thing an imports folder holds, aged as the test needs."""
    paths: dict[str, Path] = {}
    # Imported (a batch of any status refers to its file) long ago: the note goes.
    note, file = receive(settings, "imported")
    upload_id = note.stem
    stored = uploads.get_upload(settings, upload_id, None)
    uploads.create_import_batch(
        dbsession, Actor.system("test"), stored, entity="contact", source="tradeshow"
    )
    paths["imported note"], paths["imported file"] = aged(note, OLD), aged(file, OLD)
    # Uploaded long ago and never imported: both go.
    note, file = receive(settings, "abandoned")
    paths["abandoned note"], paths["abandoned file"] = aged(note, OLD), aged(file, OLD)
    # Still in the wizard: the young note keeps its (old) file.
    note, file = receive(settings, "recent")
    paths["recent note"], paths["recent file"] = aged(note, 1), aged(file, OLD)
    # Kept for a domain set's job (the set deleted since, but restorable).
    domains = uploads.store_import_file(settings, content("domains"), "domains.csv")
    dbsession.add(
        DomainSet(
            name="Targets",
            entity_type="account",
            source_file={"kind": "file", "path": domains.stored_path},
            deleted_at=utcnow(),
        )
    )
    paths["domain set file"] = aged(domains.stored_path, OLD)
    # Stored by a command that stopped before making its batch: nothing refers to it.
    loose = uploads.store_import_file(settings, content("loose"), "loose.csv")
    paths["loose file"] = aged(loose.stored_path, OLD)
    # Partial files: of a process killed while copying, and of an upload still copying.
    for name, hours in (
        (".upload-killed.part", 2),
        ("uploads/.note-killed.part", 2),
        (".upload-copying.part", 0.5),
        ("uploads/.note-writing.part", 0.5),
        ("README.txt", OLD * 10),  # not ours: never touched
    ):
        path = imports_dir / name
        path.write_bytes(b"x" * 10)
        paths[name] = aged(path, hours)
    dbsession.commit()
    return paths


REMOVED = {
    "notes": ["abandoned note", "imported note"],
    "files": ["abandoned file", "loose file"],
    "partials": [".upload-killed.part", "uploads/.note-killed.part"],
}


def expected(scene: dict[str, Path]) -> dict[str, set[str]]:
    return {kind: {str(scene[name]) for name in names} for kind, names in REMOVED.items()}


def removed(cleanup: uploads.UploadCleanup) -> dict[str, set[str]]:
    return {kind: set(getattr(cleanup, kind)) for kind in REMOVED}


def kept(scene: dict[str, Path], root: Path) -> set[str]:
    gone = {name for names in REMOVED.values() for name in names}
    return {str(path.relative_to(root)) for name, path in scene.items() if name not in gone}


def test_clean_uploads_removes_only_what_nothing_needs(dbsession, settings, imports_dir, scene):
    size = sum(scene[name].stat().st_size for names in REMOVED.values() for name in names)
    cleanup = uploads.clean_uploads(dbsession, settings)
    assert removed(cleanup) == expected(scene)
    assert cleanup.as_dict() == {
        "dry_run": False,
        "notes": 2,
        "files": 2,
        "partials": 2,
        "bytes": size,
    }
    assert left(imports_dir) == kept(scene, imports_dir)
    # The batch's file still imports; the recent upload still answers.
    assert scene["imported file"].exists()
    recent = uploads.get_upload(settings, scene["recent note"].stem, None)
    assert recent.stored_path == str(scene["recent file"])
    again = uploads.clean_uploads(dbsession, settings)
    assert again.as_dict() == {"dry_run": False, "notes": 0, "files": 0, "partials": 0, "bytes": 0}


def test_a_dry_run_removes_nothing_and_reports_the_same(dbsession, settings, imports_dir, scene):
    before = left(imports_dir)
    dry = uploads.clean_uploads(dbsession, settings, dry_run=True)
    assert left(imports_dir) == before
    real = uploads.clean_uploads(dbsession, settings)
    assert removed(dry) == removed(real) == expected(scene)
    assert dry.as_dict() == {**real.as_dict(), "dry_run": True}


def test_the_retention_comes_from_the_setting(dbsession, settings, imports_dir, scene, monkeypatch):
    monkeypatch.setitem(settings, uploads.RETENTION_SETTING, OLD + 1)
    cleanup = uploads.clean_uploads(dbsession, settings)
    assert (cleanup.notes, cleanup.files) == ([], [])
    assert set(cleanup.partials) == expected(scene)["partials"]
    monkeypatch.setitem(settings, uploads.RETENTION_SETTING, 1)
    cleanup = uploads.clean_uploads(dbsession, settings)
    assert set(cleanup.notes) == expected(scene)["notes"] | {str(scene["recent note"])}
    assert set(cleanup.files) == expected(scene)["files"] | {str(scene["recent file"])}


def test_a_file_uploaded_again_is_young_again(dbsession, settings, imports_dir):
    note, file = receive(settings, "twice")
    aged(note, OLD)
    aged(file, OLD)
    # The same bytes again: the new note refers to the kept file, made young again, so a
    # clean-up running before the new note is written leaves it alone.
    again = uploads.store_import_file(settings, content("twice"), "twice.csv")
    assert again.stored_path == str(file)
    assert time.time() - file.stat().st_mtime < HOUR
    cleanup = uploads.clean_uploads(dbsession, settings)
    assert cleanup.notes == [str(note)] and cleanup.files == []
    assert file.exists()


def test_a_missing_imports_folder_is_nothing_to_clean(dbsession, settings, imports_dir):
    assert not imports_dir.exists()
    assert uploads.clean_uploads(dbsession, settings).as_dict()["bytes"] == 0


def test_the_clean_up_runs_every_hour(app, dbsession, imports_dir, scene):
    huey = app.registry["pivotal.huey"]
    hourly = {task.name for task in huey.read_periodic(datetime(2026, 3, 1, 5, 0))}
    assert CLEAN_UPLOADS_TASK in hourly
    later = {task.name for task in huey.read_periodic(datetime(2026, 3, 1, 5, 30))}
    assert CLEAN_UPLOADS_TASK not in later
    registered_task(huey, CLEAN_UPLOADS_TASK)()  # huey keeps no result of a periodic task
    assert left(imports_dir) == kept(scene, imports_dir)


def test_files_of_batches_finished_past_the_retention_go(
    dbsession, settings, imports_dir, monkeypatch
):
    actor = Actor.system("test")
    now = utcnow()
    days = uploads.batch_file_retention(settings).days
    assert days == 30

    def batch(who: str, status: str, finished_days_ago: float | None, dry_run: bool = False):
        note, file = receive(settings, who)
        stored = uploads.get_upload(settings, note.stem, None)
        made = uploads.create_import_batch(
            dbsession, actor, stored, entity="contact", source="fair", dry_run=dry_run
        )
        made.status = status
        if finished_days_ago is not None:
            made.finished_at = now - timedelta(days=finished_days_ago)
        aged(note, OLD)  # the wizard is long done with it (a young note keeps its file)
        return made, aged(file, OLD * 24)

    old_done, old_file = batch("old", "succeeded", days + 1)
    old_dry, old_dry_file = batch("dry", "succeeded", days + 1, dry_run=True)
    undone, undone_file = batch("undone", "undone", days + 5)
    recent, recent_file = batch("recent", "succeeded", days - 1)
    running, running_file = batch("running", "running", None)
    # The same bytes imported long ago and again lately: the recent batch keeps them.
    shared_old, shared_file = batch("shared", "failed", days + 10)
    shared_new, _ = batch("shared", "succeeded", 1)
    dbsession.commit()

    monkeypatch.setitem(settings, uploads.BATCH_FILE_SETTING, 0)  # 0: kept for good
    assert uploads.clean_uploads(dbsession, settings).files == []
    monkeypatch.setitem(settings, uploads.BATCH_FILE_SETTING, days)
    cleanup = uploads.clean_uploads(dbsession, settings)
    assert set(cleanup.files) == {str(old_file), str(old_dry_file), str(undone_file)}
    for kept_file in (recent_file, running_file, shared_file):
        assert kept_file.exists()
    # A dry run whose file went can no longer be repeated for real, and says why.
    with pytest.raises(Conflict, match="no longer kept; upload it again"):
        uploads.repeat_batch(dbsession, actor, old_dry, huey=None)


def test_the_batch_file_retention_cannot_be_negative():
    with pytest.raises(SettingsError, match="dataquality.batch_file_retention_days"):
        merge_settings(
            {"auth.secret": "x" * 40, "dataquality.batch_file_retention_days": "-1"}, environ={}
        )
