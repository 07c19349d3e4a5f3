"""Undoing an import: every field it changed goes back to its previous value (and
provenance), records it created are soft-deleted, and what changed since is kept and
reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pivotal_core.accounts.models import Account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import update_contact
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.dataquality.services import UNDO_TASK, run_batch, undo_batch
from pivotal_core.db import new_transaction_manager, tm_session
from pivotal_core.errors import Conflict
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import registered_task
from pivotal_core.testing.fixtures import TEST_SECRET

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FIELDS = (
    "first_name", "last_name", "email", "email_domain", "phone", "mobile", "title",
    "department", "linkedin_url", "city", "country", "tags", "custom_fields", "account_id",
)  # fmt: skip
PERSON = Actor(user_id=None, source="ui")


def row(number: int, external_ids: dict[str, str] | None = None, **values: Any) -> PreparedRow:
    domain = values.pop("account_domain", None)
    return PreparedRow(
        number=number,
        values=values,
        raw={},
        external_ids=external_ids or {},
        account_domain=domain,
    )


def run(dbsession, batch: ImportBatch, rows: list[PreparedRow]) -> None:
    run_batch(dbsession, batch, rows, settings={"auth.secret": TEST_SECRET})
    dbsession.commit()


def state(dbsession, contact: Contact) -> dict[str, Any]:
    dbsession.refresh(contact)
    values = {name: getattr(contact, name) for name in FIELDS}
    values["deleted_at"] = contact.deleted_at
    values["identifiers"] = dict(
        dbsession.execute(
            select(ContactIdentifier.kind, ContactIdentifier.value).where(
                ContactIdentifier.contact_id == contact.id
            )
        ).all()
    )
    return values


def same_provenance(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal entries; an entry a service wrote is rebuilt from its audit event, whose time
    is taken a moment after the entry's, so times agree to the second."""
    assert set(before) == set(after)
    for name, entry in before.items():
        other = after[name]
        assert {k: v for k, v in entry.items() if k != "at"} == {
            k: v for k, v in other.items() if k != "at"
        }, name
        moments = [datetime.fromisoformat(e["at"]) for e in (entry, other)]
        assert abs(moments[0] - moments[1]) < timedelta(seconds=1), name


def test_undo_restores_every_field_it_changed(
    dbsession, make_contact, make_account, make_import_batch
):
    acme = make_account(name="Acme", domain="acme.com")
    ann = make_contact(
        email="ann@acme.com",
        first_name="Ann",
        title="CTO",
        tags=["x"],
        country="NO",
        custom_fields={},
        external_ids={"hubspot": "H-old"},
    )
    assert ann.account_id == acme.id
    # An earlier import set the department; it stays the "previous value" to return to.
    earlier = make_import_batch(source="zoominfo", as_of=T0)
    run(dbsession, earlier, [row(2, email="ann@acme.com", department="R&D")])
    before = state(dbsession, ann)
    provenance_before = dict(ann.field_provenance)

    batch = make_import_batch(source="hubspot", as_of=T0 + timedelta(days=1), create_accounts=True)
    run(
        dbsession,
        batch,
        [
            row(
                2,
                {"hubspot": "H-new"},
                email="ann@acme.com",
                first_name="Ann",  # same value, better source: only its provenance changes
                title="CEO",
                department="Board",
                city="Oslo",
                tags=["y"],
                mobile="+4791234567",
                account_domain="newco.com",
                **{"custom_fields.score": 7},
            ),
            row(3, email="new@newco.com", first_name="Neo"),
        ],
    )
    during = state(dbsession, ann)
    changed = {name for name in before if before[name] != during[name]}
    assert changed == {
        "title", "department", "city", "tags", "mobile", "custom_fields", "account_id",
        "identifiers",
    }  # fmt: skip
    assert ann.field_provenance["first_name"]["batch"] == batch.id
    neo = dbsession.scalars(select(Contact).where(Contact.email == "new@newco.com")).one()
    newco = dbsession.scalars(select(Account).where(Account.domain == "newco.com")).one()

    report = undo_batch(dbsession, batch, Actor(user_id=None, source="ui"))
    dbsession.commit()

    after = state(dbsession, ann)
    for name in before:
        assert after[name] == before[name], f"{name}: {after[name]!r} != {before[name]!r}"
    same_provenance(provenance_before, ann.field_provenance)
    dbsession.refresh(neo)
    dbsession.refresh(newco)
    assert neo.deleted_at is not None and newco.deleted_at is not None
    assert report["restored_fields"] == 8  # 7 fields + the external id
    assert report["deleted"] == {"contact": 1, "account": 1}
    assert (report["conflict_count"], report["kept_count"]) == (0, 0)
    dbsession.refresh(batch)
    assert batch.status == "undone" and batch.undone_at is not None
    assert batch.undo_report == report
    undo_events = dbsession.scalars(
        select(AuditEvent).where(AuditEvent.batch_id == batch.id, AuditEvent.action == "undo")
    ).all()
    assert sorted((e.entity, e.entity_id, e.field) for e in undo_events) == sorted(
        [("contact", ann.id, f) for f in (
            "title", "department", "city", "tags", "mobile", "custom_fields.score",
            "account_id", "external_ids.hubspot",
        )]
        + [("contact", neo.id, "deleted_at"), ("account", newco.id, "deleted_at")]
    )  # fmt: skip
    title = next(e for e in undo_events if e.field == "title")
    assert (title.old_value, title.new_value, title.source) == ("CEO", "CTO", "ui")
    with pytest.raises(Conflict):
        undo_batch(dbsession, batch, PERSON)


def test_undo_keeps_and_reports_what_changed_later(dbsession, make_contact, make_import_batch):
    bob = make_contact(email="bob@acme.com", title="CTO", city="Rome")
    batch = make_import_batch(create_accounts=True)
    run(
        dbsession,
        batch,
        [
            row(2, email="bob@acme.com", title="CEO", city="Oslo"),
            row(3, email="cy@newco.com", first_name="Cy"),
            row(4, email="di@newco.com", first_name="Di"),
            row(5, email="eve@other.org", first_name="Eve"),
        ],
    )
    cy = dbsession.scalars(select(Contact).where(Contact.email == "cy@newco.com")).one()
    eve = dbsession.scalars(select(Contact).where(Contact.email == "eve@other.org")).one()
    newco = dbsession.get(Account, cy.account_id)
    other = dbsession.get(Account, eve.account_id)
    # After the import: a person edits Bob's title and Cy; another import adds a contact
    # at NewCo.
    update_contact(dbsession, PERSON, bob, {"title": "Chief Executive"})
    update_contact(dbsession, PERSON, cy, {"title": "Founder"})
    dbsession.commit()
    later = make_import_batch(source="salesforce")
    run(dbsession, later, [row(2, email="fay@newco.com", first_name="Fay")])

    report = undo_batch(dbsession, batch, PERSON)
    dbsession.commit()
    dbsession.refresh(bob)
    assert (bob.title, bob.city) == ("Chief Executive", "Rome")
    assert report["conflicts"] == [
        {"entity": "contact", "id": bob.id, "field": "title", "reason": "changed later (ui)"}
    ]
    kept = {(k["entity"], k["id"]): k["reason"] for k in report["kept"]}
    assert kept == {
        ("contact", cy.id): "changed after the import",
        ("account", newco.id): "has contacts the import did not create",
    }
    for record, deleted in ((cy, False), (newco, False), (eve, True), (other, True)):
        dbsession.refresh(record)
        assert (record.deleted_at is not None) is deleted, record
    di = dbsession.scalars(
        select(Contact)
        .where(Contact.email == "di@newco.com")
        .execution_options(include_deleted=True)
    ).one()
    assert di.deleted_at is not None


def test_undo_puts_back_the_provenance_a_batch_only_restamped(dbsession, make_import_batch):
    first = make_import_batch(as_of=T0)
    run(dbsession, first, [row(2, email="ann@acme.com", title="CEO")])
    second = make_import_batch(as_of=T0 + timedelta(days=5))
    run(dbsession, second, [row(2, email="ann@acme.com", title="CEO")])
    ann = dbsession.scalars(select(Contact).where(Contact.email == "ann@acme.com")).one()
    assert ann.field_provenance["title"]["batch"] == second.id
    assert not dbsession.scalars(
        select(AuditEvent).where(AuditEvent.batch_id == second.id)
    ).all()  # nothing changed, so nothing was audited
    report = undo_batch(dbsession, second, PERSON)
    dbsession.commit()
    dbsession.refresh(ann)
    assert report["restored_fields"] == 0
    for name in ("title", "email", "email_domain"):
        assert ann.field_provenance[name] == {
            "source": "import:hubspot",
            "at": T0.isoformat(),
            "batch": first.id,
        }, name


def test_what_cannot_be_undone(dbsession, make_import_batch):
    dry = make_import_batch(dry_run=True)
    run(dbsession, dry, [row(2, email="a@acme.com")])
    with pytest.raises(Conflict, match="dry run"):
        undo_batch(dbsession, dry, PERSON)
    waiting = make_import_batch()
    with pytest.raises(Conflict, match="uploaded"):
        undo_batch(dbsession, waiting, PERSON)


def test_undo_as_a_job(app, dbsession, session_factory, make_import_batch):
    batch = make_import_batch()
    run(dbsession, batch, [row(2, email="job@acme.com", title="CEO")])
    manager = new_transaction_manager()
    with manager:
        session = tm_session(session_factory, manager)
        task = registered_task(app.registry["pivotal.huey"], UNDO_TASK)
        job_id = jobs.enqueue(session, task, UNDO_TASK, {"batch_id": batch.id}).id
    dbsession.expire_all()
    job = dbsession.get(Job, job_id)
    assert job.status == "succeeded", job.error
    assert job.result["deleted"] == {"contact": 1, "account": 0}
    assert dbsession.get(ImportBatch, batch.id).status == "undone"


def test_undo_keeps_a_value_a_later_batch_confirmed(dbsession, make_contact, make_import_batch):
    ann = make_contact(email="ann@acme.com", title="CTO")
    first = make_import_batch(as_of=T0)
    run(dbsession, first, [row(2, email="ann@acme.com", title="CEO", city="Oslo")])
    later = make_import_batch(as_of=T0 + timedelta(days=3))
    run(dbsession, later, [row(2, email="ann@acme.com", title="CEO")])
    report = undo_batch(dbsession, first, PERSON)
    dbsession.commit()
    dbsession.refresh(ann)
    # The later batch said "CEO" too: the title stays; the city, only the first's, goes.
    assert (ann.title, ann.city) == ("CEO", None)
    assert report["conflicts"] == [
        {
            "entity": "contact",
            "id": ann.id,
            "field": "title",
            "reason": f"confirmed later by import batch {later.id}",
        }
    ]
