"""huey from settings, and a job's round trip through a real Redis (PIVOTAL_TEST_REDIS_URL)
and through the SQLite queue of the embedded default."""

from __future__ import annotations

import os
import uuid

import pytest
from huey import MemoryHuey, RedisHuey, SqliteHuey
from sqlalchemy import func, select

from pivotal_core.contacts.models import Contact
from pivotal_core.db import new_transaction_manager, tm_session
from pivotal_core.jobs import services
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import SettingsProblem, TaskContext, make_huey, register_task
from pivotal_core.testing.fixtures import in_ci


@pytest.fixture
def redis_url():
    url = os.environ.get("PIVOTAL_TEST_REDIS_URL")
    if not url:
        if in_ci():
            pytest.fail("CI=true but PIVOTAL_TEST_REDIS_URL is not set")
        pytest.skip("PIVOTAL_TEST_REDIS_URL is not set; Redis-backed huey not tested")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if in_ci():
            pytest.fail(f"Redis at {url} is unreachable: {exc}")
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    return url


def test_make_huey_picks_the_backend(tmp_path, redis_url):
    assert isinstance(make_huey({"huey.url": "memory://"}), MemoryHuey)
    sqlite = make_huey({"huey.url": f"sqlite:///{tmp_path / 'q.sqlite'}"})
    assert isinstance(sqlite, SqliteHuey)
    assert isinstance(make_huey({"huey.url": redis_url}), RedisHuey)
    with pytest.raises(SettingsProblem, match="huey.url"):
        make_huey({"huey.url": "amqp://nope"})


def count_contacts(session, progress, label: str):
    total = session.scalar(select(func.count()).select_from(Contact))
    progress(total, total, f"counted for {label}", force=True)
    return {"contacts": total, "label": label}


def run_one_job_through(huey, app, session_factory, make_contact):
    """Enqueue after commit, then consume the message as a worker does."""
    make_contact(email="queued@example.com")
    huey.pivotal_context = TaskContext(app.registry)
    task = register_task(
        huey, f"test.count_contacts.{uuid.uuid4().hex[:6]}", count_contacts, retries=0
    )
    manager = new_transaction_manager()
    with manager:
        session = tm_session(session_factory, manager)
        job = services.enqueue(session, task, "test.count", {"label": "redis"})
        job_id = job.id
    assert len(huey) == 1  # the message waits in the queue until a worker takes it
    message = huey.dequeue()
    huey.execute(message)
    return job_id


def test_job_round_trip_through_redis(redis_url, app, dbsession, session_factory, make_contact):
    huey = make_huey({"huey.url": redis_url, "huey.name": f"pivotal-test-{uuid.uuid4().hex}"})
    huey.flush()
    try:
        job_id = run_one_job_through(huey, app, session_factory, make_contact)
    finally:
        huey.flush()
    job = dbsession.get(Job, job_id)
    dbsession.refresh(job)
    assert job.status == "succeeded"
    assert job.result["label"] == "redis" and job.result["contacts"] >= 1
    assert job.progress_current == job.progress_total == job.result["contacts"]


def test_job_round_trip_through_sqlite_queue(
    tmp_path, app, dbsession, session_factory, make_contact
):
    huey = make_huey({"huey.url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"})
    job_id = run_one_job_through(huey, app, session_factory, make_contact)
    job = dbsession.get(Job, job_id)
    dbsession.refresh(job)
    assert job.status == "succeeded"
    assert job.message == "counted for redis"
