"""Alembic: `pivotal db upgrade` builds exactly the schema the models describe, on the
test database's dialect, and running it twice is harmless."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from pivotal_core.db import make_engine, metadata
from pivotal_core.migrations.runner import current_heads, migration_locations, upgrade


@pytest.fixture
def scratch_url(pivotal_database_url, tmp_path):
    """An empty database of the same kind as the test database."""
    if pivotal_database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}"
        return
    base, _, _ = pivotal_database_url.rpartition("/")
    name = f"pivotal_migrate_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pivotal_database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


EXPRESSION_INDEXES = {
    "ix_accounts_domain_sort",
    "ix_contacts_last_name_sort",
    "ix_contacts_email_sort",
}


# Reflection cannot compare expression indexes; they are checked by name below instead.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
@pytest.mark.filterwarnings("ignore:autogenerate skipping")
def test_upgrade_matches_models(scratch_url, pivotal_engine):
    upgrade(scratch_url)
    upgrade(scratch_url)  # already at head: nothing to do, no error
    engine = make_engine(scratch_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            tables = set(inspect(conn).get_table_names())
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            if conn.dialect.name == "sqlite":
                index_sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
            else:
                index_sql = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            indexes = set(conn.execute(text(index_sql)).scalars())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert {"users", "accounts", "contacts", "audit_events", "jobs"} <= tables
    assert set(version) == set(current_heads(scratch_url))
    assert EXPRESSION_INDEXES <= indexes


def test_core_branch_is_labelled_and_located():
    locations = migration_locations()
    assert any(loc.endswith("pivotal_core/migrations/versions") for loc in locations)
    from alembic.script import ScriptDirectory

    from pivotal_core.migrations.runner import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert "core" in {label for rev in script.walk_revisions() for label in rev.branch_labels}
