"""Tests for pivotal_core.demo: canonical, audited, deterministic demo data."""

from __future__ import annotations

import zoneinfo
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import pycountry
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import pivotal_core.models  # noqa: F401 - every table for metadata.create_all
from pivotal_core.accounts.models import Account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import audit_value, field_changes
from pivotal_core.contacts.models import SENIORITIES, Contact
from pivotal_core.db import make_engine, metadata
from pivotal_core.demo import (
    DEMO_SOURCE,
    HISTORY,
    REFERENCE_TIME,
    DemoDataError,
    DemoSummary,
    load_demo,
)
from pivotal_core.normalize import (
    company_match_key,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_name,
    normalize_phone,
    normalize_tags,
)

ACCOUNTS = 50
CONTACTS = 400
SEED = 7
EUROPEAN_TIMEZONES = {
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "NL": "Europe/Amsterdam",
}


@pytest.fixture
def progress_calls() -> list[tuple[int, int]]:
    return []


@pytest.fixture
def summary(dbsession: Session, progress_calls: list[tuple[int, int]]) -> DemoSummary:
    return load_demo(
        dbsession,
        accounts=ACCOUNTS,
        contacts=CONTACTS,
        seed=SEED,
        progress=lambda done, total: progress_calls.append((done, total)),
    )


def all_accounts(session: Session) -> list[Account]:
    stmt = select(Account).order_by(Account.id).execution_options(include_deleted=True)
    return list(session.scalars(stmt))


def all_contacts(session: Session) -> list[Contact]:
    stmt = select(Contact).order_by(Contact.id).execution_options(include_deleted=True)
    return list(session.scalars(stmt))


def events_by_record(session: Session) -> dict[tuple[str, int], list[AuditEvent]]:
    result: dict[tuple[str, int], list[AuditEvent]] = {}
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        result.setdefault((event.entity, event.entity_id), []).append(event)
    return result


def test_counts_summary_and_progress(dbsession, summary, progress_calls):
    assert summary.accounts == ACCOUNTS
    assert summary.contacts == CONTACTS
    assert summary.seconds > 0
    assert len(all_accounts(dbsession)) == ACCOUNTS
    contacts = all_contacts(dbsession)
    assert len(contacts) == CONTACTS
    deleted = [c for c in contacts if c.deleted_at is not None]
    assert 0 < len(deleted) <= CONTACTS * 0.03
    # Soft-deleted contacts are hidden from ordinary queries.
    assert len(list(dbsession.scalars(select(Contact)))) == CONTACTS - len(deleted)
    assert summary.audit_events == len(list(dbsession.scalars(select(AuditEvent.id))))
    total = ACCOUNTS + CONTACTS
    assert progress_calls[-1] == (total, total)
    assert [done for done, _ in progress_calls] == sorted({done for done, _ in progress_calls})


def test_emails_are_canonical_unique_and_on_the_account_domain(dbsession, summary):
    accounts = {a.id: a for a in all_accounts(dbsession)}
    contacts = all_contacts(dbsession)
    emails = [c.email for c in contacts]
    assert len(set(emails)) == len(emails)
    for contact in contacts:
        assert normalize_email(contact.email) == contact.email
        local, _, domain = contact.email.partition("@")
        assert domain == contact.email_domain
        assert domain == accounts[contact.account_id].domain
        assert local.split(".")[0] and "." in local


def test_phones_are_valid_e164_numbers_of_the_country(dbsession, summary):
    records: list[Any] = [*all_accounts(dbsession), *all_contacts(dbsession)]
    numbers = [
        (record.country, number)
        for record in records
        for number in (record.phone, getattr(record, "mobile", None))
        if number is not None
    ]
    assert len(numbers) > CONTACTS
    for country, number in numbers:
        assert normalize_phone(number, country) == number
        assert normalize_phone(number, "US") == number  # E.164 needs no region
        assert phonenumbers.region_code_for_number(phonenumbers.parse(number)) == country
    contacts = all_contacts(dbsession)
    with_mobile = sum(c.mobile is not None for c in contacts)
    assert 0.25 * CONTACTS < with_mobile < 0.55 * CONTACTS


def test_countries_timezones_and_other_fields_are_canonical(dbsession, summary):
    accounts = all_accounts(dbsession)
    contacts = all_contacts(dbsession)
    zones = zoneinfo.available_timezones()
    for record in [*accounts, *contacts]:
        assert len(record.country) == 2
        assert pycountry.countries.get(alpha_2=record.country) is not None
        assert normalize_country(record.country) == record.country
        assert record.city and record.region
        assert normalize_tags(record.tags) == record.tags
        if record.linkedin_url is not None:
            assert normalize_linkedin_url(record.linkedin_url) == record.linkedin_url
    for contact in contacts:
        assert contact.timezone in zones
        expected = EUROPEAN_TIMEZONES.get(contact.country)
        if expected is None:
            assert contact.country == "US" and contact.timezone.startswith("America/")
        else:
            assert contact.timezone == expected
        assert normalize_name(contact.first_name) == contact.first_name
        assert normalize_name(contact.last_name) == contact.last_name
        assert contact.seniority in SENIORITIES
        assert contact.title and contact.department
        if contact.linkedin_url is not None:
            assert contact.linkedin_url.startswith("https://www.linkedin.com/in/")
    assert {c.seniority for c in contacts} == set(SENIORITIES)
    domains = [d for a in accounts for d in (a.domain, *a.secondary_domains)]
    assert len(set(domains)) == len(domains)
    for account in accounts:
        assert all(normalize_domain(d) == d for d in (account.domain, *account.secondary_domains))
        assert account.name_key == company_match_key(account.name)
        assert account.technologies == sorted(set(account.technologies), key=str.lower)
        assert account.employee_count is None or account.employee_count > 0
    assert len({a.country for a in accounts}) >= 4


def test_contacts_are_skewed_towards_big_accounts(dbsession, summary):
    per_account = Counter(c.account_id for c in all_contacts(dbsession))
    assert max(per_account.values()) >= 3 * CONTACTS / ACCOUNTS


def test_parents_are_earlier_accounts_without_cycles(dbsession, summary):
    accounts = {a.id: a for a in all_accounts(dbsession)}
    children = [a for a in accounts.values() if a.parent_id is not None]
    assert children
    for account in children:
        parent = accounts[account.parent_id]
        assert parent.id < account.id
        assert parent.created_at <= account.created_at
    for account in accounts.values():
        seen = {account.id}
        current = account.parent_id
        while current is not None:
            assert current not in seen
            seen.add(current)
            current = accounts[current].parent_id


def test_timestamps_are_aware_and_in_the_two_years_before_the_reference(dbsession, summary):
    accounts = {a.id: a for a in all_accounts(dbsession)}
    start = REFERENCE_TIME - HISTORY
    assert HISTORY == timedelta(days=730)
    for record in [*accounts.values(), *all_contacts(dbsession)]:
        assert record.created_at.tzinfo is not None
        assert start <= record.created_at < REFERENCE_TIME
        assert record.updated_at == record.created_at
        if isinstance(record, Contact):
            assert record.created_at >= accounts[record.account_id].created_at
            if record.deleted_at is not None:
                assert record.created_at <= record.deleted_at < REFERENCE_TIME


def test_every_set_field_has_provenance_and_a_create_event(dbsession, summary):
    events = events_by_record(dbsession)
    records: list[tuple[str, Any]] = [
        *(("account", a) for a in all_accounts(dbsession)),
        *(("contact", c) for c in all_contacts(dbsession)),
    ]
    assert len(events) == len(records)
    for entity, record in records:
        entry = {"source": DEMO_SOURCE, "at": record.created_at.isoformat()}
        assert record.field_provenance
        assert all(value == entry for value in record.field_provenance.values())
        record_events = events[(entity, record.id)]
        creations = [e for e in record_events if e.action == "create"]
        assert len(creations) == 1
        event = creations[0]
        created = {name: new for name, _, new in field_changes(event)}
        assert set(created) == set(record.field_provenance)
        for field, value in created.items():
            assert value == audit_value(getattr(record, field))
        assert event.old_value is None
        assert event.source == DEMO_SOURCE and event.actor_id is None
        assert event.created_at == record.created_at
        deletions = [e for e in record_events if e.action == "delete"]
        if entity == "contact" and record.deleted_at is not None:
            assert [e.field for e in deletions] == ["deleted_at"]
            assert deletions[0].created_at == record.deleted_at
        else:
            assert deletions == []
    assert {"email", "email_domain", "account_id"} <= set(
        all_contacts(dbsession)[0].field_provenance
    )


def test_refuses_a_database_that_holds_accounts(dbsession, make_account):
    make_account()
    with pytest.raises(DemoDataError, match="already holds accounts"):
        load_demo(dbsession, accounts=5, contacts=10)


def test_refuses_to_load_twice(dbsession, summary):
    with pytest.raises(DemoDataError, match="empty database"):
        load_demo(dbsession, accounts=5, contacts=10)


@pytest.mark.parametrize(
    ("accounts", "contacts"), [(-1, 10), (10, -1), (0, 10)], ids=["neg-acc", "neg-con", "no-acc"]
)
def test_rejects_impossible_sizes(dbsession, accounts, contacts):
    with pytest.raises(DemoDataError):
        load_demo(dbsession, accounts=accounts, contacts=contacts)


def test_reference_time_moves_the_history(dbsession):
    reference = datetime(2030, 6, 1, tzinfo=UTC)
    load_demo(dbsession, accounts=5, contacts=20, reference_time=reference)
    records = [*all_accounts(dbsession), *all_contacts(dbsession)]
    assert all(reference - HISTORY <= r.created_at < reference for r in records)
    with pytest.raises(DemoDataError, match="timezone-aware"):
        load_demo(dbsession, accounts=5, contacts=20, reference_time=datetime(2030, 6, 1))


def load_into_fresh_database(seed: int) -> dict[str, list[tuple[Any, ...]]]:
    """Load a small demo into a new in-memory SQLite database; every row of the tables."""
    engine = make_engine("sqlite:///:memory:", poolclass=StaticPool)
    try:
        metadata.create_all(engine)
        with Session(engine) as session:
            load_demo(session, accounts=30, contacts=200, seed=seed)
            session.commit()
            return {
                table.name: [
                    tuple(row) for row in session.execute(select(table).order_by(table.c.id))
                ]
                for table in (Account.__table__, Contact.__table__, AuditEvent.__table__)
            }
    finally:
        engine.dispose()


def test_same_seed_gives_identical_rows_and_another_seed_different_ones():
    first = load_into_fresh_database(seed=11)
    second = load_into_fresh_database(seed=11)
    other = load_into_fresh_database(seed=12)
    assert first == second
    assert len(first["contacts"]) == 200 and len(first["audit_events"]) > 200
    email_column = [c.name for c in Contact.__table__.columns].index("email")
    emails = {row[email_column] for row in first["contacts"]}
    other_emails = {row[email_column] for row in other["contacts"]}
    assert len(emails & other_emails) < 10
    assert first["accounts"] != other["accounts"]
