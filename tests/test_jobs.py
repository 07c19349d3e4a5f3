"""Background jobs with huey in immediate mode: sent only after commit, run once, progress and
results and failures recorded on the job row, and shown by /api/v1/jobs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact
from pivotal_core.db import new_transaction_manager, tm_session
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import register_task
from pivotal_core.jobs.services import enqueue

API = "/api/v1"


@pytest.fixture
def huey(app):
    huey = app.registry["pivotal.huey"]
    assert huey.immediate, "the test app runs huey in immediate mode"
    return huey


@pytest.fixture
def register(huey):
    """``register(name, fn, **options)`` -> a task, unregistered after the test."""
    registered = []

    def factory(name: str, function, **options: Any):
        task = register_task(huey, name, function, **options)
        registered.append(task)
        return task

    yield factory
    for task in registered:
        task.unregister()


class CountContacts:
    """A job function that counts contacts, reports progress and remembers each run."""

    def __init__(self, session_factory):
        self.session_factory = session_factory
        self.runs: list[dict[str, Any]] = []

    def __call__(self, session, progress, *, label: str) -> dict[str, Any]:
        total = session.scalar(select(func.count()).select_from(Contact))
        progress(total, total=total, message=f"counted for {label}", force=True)
        # Progress is written in its own transaction: visible while the job still runs.
        with self.session_factory() as reader:
            job = reader.scalars(select(Job).order_by(Job.id.desc())).first()
            self.runs.append(
                {
                    "total": total,
                    "status": job.status,
                    "progress": job.progress_current,
                    "message": job.message,
                }
            )
        return {"contacts": total, "label": label}


def enqueue_in_transaction(
    session_factory,
    task,
    kind: str,
    params: dict[str, Any],
    *,
    commit: bool = True,
    before_commit=None,
) -> int:
    manager = new_transaction_manager()
    manager.begin()
    session = tm_session(session_factory, manager)
    if before_commit is not None:
        before_commit(session)
    job_id = enqueue(session, task, kind, params).id
    if commit:
        manager.commit()
    else:
        manager.abort()
    return job_id


def reload(dbsession, job_id: int) -> Job | None:
    dbsession.expire_all()
    return dbsession.get(Job, job_id)


@pytest.fixture
def counting(register, session_factory, dbsession):
    function = CountContacts(session_factory)
    task = register("test.count_contacts", function)
    return function, task


def test_job_runs_after_commit_and_records_result_and_progress(
    counting, session_factory, dbsession, make_contact
):
    function, task = counting
    for _ in range(3):
        make_contact()
    job_id = enqueue_in_transaction(session_factory, task, "test.count_contacts", {"label": "all"})
    assert len(function.runs) == 1
    assert function.runs[0] == {
        "total": 3,
        "status": "running",
        "progress": 3,
        "message": "counted for all",
    }
    job = reload(dbsession, job_id)
    assert job.kind == "test.count_contacts"
    assert job.params == {"label": "all"}
    assert job.status == "succeeded"
    assert job.result == {"contacts": 3, "label": "all"}
    assert (job.progress_current, job.progress_total) == (3, 3)
    assert job.percent == 100.0
    assert job.message == "counted for all"
    assert job.attempts == 1
    assert job.error is None
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at


def test_job_sees_rows_written_in_the_enqueuing_transaction(counting, session_factory, dbsession):
    function, task = counting

    def add_contacts(session):
        for email in ("one@example.org", "two@example.org"):
            create_contact(session, Actor.system("test"), {"email": email})

    job_id = enqueue_in_transaction(
        session_factory, task, "test.count_contacts", {"label": "fresh"}, before_commit=add_contacts
    )
    assert reload(dbsession, job_id).result == {"contacts": 2, "label": "fresh"}


def test_nothing_is_sent_when_the_transaction_aborts(counting, session_factory, dbsession):
    function, task = counting
    jobs_before = dbsession.scalar(select(func.count()).select_from(Job))
    job_id = enqueue_in_transaction(
        session_factory, task, "test.count_contacts", {"label": "never"}, commit=False
    )
    assert function.runs == []
    assert reload(dbsession, job_id) is None
    assert dbsession.scalar(select(func.count()).select_from(Job)) == jobs_before


def test_enqueue_needs_a_transaction_manager(counting, dbsession):
    _, task = counting
    with pytest.raises(RuntimeError, match="transaction manager"):
        enqueue(dbsession, task, "test.count_contacts", {"label": "x"})


def test_redelivered_message_does_not_run_a_succeeded_job_again(
    counting, session_factory, dbsession
):
    function, task = counting
    job_id = enqueue_in_transaction(session_factory, task, "test.count_contacts", {"label": "once"})
    assert len(function.runs) == 1
    finished = reload(dbsession, job_id).finished_at
    # The same message delivered a second time (a worker crashed before acknowledging).
    task(job_id, {"label": "once"})
    assert len(function.runs) == 1
    job = reload(dbsession, job_id)
    assert job.status == "succeeded"
    assert job.attempts == 1
    assert job.finished_at == finished


def test_message_for_a_missing_job_does_nothing(counting, dbsession):
    function, task = counting
    task(987654, {"label": "ghost"})
    assert function.runs == []
    assert reload(dbsession, 987654) is None


def test_failing_job_is_marked_failed_and_its_work_rolled_back(
    register, session_factory, dbsession
):
    calls = []

    def explode(session, progress, *, email: str):
        calls.append(email)
        create_contact(session, Actor.system("test"), {"email": email})
        session.flush()
        raise RuntimeError("the enrichment source is down")

    task = register("test.explode", explode, retries=0)
    contacts = dbsession.scalar(select(func.count()).select_from(Contact))
    job_id = enqueue_in_transaction(
        session_factory, task, "test.explode", {"email": "half@example.org"}
    )
    assert calls == ["half@example.org"]
    job = reload(dbsession, job_id)
    assert job.status == "failed"
    assert "RuntimeError" in job.error
    assert "the enrichment source is down" in job.error
    assert job.finished_at is not None
    assert job.result is None
    assert job.attempts == 1
    # The half-done work of the failed run was rolled back.
    assert dbsession.scalar(select(func.count()).select_from(Contact)) == contacts


def test_failing_job_is_retried_until_retries_are_exhausted(register, session_factory, dbsession):
    calls = []

    def always_fails(session, progress, *, n: int):
        calls.append(n)
        raise ValueError(f"attempt {len(calls)} failed")

    # No delay, so immediate-mode huey runs the retries at once.
    task = register("test.always_fails", always_fails, retries=2, retry_delay=0)
    job_id = enqueue_in_transaction(session_factory, task, "test.always_fails", {"n": 1})
    assert calls == [1, 1, 1]
    job = reload(dbsession, job_id)
    assert job.status == "failed"
    assert job.attempts == 3
    assert "attempt 3 failed" in job.error


def test_job_that_fails_once_then_succeeds(register, session_factory, dbsession):
    calls = []

    def flaky(session, progress, *, n: int):
        calls.append(n)
        if len(calls) == 1:
            raise ConnectionError("temporary glitch")
        return {"ok": n}

    task = register("test.flaky", flaky, retries=3, retry_delay=0)
    job_id = enqueue_in_transaction(session_factory, task, "test.flaky", {"n": 5})
    assert calls == [5, 5]
    job = reload(dbsession, job_id)
    assert job.status == "succeeded"
    assert job.result == {"ok": 5}
    assert job.error is None
    assert job.attempts == 2


def test_job_parameters_reach_the_function_whatever_their_names(
    register, session_factory, dbsession
):
    """Parameter names that huey itself uses for options must still reach the job."""
    received = []

    def echo(session, progress, **params):
        received.append(params)
        return params

    task = register("test.echo", echo, retries=0)
    params = {
        "id": 7,
        "priority": "high",
        "timeout": 30,
        "delay": 5,
        "expires": "never",
        "retries": 1,
        "task": "export",
    }
    job_id = enqueue_in_transaction(session_factory, task, "test.echo", params)
    assert received == [params]
    job = reload(dbsession, job_id)
    assert job.status == "succeeded", job.error
    assert job.result == params


# ---------------------------------------------------------------- the API


def test_jobs_api_shows_status_and_progress(
    admin, counting, session_factory, dbsession, make_contact, register
):
    _, task = counting
    make_contact()
    done = enqueue_in_transaction(session_factory, task, "test.count_contacts", {"label": "api"})

    def explode(session, progress):
        raise RuntimeError("no luck")

    failed = enqueue_in_transaction(
        session_factory, register("test.explode", explode, retries=0), "test.explode", {}
    )

    res = admin.get(f"{API}/jobs")
    assert res.status_int == 200, res.text
    items = res.json["items"]
    assert [item["id"] for item in items][:2] == [failed, done]
    res = admin.get(f"{API}/jobs/{done}")
    assert res.status_int == 200
    job = res.json
    assert job["id"] == done
    assert job["kind"] == "test.count_contacts"
    assert job["status"] == "succeeded"
    assert job["progress_current"] == job["progress_total"] == 1
    assert job["percent"] == 100.0
    assert job["message"] == "counted for api"
    assert job["result"] == {"contacts": 1, "label": "api"}
    assert job["params"] == {"label": "api"}
    assert job["error"] is None
    assert job["finished_at"] is not None

    failed_json = admin.get(f"{API}/jobs/{failed}").json
    assert failed_json["status"] == "failed"
    assert "no luck" in failed_json["error"]

    only_failed = admin.get(f"{API}/jobs", {"status": "failed"}).json["items"]
    assert [item["id"] for item in only_failed] == [failed]
    assert len(admin.get(f"{API}/jobs", {"limit": 1}).json["items"]) == 1


def test_jobs_api_errors(admin, anonymous, login):
    res = admin.get(f"{API}/jobs/987654")
    assert res.status_int == 404
    assert res.json["error"]["code"] == "not_found"
    assert anonymous.get(f"{API}/jobs").status_int == 401
    assert anonymous.get(f"{API}/jobs/1").status_int == 401
    assert login(Role.AGENT).get(f"{API}/jobs").status_int == 403
    assert login(Role.DATA_STEWARD).get(f"{API}/jobs").status_int == 200
    for params, name in (
        ({"status": "sleeping"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"sort": "id"}, "sort"),
    ):
        res = admin.get(f"{API}/jobs", params)
        assert res.status_int == 400, params
        assert name in res.json["error"]["fields"]


def test_a_consumer_of_the_embedded_queue_polls_it_at_least_every_second(tmp_path):
    """SQLite cannot hand a job over as it is queued: its consumer polls, waiting longer
    after each empty poll. Without a ceiling of its own a job queued after a quiet spell
    would wait up to huey's 10 s before it starts."""
    from huey import SqliteHuey

    from pivotal_core.jobs.queue import POLL_MAX_DELAY, create_consumer

    huey = SqliteHuey("pivotal-test", filename=str(tmp_path / "huey.sqlite"))
    consumer = create_consumer(huey, 2)
    assert len(consumer.worker_threads) == 2

    class Waits:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def wait(self, timeout: float) -> bool:
            self.seen.append(timeout)
            return False

        def is_set(self) -> bool:
            return False

    worker, _ = consumer.worker_threads[0]
    worker.stop_flag = waits = Waits()
    for _ in range(60):  # an idle minute's polls and more: the backoff reaches its ceiling
        worker.loop()
    assert len(waits.seen) == 60
    assert waits.seen[0] < waits.seen[20]  # it does back off
    assert max(waits.seen) == POLL_MAX_DELAY == 1.0
