"""A bulk update of "all matching" across 50,000 contacts: refused to a role without
contacts:write (nothing changes), else run as a job whose row shows its progress while it
runs, a chunk at a time, with one audit event per changed field."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from pivotal_core.audience import bulk
from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.db import utcnow
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.services import Progress

SIZE = 50_000


def insert_contacts(session, count: int) -> list[int]:
    """``count`` contacts in one multi-row INSERT (the services would take minutes)."""
    now = utcnow()
    rows = [
        {
            "first_name": "Scale",
            "last_name": f"Scaler{n:05d}",
            "email": f"scaler{n}@scale.example",
            "email_domain": "scale.example",
            "tags": [],
            "custom_fields": {},
            "field_provenance": {},
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    session.execute(insert(Contact.__table__), rows)
    session.commit()
    return list(session.scalars(select(Contact.id).order_by(Contact.id)))


def titled(session, title: str) -> int:
    return session.scalar(select(func.count()).select_from(Contact).where(Contact.title == title))


def test_bulk_update_of_all_matching_50000_contacts(login, dbsession, session_factory, monkeypatch):
    ids = insert_contacts(dbsession, SIZE)
    other = Contact(first_name="Not", last_name="Matching", tags=[], custom_fields={})
    dbsession.add(other)
    dbsession.commit()
    excluded = [ids[0], ids[12_345], ids[-1]]
    body = {
        "selection": {"q": "scaler", "exclude": excluded},
        "values": {"title": "Head of Scale"},
    }
    events = select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "contact")
    before = dbsession.scalar(events)

    refused = login(Role.CAMPAIGN_MANAGER).post("/api/v1/bulk/contacts/update", body)
    assert refused.status_int == 403, refused.text
    assert refused.json["error"]["code"] == "forbidden"
    assert titled(dbsession, "Head of Scale") == 0
    assert dbsession.scalar(events) == before
    assert dbsession.scalar(select(func.count()).select_from(Job)) == 0

    # The job's row, read from another session each time the job reports progress.
    seen: list[tuple[int, int | None, str]] = []
    report = Progress.__call__

    def watch(self, current, total=None, message=None, force=False):
        report(self, current, total, message, force)
        with session_factory() as reader:
            job = reader.get(Job, self.job_id)
            seen.append((job.progress_current, job.progress_total, job.status))

    monkeypatch.setattr(Progress, "__call__", watch)
    admin = login(Role.ADMIN)
    res = admin.post("/api/v1/bulk/contacts/update", body)
    assert res.status_int == 202, res.text
    expected = SIZE - len(excluded)
    assert res.json["total"] == expected

    dbsession.expire_all()
    job = dbsession.get(Job, res.json["job"]["id"])
    assert job.status == "succeeded", job.error
    assert (job.progress_current, job.progress_total) == (expected, expected)
    assert job.message == f"Updated {expected:,} contacts"
    assert job.result["changed"] == expected
    # Progress grew a chunk at a time while the job ran, visible in its row.
    steps = [current for current, _, _ in seen]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == expected
    assert len(steps) >= expected // bulk.CHUNK
    assert all(b - a <= bulk.CHUNK for a, b in zip(steps, steps[1:], strict=False))
    assert {status for _, _, status in seen} == {"running"}
    assert {total for _, total, _ in seen} == {expected}

    assert titled(dbsession, "Head of Scale") == expected
    for record_id in excluded:
        assert dbsession.get(Contact, record_id).title is None
    assert dbsession.get(Contact, other.id).title is None
    # One audit event per changed field, each naming the job.
    written = dbsession.execute(
        select(AuditEvent.field, AuditEvent.source, AuditEvent.job_id, func.count())
        .where(AuditEvent.entity == "contact", AuditEvent.job_id == job.id)
        .group_by(AuditEvent.field, AuditEvent.source, AuditEvent.job_id)
    ).all()
    assert written == [("title", "bulk", job.id, expected)]
    assert dbsession.scalar(events) == before + expected
