"""Housekeeping on a schedule: each periodic task is registered under its name and does
its work in a transaction of its own when run."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pivotal_core.authnz.models import LoginFailure
from pivotal_core.db import utcnow
from pivotal_core.jobs.queue import registered_task


def test_the_periodic_tasks_are_registered(app):
    huey = app.registry["pivotal.huey"]
    names = {task.__name__ for task in huey._registry._periodic_tasks}
    assert {
        "core.prune_auth_records",
        "audience.refresh_segment_counts",
        "dataquality.clean_uploads",
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
