"""Housekeeping on a schedule: each periodic task is registered under its name and does
its work in a transaction of its own when run."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from pivotal_core.authnz.models import LoginFailure
from pivotal_core.config import SettingsError, merge_settings
from pivotal_core.dataquality.duplicates import SCAN_TASK
from pivotal_core.dataquality.models import DuplicateCandidate, ImportBatch
from pivotal_core.db import utcnow
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import registered_task
from pivotal_core.jobs.services import start, this_worker


def test_the_periodic_tasks_are_registered(app):
    huey = app.registry["pivotal.huey"]
    names = {task.__name__ for task in huey._registry._periodic_tasks}
    assert {
        "core.prune_auth_records",
        "audience.refresh_segment_counts",
        "dataquality.clean_uploads",
        "dataquality.fail_stopped_batches",
        "dataquality.nightly_duplicate_scan",
        "jobs.reap_stopped",
    } <= names


def test_pruning_deletes_only_login_failures_past_the_window(app, dbsession):
    window = int(app.registry.settings["auth.login_window"])
    now = utcnow()
    dbsession.add_all(
        [
            LoginFailure(key="old@example.com", failed_at=now - timedelta(seconds=window + 60)),
            LoginFailure(key="new@example.com", failed_at=now),
        ]
    )
    dbsession.commit()
    registered_task(app.registry["pivotal.huey"], "core.prune_auth_records")()
    dbsession.expire_all()
    assert dbsession.scalars(select(LoginFailure.key)).all() == ["new@example.com"]


def run(app, name: str):
    """Run a periodic task now; its answer."""
    return registered_task(app.registry["pivotal.huey"], name).call_local()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_jobs_of_stopped_workers_are_marked_failed(app, dbsession):
    now = utcnow()
    postgres = dbsession.get_bind().dialect.name == "postgresql"
    host = this_worker().rpartition(":")[0]
    old = now - timedelta(hours=2)
    jobs = {
        "killed": Job(kind="x", status="running", worker=f"{host}:{_dead_pid()}"),
        # This host's worker is alive: quiet for long, but its process says it works.
        "alive": Job(kind="x", status="running", worker=this_worker(), updated_at=old),
        "silent elsewhere": Job(kind="x", status="running", worker="elsewhere:7", updated_at=old),
        "busy elsewhere": Job(kind="x", status="running", worker="elsewhere:8"),
        "queued": Job(kind="x", status="queued", worker=f"{host}:{_dead_pid()}"),
    }
    dbsession.add_all(jobs.values())
    dbsession.commit()
    ids = {name: job.id for name, job in jobs.items()}

    stopped = run(app, "jobs.reap_stopped")
    # Progress is written as a job goes on PostgreSQL only: silence means something there.
    expected = ["killed", "silent elsewhere"] if postgres else ["killed"]
    assert sorted(stopped) == sorted(ids[name] for name in expected)
    dbsession.expire_all()
    status = {name: dbsession.get(Job, job_id) for name, job_id in ids.items()}
    assert {name for name, job in status.items() if job.status == "failed"} == set(expected)
    assert "stopped while running it" in status["killed"].error
    assert status["killed"].finished_at is not None
    if postgres:
        assert "gave no sign for 60 minutes" in status["silent elsewhere"].error
    assert status["queued"].status == "queued" and status["alive"].status == "running"
    # Run again: nothing more to do.
    assert run(app, "jobs.reap_stopped") == []


def test_a_started_job_names_its_worker(app, dbsession):
    job = Job(kind="x", status="queued")
    dbsession.add(job)
    dbsession.commit()
    assert start(app.registry["dbsession_factory"], job.id)
    dbsession.expire_all()
    assert dbsession.get(Job, job.id).worker == this_worker()


def test_batches_whose_job_stopped_are_marked_failed(app, dbsession, make_import_batch):
    failed = Job(kind="dataquality.import", status="failed", error="its worker (h:1) stopped")
    running = Job(kind="dataquality.import", status="running")
    dbsession.add_all([failed, running])
    dbsession.commit()
    stuck, busy, done = (make_import_batch() for _ in range(3))
    stuck.status, stuck.job_id = "running", failed.id
    busy.status, busy.job_id = "running", running.id
    done.status, done.job_id = "succeeded", failed.id
    dbsession.commit()

    marked = run(app, "dataquality.fail_stopped_batches")
    assert marked == [stuck.id]
    dbsession.expire_all()
    assert dbsession.get(ImportBatch, stuck.id).status == "failed"
    assert dbsession.get(ImportBatch, stuck.id).counts["error"] == (
        "The import job stopped: its worker (h:1) stopped"
    )
    assert dbsession.get(ImportBatch, busy.id).status == "running"
    assert dbsession.get(ImportBatch, done.id).status == "succeeded"


def test_stale_after_must_leave_a_job_time_to_report():
    with pytest.raises(SettingsError, match="jobs.stale_after_minutes"):
        merge_settings({"auth.secret": "x" * 40, "jobs.stale_after_minutes": "1"}, environ={})


def test_the_duplicates_scan_runs_each_night_at_the_hour_set(app, monkeypatch):
    huey = app.registry["pivotal.huey"]
    settings = app.registry.settings
    at = [datetime(2026, 11, 26, hour, minute) for hour in range(24) for minute in range(60)]

    def when() -> list[datetime]:
        """The minutes of a day at which huey's scheduler would start the nightly scan."""
        return [
            m
            for m in at
            if "dataquality.nightly_duplicate_scan" in {t.name for t in huey.read_periodic(m)}
        ]

    assert settings["dataquality.duplicate_scan_hour"] == 3  # the default
    assert when() == [datetime(2026, 11, 26, 3, 30)]
    monkeypatch.setitem(settings, "dataquality.duplicate_scan_hour", 22)
    assert when() == [datetime(2026, 11, 26, 22, 30)]
    monkeypatch.setitem(settings, "dataquality.duplicate_scan_hour", -1)  # turned off
    assert when() == []


def test_the_nightly_scan_queues_a_scan_of_each_entity_not_being_scanned(
    app, dbsession, make_contact
):
    one = make_contact(first_name="Dana", last_name="Scully", phone="+1 415 555 0100")
    other = make_contact(first_name="D.", last_name="Scully", phone="(415) 555-0100")

    queued = run(app, "dataquality.nightly_duplicate_scan")

    dbsession.expire_all()
    jobs = [dbsession.get(Job, job_id) for job_id in queued]
    # The jobs ran (the test queue runs them at commit): nobody asked for them.
    assert [(j.kind, j.params["entity"], j.status) for j in jobs] == [
        (SCAN_TASK, "contact", "succeeded"),
        (SCAN_TASK, "account", "succeeded"),
    ]
    assert {j.created_by_id for j in jobs} == {None}
    found = dbsession.scalars(
        select(DuplicateCandidate).where(DuplicateCandidate.entity == "contact")
    )
    assert [(c.record_a, c.record_b, c.reason) for c in found] == [(one.id, other.id, "same_phone")]

    # A scan still queued or running is not queued twice.
    dbsession.add(Job(kind=SCAN_TASK, status="running", params={"entity": "account"}))
    dbsession.commit()
    again = run(app, "dataquality.nightly_duplicate_scan")
    dbsession.expire_all()
    assert [dbsession.get(Job, job_id).params["entity"] for job_id in again] == ["contact"]


def test_the_scan_hour_is_an_hour_or_none():
    base = {"auth.secret": "x" * 40}
    assert merge_settings(base, environ={})["dataquality.duplicate_scan_hour"] == 3
    for hour in ("-1", "0", "23"):
        settings = merge_settings({**base, "dataquality.duplicate_scan_hour": hour}, environ={})
        assert settings["dataquality.duplicate_scan_hour"] == int(hour)
    for bad in ("24", "-2", "3am"):
        with pytest.raises(SettingsError, match="dataquality.duplicate_scan_hour"):
            merge_settings({**base, "dataquality.duplicate_scan_hour": bad}, environ={})
