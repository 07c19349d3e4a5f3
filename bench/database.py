"""The benchmark database: URLs, schema creation and reset, and the ``bench_meta`` marker table.

``bench_meta`` remembers what a generator loaded (seed, sizes, generator version), so that
``bench.run_all`` can skip reloading an identical data set.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Engine

from pivotal_core.db import make_engine, metadata

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/pivotal_bench"

BENCH_META_DDL = """
CREATE TABLE IF NOT EXISTS bench_meta (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
)
"""


def psycopg_conninfo(url: str) -> str:
    """A libpq URL for psycopg from a SQLAlchemy-style one (``postgresql+psycopg://``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgresql"):
        raise ValueError(f"{url!r} is not a PostgreSQL URL; the benchmarks run on PostgreSQL")
    return f"postgresql://{rest}"


def with_dbname(url: str, dbname: str) -> str:
    """The same server and credentials as ``url``, another database."""
    parts = urlsplit(psycopg_conninfo(url))
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def ensure_database(url: str) -> bool:
    """Create the database of ``url`` when the server does not have it; True if created."""
    params = conninfo_to_dict(psycopg_conninfo(url))
    dbname = params.get("dbname") or "postgres"
    with psycopg.connect(
        make_conninfo(**{**params, "dbname": "postgres"}), autocommit=True
    ) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if found.fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return True


def engine_for(url: str) -> Engine:
    """A SQLAlchemy engine on the benchmark database, with every core table in the metadata."""
    import pivotal_core.models  # noqa: F401  (fills the metadata)

    return make_engine(psycopg_conninfo(url))


def core_tables_exist(conn: Connection) -> bool:
    existing = set(inspect(conn).get_table_names())
    return all(name in existing for name in metadata.tables)


def schema_gaps(url: str) -> list[str]:
    """Tables and columns of the core models that the database lacks (a data set loaded
    before the models changed): empty when the application can use it."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            existing = set(inspector.get_table_names())
            gaps = []
            for name, table in metadata.tables.items():
                if name not in existing:
                    gaps.append(f"table {name}")
                    continue
                columns = {column["name"] for column in inspector.get_columns(name)}
                gaps += [f"column {name}.{c.name}" for c in table.columns if c.name not in columns]
    finally:
        engine.dispose()
    return gaps


def drop_schema(conn: Connection) -> None:
    """Drop the core tables (and constraints of other tables pointing at them) and our marker.

    ``alembic_version`` goes too: once the tables are gone a stamped revision would lie.
    """
    for table in reversed(metadata.sorted_tables):
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table.name}" CASCADE')
    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_meta")
    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def create_schema(conn: Connection) -> None:
    metadata.create_all(conn)


def read_marker(url: str, key: str) -> dict[str, Any] | None:
    """What was recorded under ``key`` in ``bench_meta``, or None (also without the table)."""
    with psycopg.connect(psycopg_conninfo(url), autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT value FROM bench_meta WHERE key = %s", (key,)).fetchone()
    return row[0] if row else None


def write_marker(conn: psycopg.Connection[Any], key: str, value: dict[str, Any]) -> None:
    """Record ``value`` under ``key`` inside the caller's transaction."""
    conn.execute(BENCH_META_DDL)
    conn.execute(
        "INSERT INTO bench_meta (key, value) VALUES (%s, %s::jsonb)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, written_at = now()",
        (key, json.dumps(value, sort_keys=True)),
    )
