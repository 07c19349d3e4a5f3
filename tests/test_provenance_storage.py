"""Field provenance in its stored form (pivotal_core.provenance): an import batch's entry
once per record, the fields naming it; read back as ``{field: entry}`` everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, bindparam, column, insert, select, text
from sqlalchemy import table as sa_table
from test_migrations import scratch_url  # noqa: F401 - the fixture: an empty database

from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import update_contact
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.dataquality.services import run_batch
from pivotal_core.db import JSONValue, UTCDateTime, make_engine
from pivotal_core.migrations.runner import alembic_config, upgrade
from pivotal_core.provenance import REF, compact, expand
from pivotal_core.testing.fixtures import TEST_SECRET

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FIELDS = ("email", "first_name", "last_name", "phone", "title", "city", "country", "tags")


def import_entry(batch: int, source: str = "crm", at: datetime = T0) -> dict[str, Any]:
    return {"source": f"import:{source}", "at": at.isoformat(), "batch": batch}


ENTRIES = st.one_of(
    st.builds(import_entry, st.integers(1, 4), st.sampled_from(["crm", "hubspot"])),
    st.builds(
        lambda user: {"source": "ui", "at": T0.isoformat(), "actor_id": user, "manual": True},
        st.integers(1, 3),
    ),
    st.builds(lambda: {"source": "api", "at": T0.isoformat()}),
)


@given(st.dictionaries(st.sampled_from(FIELDS), ENTRIES))
def test_the_stored_form_reads_back_as_it_was_written(provenance):
    stored = compact(provenance)
    assert expand(stored) == provenance
    assert compact(stored) == stored  # storing what was read changes nothing
    refs = {k: v for k, v in stored.items() if k.startswith(REF)}
    named = {v for k, v in stored.items() if not k.startswith(REF) and isinstance(v, str)}
    # Every stored entry is named by a field, and names the batch its key says.
    assert set(refs) == named
    assert all(k == f"{REF}{v['batch']}" for k, v in refs.items())
    # A batch's entry is stored once: inline only when it differs from the one stored.
    for name, value in stored.items():
        if isinstance(value, dict) and not name.startswith(REF) and "batch" in value:
            assert refs[f"{REF}{value['batch']}"] != value


def test_rows_written_before_the_stored_form_read_as_they_are():
    legacy = {name: import_entry(3) for name in FIELDS}
    assert expand(legacy) == legacy
    assert expand({"#3": import_entry(3), "email": "#3", "city": "#9"}) == {
        "email": import_entry(3)
    }  # a field naming an entry that is not there has no provenance


def prepared(number: int, **values: Any) -> PreparedRow:
    return PreparedRow(
        number=number,
        values=values,
        raw={k: str(v) for k, v in values.items()},
        errors={},
        external_ids={},
        account_domain=None,
        account_name=None,
    )


def run(dbsession, batch, rows: list[PreparedRow]) -> None:
    run_batch(dbsession, batch, rows, settings={"auth.secret": TEST_SECRET})
    dbsession.commit()
    dbsession.expire_all()


def stored(dbsession, contact_id: int) -> dict[str, Any]:
    """The column as the database holds it (SQLite answers JSON text)."""
    value = dbsession.execute(
        text("SELECT field_provenance FROM contacts WHERE id = :id"), {"id": contact_id}
    ).scalar_one()
    return json.loads(value) if isinstance(value, str) else value


def ada(dbsession) -> Contact:
    return dbsession.scalars(select(Contact).where(Contact.email == "ada@example.org")).one()


def test_an_import_stores_its_entry_once_and_a_later_one_leaves_no_stale_entry(
    dbsession, make_import_batch
):
    first = make_import_batch(source="crm", as_of=T0)
    values = dict(email="ada@example.org", first_name="Ada", last_name="Lovelace", city="London")
    run(dbsession, first, [prepared(2, **values)])
    contact = ada(dbsession)
    entry = import_entry(first.id)
    fields = {"email", "email_domain", "first_name", "last_name", "city"}
    assert contact.field_provenance == dict.fromkeys(fields, entry)
    ref = f"{REF}{first.id}"
    assert stored(dbsession, contact.id) == {ref: entry, **dict.fromkeys(fields, ref)}

    # A later batch of the same source sets the email again (a later source of the same
    # value re-stamps it) and changes two fields: the last name keeps the first entry.
    second = make_import_batch(source="crm", as_of=T0 + timedelta(days=1))
    run(dbsession, second, [prepared(2, email="ada@example.org", first_name="A.", city="Paris")])
    later = import_entry(second.id, at=T0 + timedelta(days=1))
    contact = ada(dbsession)
    assert contact.field_provenance == {**dict.fromkeys(fields, later), "last_name": entry}
    later_ref = f"{REF}{second.id}"
    assert stored(dbsession, contact.id) == {
        ref: entry,
        later_ref: later,
        **dict.fromkeys(fields, later_ref),
        "last_name": ref,
    }

    # A third one sets every field: no entry of the first two is left behind.
    third = make_import_batch(source="crm", as_of=T0 + timedelta(days=2))
    run(dbsession, third, [prepared(2, **{**values, "last_name": "King"})])
    newest = import_entry(third.id, at=T0 + timedelta(days=2))
    newest_ref = f"{REF}{third.id}"
    assert stored(dbsession, contact.id) == {
        newest_ref: newest,
        **dict.fromkeys(fields, newest_ref),
    }


def test_a_persons_edit_stays_inline_beside_the_imports_entry(dbsession, make_import_batch):
    batch = make_import_batch(source="crm", as_of=T0)
    run(dbsession, batch, [prepared(2, email="ada@example.org", first_name="Ada", city="London")])
    contact = ada(dbsession)
    update_contact(dbsession, Actor(user_id=None, source="ui"), contact, {"city": "Paris"})
    dbsession.commit()
    dbsession.expire_all()
    contact = ada(dbsession)
    manual = contact.field_provenance["city"]
    assert manual["manual"] is True and manual["source"] == "ui"
    assert contact.field_provenance["first_name"] == import_entry(batch.id)
    raw = stored(dbsession, contact.id)
    assert raw["city"] == manual and raw["first_name"] == f"{REF}{batch.id}"


def test_rows_stored_in_the_old_form_are_read_and_then_rewritten_compactly(
    dbsession, make_import_batch
):
    batch = make_import_batch(source="crm", as_of=T0)
    run(dbsession, batch, [prepared(2, email="ada@example.org", first_name="Ada", city="London")])
    contact_id = ada(dbsession).id
    legacy = {n: import_entry(batch.id) for n in ("email", "email_domain", "first_name", "city")}
    # Written as JSON, past the column's type, as the old code wrote it.
    statement = text("UPDATE contacts SET field_provenance = :p WHERE id = :id").bindparams(
        bindparam("p", type_=JSONValue)
    )
    dbsession.execute(statement, {"p": legacy, "id": contact_id})
    dbsession.commit()
    dbsession.expire_all()
    assert ada(dbsession).field_provenance == legacy

    later = make_import_batch(source="crm", as_of=T0 + timedelta(days=1))
    run(dbsession, later, [prepared(2, email="ada@example.org", city="Paris")])
    raw = stored(dbsession, contact_id)
    assert raw == {
        f"{REF}{batch.id}": import_entry(batch.id),
        f"{REF}{later.id}": import_entry(later.id, at=T0 + timedelta(days=1)),
        "email": f"{REF}{later.id}",
        "email_domain": f"{REF}{later.id}",
        "first_name": f"{REF}{batch.id}",
        "city": f"{REF}{later.id}",
    }


def test_migration_0007_rewrites_old_rows_and_its_downgrade_puts_them_back(
    scratch_url,  # noqa: F811 - the fixture of test_migrations: an empty database
):
    upgrade(scratch_url, "core@0006_domain_sets")
    legacy = {n: import_entry(7) for n in ("email", "first_name", "city")}
    manual = {"title": {"source": "ui", "at": T0.isoformat(), "manual": True}}
    rows = {1: legacy, 2: {**legacy, **manual}, 3: manual, 4: {}}
    table = sa_table(
        "contacts",
        column("id", BigInteger),
        column("field_provenance", JSONValue),
        column("tags", JSONValue),
        column("custom_fields", JSONValue),
        column("created_at", UTCDateTime()),
        column("updated_at", UTCDateTime()),
    )
    engine = make_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(table),
                [
                    {"id": i, "field_provenance": p, "tags": [], "custom_fields": {},
                     "created_at": T0, "updated_at": T0}
                    for i, p in rows.items()
                ],
            )  # fmt: skip

        def read() -> dict[int, Any]:
            with engine.connect() as conn:
                return dict(conn.execute(select(table.c.id, table.c.field_provenance)).all())

        upgrade(scratch_url, "core@0007_compact_provenance")
        after = read()
        assert after == {i: compact(p) for i, p in rows.items()}
        assert after[1] == {"#7": import_entry(7), **dict.fromkeys(legacy, "#7")}
        assert after[3] == manual  # nothing to share: left as it was
        assert {i: expand(p) for i, p in after.items()} == rows
        command.downgrade(alembic_config(scratch_url), "core@0006_domain_sets")
        assert read() == rows
    finally:
        engine.dispose()
