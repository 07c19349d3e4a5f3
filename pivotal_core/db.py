"""Persistence: the declarative base, shared column types and mixins, and session wiring.

Soft-deleted rows (``deleted_at`` set) are hidden from every ORM query unless the
statement carries ``execution_options(include_deleted=True)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import transaction as transaction_module
import zope.sqlalchemy
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    create_engine,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# BIGINT identity on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")
JSONValue = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp stored in UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Pivotal stores timezone-aware UTC timestamps")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONValue}


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntKey, Identity(), primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class SoftDeleteMixin:
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def short_text(length: int) -> String:
    return String(length)


@event.listens_for(Session, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get("include_deleted", False)
    ):
        state.statement = state.statement.options(
            with_loader_criteria(
                SoftDeleteMixin,
                lambda cls: cls.deleted_at.is_(None),
                include_aliases=True,
            )
        )


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy own transactions (pysqlite's own BEGIN handling breaks SAVEPOINT).
    dbapi_connection.isolation_level = None
    # SQLite's lower() folds ASCII only; case-insensitive filters need every letter folded.
    dbapi_connection.create_function("pivotal_lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for SQLite (embedded default) or PostgreSQL (psycopg 3)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def engine_from_settings(settings: dict[str, Any]) -> Engine:
    return make_engine(settings["sqlalchemy.url"])


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def tm_session(factory: sessionmaker[Session], manager: Any) -> Session:
    """A session joined to ``manager`` (a transaction manager): commit and abort follow it."""
    session = factory()
    # "changed" from the start: a transaction that only ran Core statements (bulk inserts,
    # audit batches) must commit too, not be taken for read-only and rolled back.
    zope.sqlalchemy.register(session, transaction_manager=manager, initial_state="changed")
    # Services enqueue jobs after commit through the manager the session follows.
    session.info["transaction_manager"] = manager
    return session


def new_transaction_manager() -> transaction_module.TransactionManager:
    """An explicit transaction manager, for tasks and the CLI."""
    return transaction_module.TransactionManager(explicit=True)


def includeme(config: Any) -> None:
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    config.include("pyramid_tm")
    config.include("pyramid_retry")
    if "pivotal.engine" not in settings:
        settings["pivotal.engine"] = engine_from_settings(settings)
    config.registry["dbsession_factory"] = session_factory(settings["pivotal.engine"])

    def dbsession(request: Any) -> Session:
        # Looked up per request: tests swap in a factory bound to their outer transaction.
        session = tm_session(request.registry["dbsession_factory"], request.tm)
        session.info["pivotal.hooks"] = request.registry.pivotal_hooks.hook
        return session

    config.add_request_method(dbsession, "dbsession", reify=True)


__all__ = [
    "Base",
    "BigIntKey",
    "IdMixin",
    "JSONValue",
    "SoftDeleteMixin",
    "TimestampMixin",
    "UTCDateTime",
    "func",
    "metadata",
    "utcnow",
]
