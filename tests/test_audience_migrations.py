"""Migration 0005: the audience tables and filter indexes come and go with it, on the test
database's dialect (the match between models and migrations is tests/test_migrations.py)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect
from test_migrations import scratch_url  # noqa: F401 - the fixture: an empty database

from pivotal_core.db import make_engine
from pivotal_core.migrations.runner import alembic_config, upgrade

TABLES = {"saved_filters", "segments", "lists", "list_members", "suppressions", "consents"}
INDEXES = {
    "contacts": {"ix_contacts_seniority"},
    "accounts": {"ix_accounts_employee_count", "ix_accounts_annual_revenue"},
    "list_members": {"ix_list_members_record_id"},
    "segments": {"ix_segments_is_active", "ix_segments_owner_id"},
}


def schema(url: str) -> tuple[set[str], dict[str, set[str]]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            tables = set(inspector.get_table_names())
            indexes = {
                table: {index["name"] for index in inspector.get_indexes(table)}
                for table in INDEXES
                if table in tables
            }
    finally:
        engine.dispose()
    return tables, indexes


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
def test_0005_upgrades_and_downgrades(scratch_url):  # noqa: F811
    upgrade(scratch_url)
    tables, indexes = schema(scratch_url)
    assert tables >= TABLES
    for table, names in INDEXES.items():
        assert names <= indexes[table], table
    command.downgrade(alembic_config(scratch_url), "0004_import_match_indexes")
    tables, indexes = schema(scratch_url)
    assert not tables & TABLES
    assert not indexes["contacts"] & INDEXES["contacts"]
    assert not indexes["accounts"] & INDEXES["accounts"]
    upgrade(scratch_url)
    assert schema(scratch_url)[0] >= TABLES
