"""The import engine: matching (email, phone, LinkedIn, external id; domains), field-level
survivorship with provenance and one audit event per changed field, rejected rows,
erased people, accounts, dry runs, the job, and order independence (a property test)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.services import create_account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import RECORD, Actor, field_changes
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import create_contact, update_contact
from pivotal_core.dataquality import upsert
from pivotal_core.dataquality.identity import identity_digest
from pivotal_core.dataquality.models import ErasedIdentity, ImportBatch, ImportRejection
from pivotal_core.dataquality.prepare import prepare_rows
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.dataquality.services import (
    create_batch,
    mark_failed,
    rejected_rows_csv,
    run_batch,
    start_import,
)
from pivotal_core.dataquality.survivorship import set_rule
from pivotal_core.db import new_transaction_manager, tm_session, utcnow
from pivotal_core.errors import Conflict, ValidationFailed
from pivotal_core.jobs.models import Job
from pivotal_core.testing.fixtures import TEST_SECRET

SETTINGS = {"auth.secret": TEST_SECRET}
T0 = datetime(2026, 3, 1, tzinfo=UTC)
# Contact columns an import can fill or derive (what "all fields" compares).
CONTACT_FIELDS = (*upsert.importable_columns("contact"), "email_domain", "account_id")
ACCOUNT_FIELDS = (*upsert.importable_columns("account"), "name_key")


def row(number: int, external_ids: dict[str, str] | None = None, **values: Any) -> PreparedRow:
    account_domain = values.pop("account_domain", None)
    account_name = values.pop("account_name", None)
    errors = values.pop("errors", None) or {}
    return PreparedRow(
        number=number,
        values=values,
        raw={k: str(v) for k, v in values.items()},
        errors=errors,
        external_ids=external_ids or {},
        account_domain=account_domain,
        account_name=account_name,
    )


def run(dbsession, batch: ImportBatch, rows: list[PreparedRow], **kw: Any) -> upsert.ImportCounts:
    counts = run_batch(dbsession, batch, rows, settings=SETTINGS, **kw)
    dbsession.commit()
    dbsession.expire_all()
    return counts


def contact(dbsession, email: str) -> Contact:
    found = dbsession.scalars(select(Contact).where(Contact.email == email)).all()
    assert len(found) == 1, f"{len(found)} live contacts with {email}"
    return found[0]


def live(dbsession, model: type = Contact) -> int:
    return dbsession.scalar(select(func.count()).select_from(model))


def batch_events(dbsession, batch: ImportBatch) -> list[AuditEvent]:
    return list(
        dbsession.scalars(
            select(AuditEvent).where(AuditEvent.batch_id == batch.id).order_by(AuditEvent.id)
        )
    )


def values_of(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}


# --------------------------------------------------------------------------- basics


def test_new_contacts_get_values_provenance_and_one_audit_event_each(dbsession, make_import_batch):
    batch = make_import_batch(as_of=T0)
    counts = run(
        dbsession,
        batch,
        [
            row(2, email="ada@analytical.io", first_name="Ada", tags=["vip"]),
            row(3, first_name="Grace", last_name="Hopper", phone="+16502530000"),
        ],
    )
    assert (counts.rows, counts.created, counts.updated, counts.skipped) == (2, 2, 0, 0)
    ada = contact(dbsession, "ada@analytical.io")
    assert (ada.first_name, ada.tags, ada.email_domain) == ("Ada", ["vip"], "analytical.io")
    expected = {"source": "import:hubspot", "batch": batch.id, "at": T0.isoformat()}
    assert set(ada.field_provenance) == {"email", "email_domain", "first_name", "tags"}
    assert all(p == expected for p in ada.field_provenance.values())
    events = batch_events(dbsession, batch)
    assert sorted((e.entity_id, e.field, e.old_value) for e in events) == [
        (ada.id, RECORD, None),
        (ada.id + 1, RECORD, None),
    ]
    assert {(e.action, e.source, e.batch_id) for e in events} == {
        ("create", "import:hubspot", batch.id)
    }
    initial = {e.entity_id: {n: new for n, _, new in field_changes(e)} for e in events}
    assert initial == {
        ada.id: {
            "email": "ada@analytical.io",
            "email_domain": "analytical.io",
            "first_name": "Ada",
            "tags": ["vip"],
        },
        ada.id + 1: {"first_name": "Grace", "last_name": "Hopper", "phone": "+16502530000"},
    }
    dbsession.refresh(batch)
    assert batch.status == "succeeded" and batch.finished_at is not None
    assert batch.counts["created"] == 2 and batch.counts["audit_events"] == len(events)


def test_create_batch_checks_its_input(dbsession):
    actor = Actor.system("test")
    common = dict(
        filename="x.csv",
        stored_path="/x",
        file_sha256="0" * 64,
        file_format={},
        mapping={},
    )
    with pytest.raises(ValidationFailed) as exc:
        create_batch(
            dbsession, actor, entity="lead", source="Sales Force", as_of=datetime(2026, 1, 1),
            **common,
        )  # fmt: skip
    assert set(exc.value.fields) == {"entity", "source", "as_of"}
    with pytest.raises(ValidationFailed) as exc:
        create_batch(dbsession, actor, entity="contact", source="manual", **common)
    assert "people typed" in exc.value.fields["source"]
    batch = create_batch(
        dbsession, actor, entity="contact", source=" HubSpot ", options={"create_accounts": 1},
        **common,
    )  # fmt: skip
    assert batch.source == "hubspot" and batch.status == "uploaded"
    assert batch.options == {
        "create_accounts": True,
        "override_manual": False,
        "allow_erased": False,
    }
    assert abs((batch.as_of - utcnow()).total_seconds()) < 60


# --------------------------------------------------------------------------- matching


def test_emails_differing_in_case_and_whitespace_match(dbsession, make_contact, make_import_batch):
    existing = make_contact(email="jane.doe@acme.com", first_name="Jane")
    mapping = {"Email": "email", "Title": "title"}
    cells = [
        (2, {"Email": "  Jane.DOE@Acme.COM ", "Title": "CFO"}),
        (3, {"Email": "JANE.doe@acme.com\u00a0", "Title": "CFO"}),
    ]
    rows = list(prepare_rows("contact", cells, mapping, default_region="US", source="hubspot"))
    counts = run(dbsession, make_import_batch(), rows)
    assert (counts.created, counts.updated, counts.duplicate_rows) == (0, 1, 1)
    assert live(dbsession) == 1
    assert contact(dbsession, "jane.doe@acme.com").id == existing.id
    assert contact(dbsession, "jane.doe@acme.com").title == "CFO"


def test_rows_without_email_match_on_phone_or_mobile(dbsession, make_contact, make_import_batch):
    office = make_contact(email="a@one.com", phone="+16502530000")
    cell = make_contact(email="b@two.com", mobile="+16502530011")
    counts = run(
        dbsession,
        make_import_batch(),
        [
            row(2, phone="+16502530000", title="Office"),
            # The row's mobile is the contact's phone: a phone number is a phone number.
            row(3, mobile="+16502530011", title="Cell"),
        ],
    )
    assert (counts.created, counts.updated) == (0, 2)
    dbsession.refresh(office)
    dbsession.refresh(cell)
    assert (office.title, cell.title) == ("Office", "Cell")


def test_two_emails_are_two_people_even_with_one_phone(dbsession, make_contact, make_import_batch):
    switchboard = "+16502530000"
    first = make_contact(email="a@acme.com", phone=switchboard)
    counts = run(dbsession, make_import_batch(), [row(2, email="b@acme.com", phone=switchboard)])
    assert counts.created == 1
    dbsession.refresh(first)
    assert first.email == "a@acme.com"
    assert contact(dbsession, "b@acme.com").phone == switchboard


def test_an_email_row_completes_the_contact_without_email_it_matches(
    dbsession, make_contact, make_import_batch
):
    known = make_contact(email=None, first_name="Pat", linkedin_url="linkedin.com/in/pat-1")
    counts = run(
        dbsession,
        make_import_batch(),
        [row(2, email="pat@acme.com", linkedin_url="https://www.linkedin.com/in/pat-1")],
    )
    assert (counts.created, counts.updated) == (0, 1)
    assert contact(dbsession, "pat@acme.com").id == known.id


def test_an_email_a_merge_kept_finds_the_survivor(dbsession, make_contact, make_import_batch):
    survivor = make_contact(email="ann@acme.com", title="CTO")
    # What a merge leaves: the merged contact's email kept on the survivor.
    dbsession.add(ContactIdentifier(contact_id=survivor.id, kind="email", value="ann@old.com"))
    dbsession.commit()
    counts = run(dbsession, make_import_batch(), [row(2, email="ann@old.com", title="CEO")])
    assert (counts.created, counts.updated) == (0, 1)
    dbsession.refresh(survivor)
    assert (survivor.email, survivor.title) == ("ann@acme.com", "CEO")


def test_matching_by_linkedin_url(dbsession, make_contact, make_import_batch):
    known = make_contact(linkedin_url="https://www.linkedin.com/in/ada-l")
    run(
        dbsession,
        make_import_batch(),
        [row(2, linkedin_url="https://www.linkedin.com/in/ada-l", city="London")],
    )
    dbsession.refresh(known)
    assert known.city == "London" and live(dbsession) == 1


def test_matching_by_the_external_id_of_the_batch_source(
    dbsession, make_contact, make_import_batch
):
    actor = Actor.system("test")
    known = make_contact(email="old@acme.com")
    update_contact(dbsession, actor, known, {"external_ids": {"salesforce": "003A"}})
    dbsession.commit()
    # A HubSpot batch does not read Salesforce ids; a Salesforce batch does.
    counts = run(
        dbsession,
        make_import_batch(source="hubspot"),
        [row(2, {"hubspot": "003A"}, first_name="Other")],
    )
    assert counts.created == 1
    counts = run(
        dbsession,
        make_import_batch(source="salesforce"),
        [row(2, {"salesforce": "003A"}, title="VP Sales")],
    )
    assert counts.updated == 1
    dbsession.refresh(known)
    assert known.title == "VP Sales"
    ids = dbsession.execute(
        select(ContactIdentifier.kind, ContactIdentifier.value).order_by(ContactIdentifier.kind)
    ).all()
    assert ids == [("external:hubspot", "003A"), ("external:salesforce", "003A")]


def test_an_external_id_of_another_contact_rejects_the_row(
    dbsession, make_contact, make_import_batch
):
    owner = make_contact(email="owner@acme.com")
    update_contact(dbsession, Actor.system("test"), owner, {"external_ids": {"hubspot": "42"}})
    dbsession.commit()
    batch = make_import_batch()
    counts = run(dbsession, batch, [row(7, {"hubspot": "42"}, email="someone.else@acme.com")])
    assert (counts.created, counts.skipped) == (0, 1)
    rejection = dbsession.scalars(select(ImportRejection)).one()
    assert rejection.row_number == 7
    assert f"contact {owner.id}" in rejection.reasons["external_id"]


# --------------------------------------------------------------------------- survivorship


def test_a_blank_never_overwrites_a_value(dbsession, make_contact, make_import_batch):
    known = make_contact(email="ada@acme.com", title="CEO", city="Paris", tags=["vip"])
    batch = make_import_batch()
    counts = run(dbsession, batch, [row(2, email="ada@acme.com", title="", tags=[], city=None)])
    assert (counts.updated, counts.unchanged) == (0, 1)
    dbsession.refresh(known)
    assert (known.title, known.city, known.tags) == ("CEO", "Paris", ["vip"])
    assert batch_events(dbsession, batch) == []


def test_manual_values_are_locked_unless_the_batch_overrides(dbsession, make_import_batch):
    person = Actor(user_id=None, source="ui")
    typed = create_contact(dbsession, person, {"email": "ada@acme.com", "title": "Founder"})
    dbsession.commit()
    counts = run(
        dbsession, make_import_batch(), [row(2, email="ada@acme.com", title="CEO", city="Rome")]
    )
    dbsession.refresh(typed)
    assert (typed.title, typed.city, counts.updated) == ("Founder", "Rome", 1)
    assert typed.field_provenance["title"]["manual"] is True
    run(
        dbsession,
        make_import_batch(override_manual=True),
        [row(2, email="ada@acme.com", title="CEO")],
    )
    dbsession.refresh(typed)
    assert typed.title == "CEO" and "manual" not in typed.field_provenance["title"]


def test_source_priority_then_the_later_as_of(dbsession, make_import_batch):
    def title_after(source: str, day: int, title: str) -> str:
        run(
            dbsession,
            make_import_batch(source=source, as_of=T0 + timedelta(days=day)),
            [row(2, email="ada@acme.com", title=title)],
        )
        return contact(dbsession, "ada@acme.com").title

    assert title_after("hubspot", 0, "A") == "A"
    assert title_after("salesforce", -10, "B") == "B"  # higher priority, even older
    assert title_after("hubspot", 50, "C") == "B"  # lower priority, even newer
    assert title_after("salesforce", -20, "D") == "B"  # equal priority, older
    assert title_after("salesforce", 1, "E") == "E"  # equal priority, newer
    # A rule for the field puts HubSpot first for titles only.
    set_rule(dbsession, Actor.system("test"), "contact", "title", ["hubspot", "salesforce"])
    dbsession.commit()
    assert title_after("hubspot", -100, "F") == "F"


def test_audit_rows_equal_the_changed_fields(dbsession, make_contact, make_import_batch):
    a = make_contact(email="a@acme.com", first_name="Ann", title="CTO", city="Oslo")
    b = make_contact(email="b@acme.com", first_name="Bob", title="CFO")
    before = {c.id: values_of(c, CONTACT_FIELDS) for c in (a, b)}
    batch = make_import_batch()
    counts = run(
        dbsession,
        batch,
        [
            row(2, email="a@acme.com", first_name="Ann", title="CEO", department="Board"),
            row(3, email="b@acme.com", first_name="Bob", title="CFO"),  # nothing new
            row(4, email="c@acme.com", first_name="Cy"),
        ],
    )
    assert (counts.updated, counts.unchanged, counts.created) == (1, 1, 1)
    dbsession.refresh(a)
    changed = {f for f in CONTACT_FIELDS if before[a.id][f] != getattr(a, f)}  # title, department
    assert changed == {"title", "department"}
    events = batch_events(dbsession, batch)
    updates = [
        (e.entity_id, e.field, e.old_value, e.new_value) for e in events if e.action == "update"
    ]
    assert sorted(updates) == [(a.id, "department", None, "Board"), (a.id, "title", "CTO", "CEO")]
    c = contact(dbsession, "c@acme.com")
    assert sorted(n for e in events if e.action == "create" for n, _, _ in field_changes(e)) == [
        "email",
        "email_domain",
        "first_name",
    ]
    assert {e.entity_id for e in events if e.action == "create"} == {c.id}
    assert counts.audit_events == len(events)


def test_rows_of_one_record_in_one_file_fold_the_same_in_any_order(dbsession, make_import_batch):
    rows = [
        row(2, email="ada@acme.com", title="CTO", city="Paris"),
        row(3, email="ada@acme.com", title="CEO"),
        row(4, email="ada@acme.com", department="Board", city="Berlin"),
    ]
    outcomes = []
    for order, batch in zip(
        (rows, rows[::-1]), (make_import_batch(), make_import_batch()), strict=True
    ):
        savepoint = dbsession.begin_nested()
        counts = run_batch(dbsession, batch, order, settings=SETTINGS)
        dbsession.flush()
        found = dbsession.scalars(select(Contact).where(Contact.email == "ada@acme.com")).one()
        outcomes.append((values_of(found, ("title", "city", "department")), counts.duplicate_rows))
        savepoint.rollback()
    assert (
        outcomes[0] == outcomes[1] == ({"title": "CTO", "city": "Paris", "department": "Board"}, 2)
    )


# --------------------------------------------------------------------------- rejections


def test_rejected_rows_are_kept_with_their_reasons(dbsession, make_import_batch):
    batch = make_import_batch()
    rows = [
        row(2, email="ok@acme.com"),
        PreparedRow(
            number=3,
            values={"first_name": "Eve"},
            raw={"Email": "eve@@acme", "Name": '=HYPERLINK("x")'},
            errors={"email": "is not a valid email address"},
        ),
        row(4, title="No name, no email"),
    ]
    counts = run(dbsession, batch, rows)
    assert (counts.created, counts.skipped) == (1, 2)
    assert counts.skipped_reasons == {"email": 2}
    rejections = dbsession.scalars(
        select(ImportRejection)
        .where(ImportRejection.batch_id == batch.id)
        .order_by(ImportRejection.row_number)
    ).all()
    assert [(r.row_number, r.reasons) for r in rejections] == [
        (3, {"email": "is not a valid email address"}),
        (4, {"email": "an email or a name is required"}),
    ]
    assert rejections[0].raw == {"Email": "eve@@acme", "Name": '=HYPERLINK("x")'}
    batch.file_format = {"headers": ["Email", "Name", "Title"]}
    dbsession.commit()
    text = b"".join(rejected_rows_csv(dbsession, batch)).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0] == "Rejected because,Row,Email,Name,Title"
    assert lines[1] == 'email: is not a valid email address,3,eve@@acme,"\'=HYPERLINK(""x"")",'
    assert lines[2].startswith("email: an email or a name is required,4,,,")


def test_erased_people_are_skipped_unless_allowed(dbsession, make_import_batch):
    dbsession.add(
        ErasedIdentity(
            kind="phone",
            digest=identity_digest("phone", "+16502530000", TEST_SECRET),
            erased_at=utcnow(),
        )
    )
    dbsession.commit()
    rows = [row(2, email="gone@acme.com", mobile="+16502530000"), row(3, email="kept@acme.com")]
    counts = run(dbsession, make_import_batch(), rows)
    assert (counts.created, counts.skipped, counts.skipped_reasons) == (1, 1, {"erased": 1})
    assert live(dbsession) == 1
    reasons = dbsession.scalars(select(ImportRejection.reasons)).one()
    assert "erased" in reasons and "allow_erased" in reasons["erased"]
    with pytest.raises(ValueError, match="auth.secret"):
        run_batch(dbsession, make_import_batch(), rows, settings={})
    dbsession.rollback()
    counts = run(dbsession, make_import_batch(allow_erased=True), rows)
    assert counts.created == 1 and live(dbsession) == 2


# --------------------------------------------------------------------------- accounts


def test_contacts_attach_to_accounts_by_domain(dbsession, make_account, make_import_batch):
    acme = make_account(name="Acme", domain="acme.com", secondary_domains=["acme.io"])
    counts = run(
        dbsession,
        make_import_batch(),
        [
            row(2, email="a@acme.com"),  # email domain
            row(3, email="b@gmail.com", account_domain="acme.io"),  # explicit, secondary
            row(4, email="c@gmail.com", account_name="Acme"),  # free mail, a name only
            row(5, email="d@newco.com", account_name="NewCo"),  # no account, none made
        ],
    )
    assert counts.accounts_created == 0
    attached = {c.email: c.account_id for c in dbsession.scalars(select(Contact))}
    assert attached == {
        "a@acme.com": acme.id,
        "b@gmail.com": acme.id,
        "c@gmail.com": None,
        "d@newco.com": None,
    }
    batch = make_import_batch(create_accounts=True)
    counts = run(
        dbsession,
        batch,
        [
            row(2, email="d@newco.com", account_name="NewCo Inc."),
            row(3, email="e@other.org", account_domain="newco.com"),
            row(4, email="f@yahoo.com"),
            row(5, email="g@nameless.net"),
        ],
    )
    assert counts.accounts_created == 2
    accounts = {a.domain: a for a in dbsession.scalars(select(Account))}
    assert set(accounts) == {"acme.com", "newco.com", "nameless.net"}
    assert (accounts["newco.com"].name, accounts["newco.com"].name_key) == ("NewCo Inc.", "newco")
    assert accounts["nameless.net"].name == "nameless.net"
    assert accounts["newco.com"].field_provenance["domain"]["batch"] == batch.id
    attached = {c.email: c.account_id for c in dbsession.scalars(select(Contact))}
    assert attached["d@newco.com"] == attached["e@other.org"] == accounts["newco.com"].id
    assert attached["f@yahoo.com"] is None
    created = [e for e in batch_events(dbsession, batch) if e.entity == "account"]
    assert sorted((e.entity_id, n) for e in created for n, _, _ in field_changes(e)) == sorted(
        (a.id, f)
        for a in (accounts["newco.com"], accounts["nameless.net"])
        for f in ("domain", "name")
    )


def test_account_imports_match_on_domains_then_name(dbsession, make_account, make_import_batch):
    acme = make_account(name="Acme", domain="acme.com", secondary_domains=["acme.io"])
    bare = make_account(name="Bare Corp", domain=None)
    make_account(name="Twin", domain="twin-one.com")
    make_account(name="Twin", domain="twin-two.com")
    counts = run(
        dbsession,
        make_import_batch(entity="account"),
        [
            row(2, domain="acme.io", industry="Software"),  # secondary: the primary stays
            row(3, domain="bare.com", name="Bare Corp.", employee_count=40),  # name, no domain
            row(4, name="Twin", industry="Retail"),  # two accounts of that name
            row(5, domain="fresh.com", name="Fresh", secondary_domains=["acme.com"]),
            row(6, domain="new.com", name="New", secondary_domains=["new.io", "new.com"]),
            row(7, domain="nameless.com"),
        ],
    )
    assert (counts.updated, counts.created, counts.skipped) == (2, 1, 3)
    dbsession.refresh(acme)
    dbsession.refresh(bare)
    assert (acme.domain, acme.industry) == ("acme.com", "Software")
    assert (bare.domain, bare.employee_count, bare.name) == ("bare.com", 40, "Bare Corp.")
    new = dbsession.scalars(select(Account).where(Account.domain == "new.com")).one()
    assert new.secondary_domains == ["new.io"] and new.name_key == "new"
    reasons = dict(
        dbsession.execute(select(ImportRejection.row_number, ImportRejection.reasons)).all()
    )
    assert "2 accounts" in reasons[4]["name"]
    assert f"account {acme.id}" in reasons[5]["secondary_domains"]
    assert reasons[7] == {"name": "is required to create an account"}


# --------------------------------------------------------------------------- runs


def test_a_dry_run_writes_nothing_but_its_report(dbsession, make_contact, make_import_batch):
    known = make_contact(email="a@acme.com", title="CTO")
    audit_before = dbsession.scalar(select(func.count()).select_from(AuditEvent))
    batch = make_import_batch(dry_run=True, create_accounts=True)
    counts = run(
        dbsession,
        batch,
        [
            row(2, email="a@acme.com", title="CEO"),
            row(3, email="new@newco.com"),
            row(4, errors={"email": "is not a valid email address"}),
        ],
    )
    assert (counts.updated, counts.created, counts.accounts_created, counts.skipped) == (1, 1, 2, 1)
    dbsession.refresh(known)
    assert known.title == "CTO" and live(dbsession) == 1 and live(dbsession, Account) == 0
    audit_after = dbsession.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.entity != "import_batch")
    )
    assert audit_after == audit_before and not batch_events(dbsession, batch)
    dbsession.refresh(batch)
    assert batch.status == "succeeded" and batch.counts["created"] == 1
    assert dbsession.scalar(select(func.count()).select_from(ImportRejection)) == 1


def test_a_failed_run_continues_after_its_last_committed_chunk(dbsession, make_import_batch):
    batch = make_import_batch()
    rows = [row(n, email=f"p{n}@acme.com", title="T") for n in range(2, 9)]

    def breaking():
        yield from rows[:4]
        raise OSError("disk went away")

    with pytest.raises(OSError):
        run_batch(dbsession, batch, breaking(), settings=SETTINGS, chunk_size=2, commit_chunks=True)
    dbsession.rollback()
    mark_failed(dbsession, batch.id, "OSError: disk went away")
    dbsession.commit()
    dbsession.refresh(batch)
    assert batch.status == "failed" and batch.counts["rows"] == 4 and live(dbsession) == 4
    counts = run(dbsession, batch, rows, chunk_size=2, commit_chunks=True)
    assert (counts.rows, counts.created, counts.unchanged) == (7, 7, 0)
    assert live(dbsession) == 7 and len(batch_events(dbsession, batch)) == 7
    with pytest.raises(Conflict):
        run_batch(dbsession, batch, rows, settings=SETTINGS)


def test_work_without_the_database_is_done_while_postgresql_stores_rows(
    dbsession, make_contact, make_import_batch, monkeypatch
):
    """The changes to existing records are decided while the new ones are stored, and the
    next chunk is read then too when the chunk changes nothing, else while the audit
    events are stored: PostgreSQL is busy with a COPY each time. The outcome is what it
    was without this (one audit event per change, in order)."""
    if dbsession.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY, and so the overlap, is PostgreSQL's; SQLite runs it all in turn")
    from psycopg.pq import TransactionStatus

    driver = dbsession.connection().connection.driver_connection
    seen: dict[str, list[TransactionStatus]] = {"decide": [], "read": []}
    plan = upsert._Importer._plan_updates

    def deciding(self, *args, **kwargs):
        seen["decide"].append(driver.info.transaction_status)
        return plan(self, *args, **kwargs)

    monkeypatch.setattr(upsert._Importer, "_plan_updates", deciding)
    known = [make_contact(email=f"k{n}@acme.com", title="Old") for n in range(3)]

    def rows():
        for n in range(3):  # chunks of two: an existing contact and a new one each
            if n:
                seen["read"].append(driver.info.transaction_status)
            yield row(2 * n + 2, email=f"k{n}@acme.com", title="New")
            yield row(2 * n + 3, email=f"new{n}@acme.com", title="New")
        seen["read"].append(driver.info.transaction_status)
        yield row(8, email="new3@acme.com")  # a chunk of one new contact, no changes
        seen["read"].append(driver.info.transaction_status)

    batch = make_import_batch()
    counts = run(dbsession, batch, rows(), chunk_size=2)

    busy = TransactionStatus.ACTIVE
    assert seen == {"decide": [busy] * 4, "read": [busy] * 4}
    assert (counts.rows, counts.created, counts.updated) == (7, 4, 3)
    events = [(e.entity_id, e.action, e.field) for e in batch_events(dbsession, batch)]
    created = [contact(dbsession, f"new{n}@acme.com").id for n in range(3)]
    assert events == [
        event
        for n in range(3)
        for event in ((created[n], "create", RECORD), (known[n].id, "update", "title"))
    ] + [(contact(dbsession, "new3@acme.com").id, "create", RECORD)]


@pytest.mark.parametrize("others", [1, 3_000])
def test_a_record_created_meanwhile_by_another_import_is_updated(
    dbsession, make_contact, make_import_batch, monkeypatch, others
):
    """Another import commits the same email just after this one looked for it: the insert
    meets the live-email unique index, the chunk runs again and the row becomes an update
    of that contact (no duplicate, no lost row). With thousands of new rows behind it, COPY
    may stop while they are still being built: none of them is lost either."""
    other = make_contact(email="race@acme.com", first_name="Rae", title=None)
    original = upsert._Database.rows
    lookups: list[int] = []

    def first_lookup_misses(self, stmt):
        found = original(self, stmt)
        if not lookups and "email" in str(stmt):
            lookups.append(len(found))
            return [r for r in found if r[0] != "race@acme.com"]
        return found

    monkeypatch.setattr(upsert._Database, "rows", first_lookup_misses)
    batch = make_import_batch()
    rows = [row(2, email="race@acme.com", title="CEO")]
    rows += [row(3 + n, email=f"x{n}@y.com") for n in range(others)]
    counts = run(dbsession, batch, rows)
    assert lookups == [1]  # the contact was there, and the first attempt did not see it
    assert (counts.created, counts.updated, counts.rows) == (others, 1, others + 1)
    assert live(dbsession) == others + 1
    dbsession.refresh(other)
    assert (other.first_name, other.title) == ("Rae", "CEO")
    updates = [
        (e.entity_id, e.field) for e in batch_events(dbsession, batch) if e.action == "update"
    ]
    assert updates == [(other.id, "title")]


def rows_for_job(batch: ImportBatch, default_region: str, session: Any) -> list[PreparedRow]:
    """A rows factory for the job test (module level, so a worker can import it)."""
    return [row(2, email="job@acme.com", title=f"from {batch.source} in {default_region}")]


def start_in_transaction(session_factory, batch_id: int, huey: Any, rows_factory=None) -> int:
    """Start the batch as a request would: in a transaction manager's transaction, whose
    commit sends the task (which, in the tests' immediate mode, runs right away)."""
    manager = new_transaction_manager()
    with manager:
        session = tm_session(session_factory, manager)
        job = start_import(session, session.get(ImportBatch, batch_id), rows_factory, huey=huey)
        job_id = job.id
    return job_id


def test_start_import_runs_the_batch_as_a_job(app, dbsession, session_factory, make_import_batch):
    batch = make_import_batch()
    huey = app.registry["pivotal.huey"]
    job_id = start_in_transaction(session_factory, batch.id, huey, rows_for_job)
    dbsession.expire_all()
    job = dbsession.get(Job, job_id)
    assert job.status == "succeeded", job.error
    assert job.result["created"] == 1
    assert contact(dbsession, "job@acme.com").title == "from hubspot in US"
    dbsession.refresh(batch)
    assert (batch.status, batch.job_id) == ("succeeded", job_id)
    with pytest.raises(Conflict):
        start_import(dbsession, batch, rows_for_job, huey=huey)


def test_the_job_reads_the_stored_file(app, dbsession, session_factory, tmp_path):
    from pivotal_core.dataquality.files import sniff
    from pivotal_core.dataquality.mapping import suggest_mapping

    path = tmp_path / "people.csv"
    path.write_text(
        "Email,First Name,Phone,Company\n"
        " ADA@Analytical.IO ,ADA,(650) 253-0000,Analytical\n"
        "not-an-email,Bob,,\n",
        encoding="utf-8",
    )
    fmt = sniff(path)
    batch = create_batch(
        dbsession,
        Actor(user_id=None, source="ui"),
        entity="contact",
        source="tradeshow",
        filename="people.csv",
        stored_path=str(path),
        file_sha256="0" * 64,
        file_format=fmt.as_dict(),
        mapping=suggest_mapping("contact", fmt.headers),
        options={"create_accounts": True},
    )
    dbsession.commit()
    start_in_transaction(session_factory, batch.id, app.registry["pivotal.huey"])
    dbsession.expire_all()
    ada = contact(dbsession, "ada@analytical.io")
    assert (ada.first_name, ada.phone) == ("Ada", "+16502530000")
    assert dbsession.get(Account, ada.account_id).name == "Analytical"
    dbsession.refresh(batch)
    assert (batch.status, batch.counts["created"], batch.counts["skipped"]) == ("succeeded", 1, 1)


# --------------------------------------------------------------------------- order independence

PEOPLE = 4
SOURCES = ("salesforce", "hubspot", "tradeshow", "zoominfo")
DAYS = (0, 1, 2)


def person_row(number: int, person: int, source: str, draw: Any) -> PreparedRow:
    """A row about ``person``: every row carries the person's phone number (a key that
    links all rows of a person, so whether rows meet does not depend on what ran first),
    the email may be blank, the other fields vary and any of them may be blank."""
    values: dict[str, Any] = {"phone": f"+1650253{person:04d}"}
    with_email = draw(st.booleans()) or person == 0
    if with_email:
        values["email"] = f"person{person}@company{person % 2}.com"
    else:
        values["first_name"] = draw(st.sampled_from(["Kim", "Lee"]))
    for name, options in (
        ("first_name", ["Ann", "Bea", "Cy"]),
        ("title", ["CEO", "CTO", "VP Sales"]),
        ("city", ["Oslo", "Rome"]),
        ("mobile", [f"+1650254{person:04d}"]),
        ("linkedin_url", [f"https://www.linkedin.com/in/person-{person}"]),
        ("tags", [["a"], ["a", "b"], ["c"]]),
        ("custom_fields.score", [1, 2, 3.5]),
    ):
        if draw(st.booleans()):
            values[name] = draw(st.sampled_from(options))
    external = {source: f"{source}-{person}"} if draw(st.booleans()) else {}
    return PreparedRow(number=number, values=values, raw={}, external_ids=external)


@st.composite
def batches(draw: Any) -> list[dict[str, Any]]:
    # One choice for all batches: a batch that may create accounts says more about a
    # contact (its account) than one that may not, whatever else ran before it.
    create_accounts = draw(st.booleans())
    specs = []
    for index in range(draw(st.integers(min_value=2, max_value=3))):
        source = draw(st.sampled_from(SOURCES))
        people = draw(st.lists(st.integers(0, PEOPLE - 1), min_size=1, max_size=6))
        rows = [person_row(n + 2, p, source, draw) for n, p in enumerate(people)]
        specs.append(
            {
                "name": f"batch{index}",
                "source": source,
                "as_of": T0 + timedelta(days=draw(st.sampled_from(DAYS))),
                "create_accounts": create_accounts,
                "rows": rows,
            }
        )
    return specs


def snapshot(dbsession, names: dict[int, str]) -> dict[str, Any]:
    """Contacts by identity (email, else their external ids), every field and provenance,
    account ids as domains, batch ids as batch names; and the audit trail's last word on
    each field, which must be the field's value."""
    domains = dict(dbsession.execute(select(Account.id, Account.domain)).all())
    identifiers: dict[int, dict[str, str]] = {}
    for contact_id, kind, value in dbsession.execute(
        select(ContactIdentifier.contact_id, ContactIdentifier.kind, ContactIdentifier.value)
    ):
        identifiers.setdefault(contact_id, {})[kind] = value
    last_word: dict[tuple[int, str], Any] = {}
    for event in dbsession.scalars(
        select(AuditEvent).where(AuditEvent.entity == "contact").order_by(AuditEvent.id)
    ):
        last_word[(event.entity_id, event.field)] = event.new_value
    state: dict[str, Any] = {}
    for record in dbsession.scalars(select(Contact)):
        values = values_of(record, CONTACT_FIELDS)
        values["account_id"] = domains.get(record.account_id)
        values["custom_fields"] = dict(record.custom_fields)
        values["identifiers"] = identifiers.get(record.id, {})
        provenance = {}
        for field, entry in record.field_provenance.items():
            if entry.get("batch") in names:
                provenance[field] = {**entry, "batch": names[entry["batch"]]}
            else:  # set before the batches (the time it was typed differs per run)
                provenance[field] = {k: v for k, v in entry.items() if k != "at"}
        key = record.email or repr(sorted(values["identifiers"].items()) or record.phone)
        assert key not in state, f"two contacts for {key}"
        state[key] = {"values": values, "provenance": provenance}
        for field in ("title", "city", "first_name", "phone", "tags"):
            if (record.id, field) in last_word:
                assert last_word[(record.id, field)] == getattr(record, field)
    return state


def permutation_outcomes(dbsession, specs: list[dict[str, Any]], orders) -> list[Any]:
    outcomes = []
    for order in orders:
        savepoint = dbsession.begin_nested()
        try:
            # What was there before: an account, and a contact with a title a person typed.
            create_account(
                dbsession, Actor.system("test"), {"name": "C1", "domain": "company1.com"}
            )
            create_contact(
                dbsession,
                Actor(user_id=None, source="ui"),
                {
                    "email": "person3@company1.com",
                    "phone": "+16502530003",
                    "title": "Typed",
                    "city": "Lima",
                },
            )
            # The batches exist (uploaded) before any runs; they run in ``order``.
            made = {}
            for spec in specs:
                made[spec["name"]] = create_batch(
                    dbsession,
                    Actor.system("test"),
                    entity="contact",
                    source=spec["source"],
                    filename=f"{spec['name']}.csv",
                    stored_path="/x",
                    file_sha256="0" * 64,
                    file_format={},
                    mapping={},
                    options={"create_accounts": spec["create_accounts"]},
                    as_of=spec["as_of"],
                )
            for index in order:
                spec = specs[index]
                run_batch(dbsession, made[spec["name"]], spec["rows"], settings=SETTINGS)
            dbsession.flush()
            dbsession.expire_all()
            names = {batch.id: name for name, batch in made.items()}
            outcomes.append(snapshot(dbsession, names))
        finally:
            savepoint.rollback()
    return outcomes


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=batches(), seed=st.integers(0, 1000))
def test_any_order_of_the_same_batches_ends_the_same(dbsession, specs, seed):
    """Records, provenance and the audit trail's final word do not depend on the order the
    batches run in (nor on the order of the rows in a file)."""
    orders = list(itertools.permutations(range(len(specs))))
    random.Random(seed).shuffle(orders)
    for spec in specs:
        random.Random(seed).shuffle(spec["rows"])
    outcomes = permutation_outcomes(dbsession, specs, orders[:3])
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])
    assert outcomes[0]  # something was imported


def test_record_ids_behave_as_a_set_of_ids():
    ids = upsert.RecordIds([3, 8, 8, 1_000_003])
    assert len(ids) == 3
    assert 8 in ids and 3 in ids and 1_000_003 in ids
    assert 4 not in ids and 2_000_000 not in ids and -1 not in ids and "8" not in ids
    ids.discard(8)
    ids.discard(9)  # absent: nothing happens
    ids.discard(5_000_000)
    assert 8 not in ids and len(ids) == 2
    ids.update(range(10))
    assert len(ids) == 11 and all(i in ids for i in range(10))
