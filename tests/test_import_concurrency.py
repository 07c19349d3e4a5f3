"""Two imports of overlapping files at the same time, each in its own connection and
committing as it goes, end with one contact per person and one account per domain, and
every row applied (PostgreSQL: SQLite lets one writer in at a time, so imports there are
serialised by the database and cannot race)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from pivotal_core.accounts.models import Account
from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.dataquality.services import create_batch, run_batch
from pivotal_core.db import make_engine, metadata
from pivotal_core.testing.fixtures import TEST_SECRET, in_ci, postgres_test_url

PEOPLE = 600


@pytest.fixture
def scratch_postgres():
    """A PostgreSQL database of its own: the imports commit for real."""
    url = postgres_test_url() or ""
    if not url:
        reason = (
            "concurrent imports need PostgreSQL (PIVOTAL_TEST_POSTGRES_URL or "
            "PIVOTAL_TEST_DATABASE_URL): SQLite admits one writer at a time, so two imports "
            "there never overlap"
        )
        if in_ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    base, _, _ = url.rpartition("/")
    name = f"pivotal_concurrency_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - reported as a failure in CI, a skip elsewhere
        if in_ci():
            pytest.fail(f"PostgreSQL at {url} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {url} is unreachable: {exc}")
    engine = make_engine(f"{base}/{name}", pool_size=4)
    metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _batch(session: Any, source: str, options: dict[str, Any]) -> ImportBatch:
    batch = create_batch(
        session,
        Actor.system("test"),
        entity="contact",
        source=source,
        filename=f"{source}.csv",
        stored_path="/x",
        file_sha256="0" * 64,
        file_format={},
        mapping={},
        options=options,
    )
    session.flush()
    return batch


def person_rows(source: str, people: list[int], field: str, phone_only: bool) -> list[PreparedRow]:
    """Rows about ``people``; with ``phone_only`` every fifth person has no email (found
    by phone), every tenth row is repeated. ``field`` carries a value only this file has."""
    rows = []
    for number, person in enumerate(people, start=2):
        values: dict[str, Any] = {
            "phone": f"+1650253{person:04d}",
            field: f"{source} {person}",
            "last_name": f"Person{person}",
        }
        if person % 5 or not phone_only:
            values["email"] = f"p{person}@company{person % 40}.com"
        rows.append(PreparedRow(number=number, values=values, raw={}))
        if person % 10 == 3:
            rows.append(PreparedRow(number=number + 10_000, values=values, raw={}))
    return rows


# Rows without email take advisory locks on their phones (no unique index to lean on),
# which serialises the chunks that share them; with emails only, the two imports insert
# the same emails at the same moment and the unique index sorts them out.
# With ``existing``, the shared people are contacts already: both imports update the same
# rows at once, and the one that read a row the other changed since goes round again.
@pytest.mark.parametrize(
    ("phone_only", "existing"),
    [(False, False), (True, False), (False, True)],
    ids=["emails", "some-phone-only", "existing-contacts"],
)
def test_overlapping_imports_at_once_make_no_duplicates(scratch_postgres, phone_only, existing):
    factory = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
    # Both files start with the people they share, so the two imports meet at once.
    shared = list(range(200, 400))
    plans = {
        "hubspot": person_rows("hubspot", shared + list(range(0, 200)), "title", phone_only),
        "salesforce": person_rows(
            "salesforce", shared + list(range(400, PEOPLE)), "city", phone_only
        ),
    }
    batch_ids: dict[str, int] = {}
    with factory() as session:
        if existing:
            seed = _batch(session, "zoominfo", {})
            rows = person_rows("zoominfo", shared, "department", phone_only)
            run_batch(session, seed, rows, settings={"auth.secret": TEST_SECRET})
            session.commit()
        for source in plans:
            batch_ids[source] = _batch(session, source, {"create_accounts": True}).id
        session.commit()

    start = threading.Barrier(len(plans))
    results: dict[str, Any] = {}

    def work(source: str) -> None:
        try:
            with factory() as session:
                batch = session.get(ImportBatch, batch_ids[source])
                start.wait()
                results[source] = run_batch(
                    session,
                    batch,
                    plans[source],
                    settings={"auth.secret": TEST_SECRET},
                    chunk_size=40,
                    commit_chunks=True,
                )
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            results[source] = exc

    threads = [threading.Thread(target=work, args=(source,)) for source in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for source, outcome in results.items():
        assert not isinstance(outcome, BaseException), f"{source}: {outcome!r}"

    with factory() as session:
        contacts = session.scalars(select(Contact)).all()
        by_phone: dict[str, list[Contact]] = {}
        for contact in contacts:
            by_phone.setdefault(contact.phone, []).append(contact)
        duplicates = {phone: len(found) for phone, found in by_phone.items() if len(found) > 1}
        assert duplicates == {}
        assert len(contacts) == PEOPLE
        for contact in contacts:
            person = int(contact.last_name[len("Person") :])
            assert contact.phone == f"+1650253{person:04d}"
            # Every row landed: each file's own field is there for each of its people.
            assert (contact.title is not None) == (person < 400), contact
            assert (contact.city is not None) == (person >= 200), contact
            if person % 5 or not phone_only:
                assert contact.email == f"p{person}@company{person % 40}.com"
                assert contact.account_id is not None
        domains = session.execute(
            select(Account.domain, func.count()).group_by(Account.domain)
        ).all()
        expected = {f"company{p % 40}.com" for p in range(PEOPLE) if p % 5 or not phone_only}
        assert sorted(d for d, _ in domains) == sorted(expected)
        assert all(n == 1 for _, n in domains)
    hubspot, salesforce = results["hubspot"], results["salesforce"]
    assert hubspot.created + salesforce.created == PEOPLE - (len(shared) if existing else 0)
    assert hubspot.accounts_created + salesforce.accounts_created == len(expected)
    for counts, rows in ((hubspot, plans["hubspot"]), (salesforce, plans["salesforce"])):
        assert counts.skipped == 0
        assert (
            counts.rows
            == len(rows)
            == (counts.created + counts.updated + counts.unchanged + counts.duplicate_rows)
        )
