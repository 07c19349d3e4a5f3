"""The import engine: prepared rows into contacts or accounts, deterministically.

Rows are taken a chunk at a time. Each chunk is matched against the database with a few
set-based queries (contacts by normalized email, then phone or mobile, LinkedIn URL and the
batch source's external id; accounts by domain, primary or secondary, then by name), the
rows of one record are folded together by field-level survivorship
(:mod:`pivotal_core.dataquality.survivorship`), and the outcome is written with one
statement per table: ``COPY`` for new records and audit events, ``UPDATE ... FROM
unnest(...)`` for changed records on PostgreSQL (one array per column, so one round trip
whatever the chunk size), executemany on SQLite. Every changed field gets its provenance
(source, batch, the batch's ``as_of``) and exactly one audit event.

Concurrency: new records go in with COPY, falling back to ``INSERT ... ON CONFLICT DO
NOTHING`` on the partial unique indexes (live email, live domain) when a unique index
refuses one; a row another import created meanwhile sends its chunk round again, matched
anew, so it becomes an update. An UPDATE applies only to rows whose version (``xmin``) is
still the one read, otherwise the chunk runs again; keys without a unique index (phones,
LinkedIn URLs, account names) are serialised with transaction advisory locks. A chunk that
collides (a deadlock, a unique violation) is rolled back to its savepoint and run again.
Writes are sorted by key so that two imports take locks in the same order.

Rows of one chunk that share an email, phone, LinkedIn URL or external id are one person
(two different emails never are); all rows of a batch share one provenance entry, so
among them a fixed order of values decides. With the survivorship order being total, the
outcome depends on the set of rows and batches, not their order.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Integer,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from pivotal_core.accounts import services as account_services
from pivotal_core.accounts.models import Account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import RECORD, Actor, audit_value
from pivotal_core.contacts import services as contact_services
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.dataquality.erase import ERASED
from pivotal_core.dataquality.identity import CONTACT_IDENTITY_FIELDS, as_keys, identity_digest
from pivotal_core.dataquality.models import ErasedIdentity, ImportBatch, ImportRejection
from pivotal_core.dataquality.rows import ImportOptions, PreparedRow
from pivotal_core.dataquality.survivorship import (
    KEEP,
    REPLACE,
    SurvivorshipPolicy,
    canonical,
    is_blank,
    load_policy,
)
from pivotal_core.db import utcnow
from pivotal_core.normalize import NormalizationError, company_match_key, email_domain
from pivotal_core.provenance import compact
from pivotal_core.records import LIST_FIELDS, provenance_entry

__all__ = [
    "CHUNK_SIZE",
    "FREE_MAIL_DOMAINS",
    "ImportCounts",
    "fewer_collections",
    "import_rows",
    "importable_columns",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
MAX_ATTEMPTS = 6
CUSTOM = "custom_fields."
EXTERNAL = "external_ids."
EXTERNAL_KIND = "external:"

# Consumer mail providers: a contact's email domain there says nothing about the company it
# works for, so it neither attaches the contact to an account nor creates one.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
        "ymail.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "outlook.com",
        "outlook.de", "live.com", "live.co.uk", "msn.com", "aol.com", "icloud.com", "me.com",
        "mac.com", "proton.me", "protonmail.com", "pm.me", "gmx.de", "gmx.net", "gmx.com",
        "web.de", "t-online.de", "freenet.de", "mail.com", "mail.ru", "yandex.ru",
        "yandex.com", "zoho.com", "fastmail.com", "hey.com", "orange.fr", "wanadoo.fr",
        "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "btinternet.com",
        "sky.com", "ziggo.nl", "kpnmail.nl", "qq.com", "163.com", "126.com", "naver.com",
    }
)  # fmt: skip


def importable_columns(entity: str) -> tuple[str, ...]:
    """The record columns a row's ``values`` may fill (besides ``custom_fields.<key>``)."""
    if entity == "contact":
        return tuple(
            f for f in contact_services.EDITABLE_FIELDS if f not in ("account_id", "custom_fields")
        )
    return tuple(
        f for f in account_services.EDITABLE_FIELDS if f not in ("parent_id", "custom_fields")
    )


@dataclass
class ImportCounts:
    """What an import did; ``rows`` = created + updated + unchanged + skipped + duplicate_rows."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    # Rows whose record another row of the same batch had already created or matched.
    duplicate_rows: int = 0
    accounts_created: int = 0
    audit_events: int = 0
    # {field or "erased": rows skipped for it}
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    # {field: rows whose value for it had nowhere to go} (accounts keep no external ids)
    ignored_fields: dict[str, int] = field(default_factory=dict)

    _TALLIES = ("skipped_reasons", "ignored_fields")

    def add(self, other: ImportCounts) -> None:
        for name in ImportCounts.__dataclass_fields__:
            if name in self._TALLIES:
                mine, theirs = getattr(self, name), getattr(other, name)
                for key, value in theirs.items():
                    mine[key] = mine.get(key, 0) + value
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in ImportCounts.__dataclass_fields__}
        for name in self._TALLIES:
            values[name] = dict(sorted(values[name].items()))
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ImportCounts:
        names = cls.__dataclass_fields__
        counts = cls(**{k: v for k, v in values.items() if k in names and k not in cls._TALLIES})
        for name in cls._TALLIES:
            setattr(counts, name, dict(values.get(name) or {}))
        return counts


Progress = Callable[..., None]


def import_rows(
    session: Session,
    batch: ImportBatch,
    rows: Iterable[PreparedRow],
    options: ImportOptions,
    actor: Actor,
    progress: Progress | None = None,
    *,
    policy: SurvivorshipPolicy | None = None,
    secret: str | Sequence[str] | None = None,
    chunk_size: int = CHUNK_SIZE,
    checkpoint: Callable[[ImportCounts, int], None] | None = None,
    rejections: Callable[[list[dict[str, Any]]], None] | None = None,
    counts: ImportCounts | None = None,
    seen: Iterable[int] = (),
    timings: dict[str, float] | None = None,
) -> ImportCounts:
    """Upsert ``rows`` into the batch's entity; returns the counts.

    ``rows`` are read a chunk ahead, while PostgreSQL stores the chunk before: reading
    them must not use the session (it is busy with a ``COPY`` then).

    ``actor``: who runs the import; its source becomes ``import:<batch source>`` and its
    ``batch_id`` the batch's. ``policy``: survivorship (default: loaded from the rules
    with the setting's default priority). ``secret``: the key of erased-identity digests or
    the keys newest first (``identity.erasure_keys``), needed to compare rows with
    privacy-erased identities when there are any. ``checkpoint(counts, rows_done)``
    runs after each chunk (the job commits there). ``rejections``: when given (a dry run),
    called with each chunk's rejected rows (``row_number``, ``reasons``, ``raw``) instead of
    writing them. ``counts`` and ``seen``
    (record ids the batch already touched) continue an interrupted run. ``timings``, when
    given, receives the seconds spent in each phase (for benchmarks).
    """
    if batch.id is None:
        raise ValueError("the import batch must be flushed (have an id) before importing")
    engine = _Importer(
        session,
        batch,
        options,
        actor,
        policy or load_policy(session, batch.entity),
        secret,
        keep_rejections=rejections,
    )
    engine.seen.update(seen)
    if timings is not None:
        engine.timings = timings
    total = counts if counts is not None else ImportCounts()
    done = total.rows
    ahead = _ReadAhead(_chunks(rows, chunk_size))
    with fewer_collections():
        while (chunk := ahead.take()) is not None:
            # The next chunk is read while PostgreSQL stores this one's last rows.
            total.add(engine.run_chunk(chunk, meanwhile=_Once(engine.timed("read", ahead.read))))
            done += len(chunk)
            if checkpoint is not None:
                checkpoint(total, done)
            if progress is not None:
                progress(done, None, f"{done:,} rows imported")
            del chunk
            # Between chunks little is alive: a full collection is cheap here, and what
            # cycles a chunk left behind do not pile up over a long import.
            gc.collect()
    return total


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run bulk work with the cyclic garbage collector mostly out of the way.

    An import allocates millions of small dicts and lists, nearly none of them in cycles,
    and with the default thresholds the collector keeps walking them (a third of the
    engine's time at 50,000 rows). The objects alive before are frozen (never scanned),
    and collections of the young generations are rarer; both are restored after.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


class _Once:
    """Work that needs no database, done once: while PostgreSQL finishes a ``COPY`` when
    there is one to wait for (:meth:`_Database.copy`), else when called again after it."""

    def __init__(self, work: Callable[[], None] | None = None) -> None:
        self._work = work

    def __call__(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            work()


class _ReadAhead:
    """Chunks of rows, the next one read ahead (reading and preparing rows needs no
    database, so the engine reads it while PostgreSQL stores the chunk before). An error
    reading it is raised when the chunk is taken, after the one before was committed, as
    if it had been read then."""

    def __init__(self, chunks: Iterator[list[PreparedRow]]) -> None:
        self._chunks = chunks
        self._read = False
        self._next: list[PreparedRow] | None = None
        self._error: Exception | None = None

    def read(self) -> None:
        if self._read:
            return
        self._read = True
        try:
            self._next = next(self._chunks, None)
        except Exception as exc:  # noqa: BLE001 - raised by take(), in its place
            self._error = exc

    def take(self) -> list[PreparedRow] | None:
        self.read()
        self._read = False
        chunk, self._next = self._next, None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return chunk


def _chunks(rows: Iterable[PreparedRow], size: int) -> Iterator[list[PreparedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --------------------------------------------------------------------------- SQL helpers


class _Retry(Exception):
    """The chunk met a concurrent change: roll it back and run it again."""


# Deadlock, serialization failure, lock not available, unique violation.
_RETRY_STATES = frozenset({"40P01", "40001", "55P03", "23505"})


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _Retry | IntegrityError):
        return True
    # COPY runs on the driver's connection: its errors arrive unwrapped.
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    if code in _RETRY_STATES:
        return True
    if isinstance(exc, OperationalError | DBAPIError):
        return "database is locked" in str(exc)
    return False


_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]
# The C encoder; values it does not know (dates, decimals) go through audit_value.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _RawJSON(str):
    """Text that already is JSON (provenance built from a pre-encoded entry)."""


def _json(value: Any) -> str:
    """JSON text of a field value, the way audit_value() would make it, without its
    Python walk for the values JSON has (nearly all of them)."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if value is None:
        return "null"
    if kind is _RawJSON:
        return value
    if kind is dict or kind is list:  # a creation's values; tags and other lists
        try:
            return _encode(value)
        except TypeError:
            pass
    elif kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return json.dumps(audit_value(value), ensure_ascii=False)


def _lock_key(kind: str, value: str) -> int:
    digest = hashlib.blake2b(f"pivotal-import:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _pg_array_type(column: Any) -> tuple[str, bool]:
    """``(element type, is_json)`` of a column for ``unnest``."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, JSON):
        return "jsonb", True
    if isinstance(kind, BigInteger | Integer):
        return "bigint", False
    if isinstance(kind, Boolean):
        return "boolean", False
    return "text", False


class _Database:
    """The few statements the engine issues, written for PostgreSQL and for SQLite."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"

    def in_(self, column: Any, values: Iterable[Any]) -> Any:
        values = list(values)
        if self.pg:
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

    def scalars(self, stmt: Any) -> list[Any]:
        return list(self.session.execute(stmt).scalars())

    def rows(self, stmt: Any) -> list[Any]:
        return list(self.session.execute(stmt))

    def sql(self, statement: str, params: Mapping[str, Any]) -> Any:
        return self.session.connection().exec_driver_sql(statement, params)

    def lock_keys(self, keys: Iterable[int]) -> None:
        ordered = sorted(set(keys))
        if ordered and self.pg:
            self.sql(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(%(k)b::bigint[]) AS k ORDER BY k",
                {"k": ordered},
            )

    def take_write_lock(self, batch_id: int) -> None:
        """SQLite: start each chunk with a write, so it holds the database's one write lock
        before it reads (a read first could leave it with a stale snapshot)."""
        if not self.pg:
            self.session.execute(
                update(ImportBatch.__table__)
                .where(ImportBatch.__table__.c.id == batch_id)
                .values(updated_at=utcnow())
            )

    def reserve_ids(self, table: Table, count: int) -> list[int]:
        if not count:
            return []
        if self.pg:
            result = self.sql(
                "SELECT nextval(pg_get_serial_sequence(%(t)s, 'id')) "
                "FROM generate_series(1, %(n)s)",
                {"t": table.name, "n": count},
            )
            return sorted(r[0] for r in result)
        first = (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        return list(range(first, first + count))

    def insert(
        self,
        table: Table,
        records: list[dict[str, Any]],
        now: datetime,
        conflict: str | None = None,
        meanwhile: _Once | None = None,
    ) -> set[int]:
        """Insert ``records`` (each with its ``id``); returns the ids that went in (those
        that met a live record with the same ``conflict`` column are left out).
        ``meanwhile`` runs once, while PostgreSQL stores the rows if it can.

        PostgreSQL: COPY, the fastest way in; if a unique index refuses a row (another
        import created it meanwhile), the COPY is rolled back to a savepoint and the rows
        go in with ``INSERT ... ON CONFLICT DO NOTHING``, which skips the taken ones.
        """
        meanwhile = meanwhile or _Once()
        if not records:
            meanwhile()
            return set()
        names = list(records[0])
        if self.pg:
            json_at = [i for i, n in enumerate(names) if _pg_array_type(table.c[n])[1]]
            values_of = itemgetter(*names)
            stamps = [now, now]

            def copy_row(record: dict[str, Any]) -> list[Any]:
                row = [*values_of(record), *stamps]
                for position in json_at:
                    row[position] = _json(row[position])
                return row

            rows = map(copy_row, records)
            try:
                with self.session.begin_nested():
                    self.copy(table.name, [*names, "created_at", "updated_at"], rows, meanwhile)
                return {r["id"] for r in records}
            except Exception as exc:
                if conflict is None or getattr(exc, "sqlstate", None) != "23505":
                    raise
            meanwhile()  # done already unless the COPY failed before its rows were sent
            columns, aliases, params = [], [], {"now": now}
            for position, name in enumerate(names):
                element, is_json = _pg_array_type(table.c[name])
                key = f"c{position}"
                columns.append(f"%({key})b::{element}[]")
                aliases.append(key)
                values = [r[name] for r in records]
                params[key] = [_json(v) for v in values] if is_json else values
            conflict_sql = (
                f" ON CONFLICT ({conflict}) WHERE deleted_at IS NULL DO NOTHING" if conflict else ""
            )
            statement = (
                f"INSERT INTO {table.name} ({', '.join(names)}, created_at, updated_at) "
                f"SELECT {', '.join('u.' + a for a in aliases)}, %(now)s, %(now)s "
                f"FROM unnest({', '.join(columns)}) AS u({', '.join(aliases)})"
                f"{conflict_sql} RETURNING id"
            )
            return {row[0] for row in self.sql(statement, params)}
        meanwhile()
        stamped = [{**r, "created_at": now, "updated_at": now} for r in records]
        stmt: Any = insert(table)
        if conflict:
            stmt = sqlite_insert(table).on_conflict_do_nothing(
                index_elements=[table.c[conflict]], index_where=table.c.deleted_at.is_(None)
            )
        self.session.execute(stmt, stamped)
        ids = [r["id"] for r in records]
        return set(self.scalars(select(table.c.id).where(table.c.id.in_(ids))))

    def copy(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        meanwhile: _Once | None = None,
    ) -> None:
        """``COPY table (columns) FROM STDIN`` in the session's transaction (PostgreSQL).

        ``meanwhile`` runs after the rows are sent and before waiting for PostgreSQL to
        have stored them: it stores them as they arrive, updating every index, and is
        still at it when the last row is sent, so Python work that needs no database
        done then costs no time of its own. (An error in it aborts the COPY.)
        """
        driver = self.session.connection().connection.driver_connection
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
            if meanwhile is not None:
                meanwhile()

    def update(
        self,
        table: Table,
        records: list[dict[str, Any]],
        now: datetime,
        patches: Mapping[str, str],
    ) -> None:
        """Set the columns of ``records`` (by ``id``); ``patches`` name JSON columns given
        as objects whose keys are merged into the stored object (provenance, custom
        fields) rather than replacing it. ``touch`` says whether ``updated_at`` moves."""
        if not records:
            return
        names = [n for n in records[0] if n not in ("id", "touch", "version")]
        if self.pg:
            params: dict[str, Any] = {"now": now, "id": [r["id"] for r in records]}
            params["touch"] = [r["touch"] for r in records]
            params["version"] = [r["version"] for r in records]
            columns = ["%(id)b::bigint[]", "%(touch)b::boolean[]", "%(version)b::text[]"]
            aliases = ["id", "touch", "version"]
            sets = ["updated_at = CASE WHEN u.touch THEN %(now)s ELSE t.updated_at END"]
            for position, name in enumerate(names):
                element, is_json = _pg_array_type(table.c[name])
                key = f"c{position}"
                columns.append(f"%({key})b::{element}[]")
                aliases.append(key)
                values = [r[name] for r in records]
                if name in patches:
                    params[key] = values  # already JSON text
                    sets.append(f"{name} = t.{name} || u.{key}")
                else:
                    params[key] = [_json(v) for v in values] if is_json else values
                    sets.append(f"{name} = u.{key}")
            result = self.sql(
                f"UPDATE {table.name} AS t SET {', '.join(sets)} "
                f"FROM unnest({', '.join(columns)}) AS u({', '.join(aliases)}) "
                "WHERE t.id = u.id AND t.xmin::text = u.version",
                params,
            )
            if result.rowcount != len(records):
                raise _Retry(f"{result.rowcount} of {len(records)} records changed meanwhile")
            return
        # SQLite: whole values (the caller merged the patches), one executemany per shape.
        shapes: dict[bool, list[dict[str, Any]]] = {}
        for record in records:
            row = {f"v_{n}": record[n] for n in names}
            row["v_id"] = record["id"]
            shapes.setdefault(record["touch"], []).append(row)
        for touch, rows in shapes.items():
            values: dict[str, Any] = {n: bindparam(f"v_{n}") for n in names}
            if touch:
                values["updated_at"] = now
            stmt = update(table).where(table.c.id == bindparam("v_id")).values(values)
            self.session.connection().execute(stmt, rows)

    def insert_audit(self, rows: _AuditRows, meanwhile: _Once | None = None) -> int:
        meanwhile = meanwhile or _Once()
        if not rows.entity_ids:
            meanwhile()
            return 0
        actor = rows.actor
        if self.pg:
            self.copy("audit_events", _AuditRows.COLUMNS, rows.copy_rows(), meanwhile)
        else:
            meanwhile()
            common = {
                "entity": rows.entity,
                "actor_id": actor.user_id,
                "source": actor.source,
                "request_id": actor.request_id,
                "job_id": actor.job_id,
                "batch_id": actor.batch_id,
                "created_at": rows.now,
            }
            self.session.execute(
                insert(AuditEvent.__table__),
                [
                    {
                        **common,
                        "entity_id": entity_id,
                        "action": action,
                        "field": name,
                        "old_value": audit_value(old),
                        "new_value": audit_value(new),
                    }
                    for entity_id, action, name, old, new in zip(
                        rows.entity_ids,
                        rows.actions,
                        rows.fields,
                        rows.olds,
                        rows.news,
                        strict=True,
                    )
                ],
            )
        return len(rows.entity_ids)


@dataclass
class _AuditRows:
    """Audit events of one chunk, column by column (cheap to hand to ``unnest``)."""

    COLUMNS = (
        "entity", "entity_id", "action", "field", "old_value", "new_value",
        "actor_id", "source", "request_id", "job_id", "batch_id", "created_at",
    )  # fmt: skip

    entity: str
    actor: Actor
    now: datetime
    entity_ids: list[int] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    olds: list[Any] = field(default_factory=list)
    news: list[Any] = field(default_factory=list)
    prepared: list[tuple[Any, ...]] | None = None

    def prepare(self) -> None:
        """Make the rows ``COPY`` writes now (values encoded as JSON), while PostgreSQL is
        busy with something else; no event is added after."""
        self.prepared = list(self.copy_rows())

    def copy_rows(self) -> Iterable[tuple[Any, ...]]:
        """The rows of ``audit_events`` in :attr:`COLUMNS` order (PostgreSQL)."""
        if self.prepared is not None:
            return self.prepared
        actor = self.actor
        tail = (actor.user_id, actor.source, actor.request_id, actor.job_id, actor.batch_id)
        tail += (self.now,)
        entity = self.entity
        return (
            (entity, entity_id, action, name, _json(old), _json(new)) + tail
            for entity_id, action, name, old, new in zip(
                self.entity_ids, self.actions, self.fields, self.olds, self.news, strict=True
            )
        )

    def add(self, entity_id: int, action: str, changes: Mapping[str, tuple[Any, Any]]) -> None:
        if self.prepared is not None:
            raise RuntimeError("an audit event added after the COPY rows were made")
        if action == "create":  # one event for the whole record (see audit.services)
            self.entity_ids.append(entity_id)
            self.actions.append(action)
            self.fields.append(RECORD)
            self.olds.append(None)
            self.news.append({name: changes[name][1] for name in sorted(changes)})
            return
        for name in sorted(changes):
            old, new = changes[name]
            self.entity_ids.append(entity_id)
            self.actions.append(action)
            self.fields.append(name)
            self.olds.append(old)
            self.news.append(new)


class RecordIds:
    """A set of record ids as a bitmap: ids are dense identity values, so the ids a
    million-row import touches take about 150 KB instead of some 60 MB as a ``set``."""

    __slots__ = ("_bits", "_count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._count = 0
        self.update(ids)

    def add(self, record_id: int) -> None:
        byte, bit = divmod(record_id, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self._count += 1

    def discard(self, record_id: int) -> None:
        byte, bit = divmod(record_id, 8)
        if byte < len(self._bits) and self._bits[byte] & (1 << bit):
            self._bits[byte] &= ~(1 << bit) & 0xFF
            self._count -= 1

    def update(self, ids: Iterable[int]) -> None:
        for record_id in ids:
            self.add(record_id)

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, int) or record_id < 0:
            return False
        byte, bit = divmod(record_id, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._count


# --------------------------------------------------------------------------- the engine


@dataclass
class _Target:
    """A record of the chunk: an existing one (``record_id``) or one to create."""

    key: str
    rows: list[PreparedRow]
    record_id: int | None = None
    # Existing records: what matching expects of the row read ("email" -> value).
    expect: dict[str, Any] = field(default_factory=dict)
    # Fields the rows may not change (the email that found a merged contact's survivor).
    keep: set[str] = field(default_factory=set)


@dataclass
class _Outcome:
    counts: ImportCounts = field(default_factory=ImportCounts)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    unchanged: set[int] = field(default_factory=set)
    now_changed: set[int] = field(default_factory=set)
    domains: dict[str, int] = field(default_factory=dict)

    def reject(
        self, row: PreparedRow, reasons: Mapping[str, str], *, keep_cells: bool = True
    ) -> None:
        """``keep_cells=False``: the row's cells are not kept, only its headers (a person
        erased on request must not come back through the rejected rows)."""
        raw = row.raw if keep_cells else dict.fromkeys(row.raw, ERASED)
        self.rejections.append({"row_number": row.number, "reasons": dict(reasons), "raw": raw})
        self.counts.skipped += 1
        for key in reasons:
            self.counts.skipped_reasons[key] = self.counts.skipped_reasons.get(key, 0) + 1


@dataclass
class _UpdatePlan:
    """The UPDATE values of a chunk's changed records and their external id changes."""

    updates: list[dict[str, Any]]
    identifiers: list[tuple[int, str, str | None, str]]


class _Importer:
    def __init__(
        self,
        session: Session,
        batch: ImportBatch,
        options: ImportOptions,
        actor: Actor,
        policy: SurvivorshipPolicy,
        secret: str | Sequence[str] | None,
        *,
        keep_rejections: Callable[[list[dict[str, Any]]], None] | None,
    ) -> None:
        self.session = session
        self.db = _Database(session)
        self.entity = batch.entity
        if self.entity not in ("contact", "account"):
            raise ValueError(f"cannot import {self.entity!r}: use contact or account")
        self.batch_id = batch.id
        self.source = batch.source
        self.options = options
        self.policy = policy
        self.keys = as_keys(secret) if secret else ()
        self.keep_rejections = keep_rejections
        self.actor = replace(actor, source=f"import:{batch.source}", batch_id=batch.id)
        self.entry = provenance_entry(self.actor, batch.as_of, batch.id)
        self.decide = policy.decider(self.entry, override_manual=options.override_manual)
        self.table: Table = (Contact if self.entity == "contact" else Account).__table__
        self.columns = importable_columns(self.entity)
        self.column_set = frozenset(self.columns)
        self.list_columns = frozenset(c for c in self.columns if c in LIST_FIELDS)
        # Record ids the batch has created or matched, and which of them it left unchanged.
        self.seen = RecordIds()
        self.unchanged = RecordIds()
        # Live accounts by domain (primary or secondary), found or created by this batch.
        self.domains: dict[str, int] = {}
        # Secondary domains of the live accounts (read on first use), and the changes the
        # current chunk makes to them (None: no longer anyone's).
        self.secondaries: dict[str, int] | None = None
        self._secondaries_written: dict[str, int | None] = {}
        self.timings: dict[str, float] = {}
        self._open_phases: list[list[Any]] = []
        self._provenance_texts: dict[tuple[str, ...], _RawJSON] = {}

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Time a phase; a phase within another (work done while PostgreSQL finishes a
        statement) is counted in its own name only."""
        timings, open_phases = self.timings, self._open_phases
        started = time.perf_counter()
        if open_phases:
            outer = open_phases[-1]
            timings[outer[0]] = timings.get(outer[0], 0.0) + started - outer[1]
        open_phases.append([name, started])
        try:
            yield
        finally:
            ended = time.perf_counter()
            _, since = open_phases.pop()  # moved on by the phases within it
            timings[name] = timings.get(name, 0.0) + ended - since
            if open_phases:
                open_phases[-1][1] = ended

    def timed(self, name: str, work: Callable[[], None]) -> Callable[[], None]:
        """``work`` timed as the phase ``name``."""

        def run() -> None:
            with self._phase(name):
                work()

        return run

    # ------------------------------------------------------------------ chunk control

    def run_chunk(self, rows: list[PreparedRow], meanwhile: _Once | None = None) -> ImportCounts:
        """Import one chunk; ``meanwhile`` (work that needs no database) runs once, while
        PostgreSQL stores the chunk's last rows."""
        meanwhile = meanwhile or _Once()
        for attempt in range(MAX_ATTEMPTS):
            self._secondaries_written = {}
            self._open_phases = []
            try:
                with self.session.begin_nested():
                    outcome = self._chunk(rows, meanwhile)
                break
            except Exception as exc:
                if not _retryable(exc) or attempt == MAX_ATTEMPTS - 1:
                    raise
                log.info("import batch %s: chunk retried after %s", self.batch_id, exc)
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # noqa: S311
        self.seen.update(outcome.seen)
        for record_id in outcome.now_changed:
            self.unchanged.discard(record_id)
        self.unchanged.update(outcome.unchanged)
        self.domains.update(outcome.domains)
        if self._secondaries_written and self.secondaries is not None:
            for domain, owner in self._secondaries_written.items():
                if owner is None:
                    self.secondaries.pop(domain, None)
                else:
                    self.secondaries[domain] = owner
        self._secondaries_written = {}
        if outcome.rejections:
            if self.keep_rejections is not None:
                self.keep_rejections(outcome.rejections)
            else:
                table = ImportRejection.__table__
                self.session.execute(
                    insert(table), [{"batch_id": self.batch_id, **r} for r in outcome.rejections]
                )
        return outcome.counts

    def _chunk(self, rows: list[PreparedRow], meanwhile: _Once) -> _Outcome:
        outcome = _Outcome()
        outcome.counts.rows = len(rows)
        self.db.take_write_lock(self.batch_id)
        with self._phase("screen"):
            valid = self._screen(rows, outcome)
        with self._phase("match"):
            if self.entity == "contact":
                targets = self._match_contacts(valid, outcome)
            else:
                targets = self._match_accounts(valid, outcome)
        self._apply(targets, outcome, meanwhile)
        return outcome

    # ------------------------------------------------------------------ screening

    def _screen(self, rows: list[PreparedRow], outcome: _Outcome) -> list[PreparedRow]:
        valid: list[PreparedRow] = []
        for row in rows:
            unknown = [
                n for n in row.values if n not in self.column_set and not n.startswith(CUSTOM)
            ]
            if unknown:
                raise ValueError(
                    f"row {row.number}: {', '.join(unknown)} cannot be imported into "
                    f"{self.entity} records"
                )
            if row.errors:
                outcome.reject(row, row.errors)
                continue
            if row.external_ids and self.entity == "account":
                # Accounts have no identifier table: say so rather than drop them silently.
                ignored = outcome.counts.ignored_fields
                ignored["external_id"] = ignored.get("external_id", 0) + 1
            valid.append(row)
        if self.entity == "contact" and not self.options.allow_erased:
            valid = self._without_erased(valid, outcome)
        return valid

    def _without_erased(self, rows: list[PreparedRow], outcome: _Outcome) -> list[PreparedRow]:
        table = ErasedIdentity.__table__
        if self.session.execute(select(table.c.id).limit(1)).first() is None:
            return rows
        if not self.keys:
            raise ValueError(
                "privacy-erased identities exist: the import needs auth.secret to check rows "
                "against them"
            )
        digests: dict[str, list[tuple[PreparedRow, str]]] = {}
        for row in rows:
            for name, kind in CONTACT_IDENTITY_FIELDS.items():
                value = row.values.get(name)
                if value:
                    for key in self.keys:
                        digest = identity_digest(kind, value, key)
                        digests.setdefault(digest, []).append((row, name))
        found = set(
            self.db.scalars(select(table.c.digest).where(self.db.in_(table.c.digest, digests)))
        )
        erased: dict[int, str] = {}
        for digest in found:
            for row, name in digests[digest]:
                erased.setdefault(row.number, name)
        if not erased:
            return rows
        kept: list[PreparedRow] = []
        for row in rows:
            name = erased.get(row.number)
            if name is None:
                kept.append(row)
            else:
                outcome.reject(
                    row,
                    {
                        "erased": f"the {name.replace('_', ' ')} belongs to a person erased on "
                        "request; import with allow_erased to bring them back"
                    },
                    keep_cells=False,
                )
        return kept

    # ------------------------------------------------------------------ contacts

    def _match_contacts(self, rows: list[PreparedRow], outcome: _Outcome) -> list[_Target]:
        """Group the chunk's rows by person and find each person's contact.

        Rows sharing an email, phone, LinkedIn URL or external id are one person, except
        that two different emails are always two people. A person with an email that a
        contact has is that contact; otherwise the person's other keys find one (the
        lowest id, trying phones, then LinkedIn, then the external id), but a person with
        an email only takes a contact that has none.
        """
        t = self.table
        db = self.db
        # Keys without a unique index: serialise concurrent imports on them.
        db.lock_keys(
            _lock_key(name, value)
            for row in rows
            if not row.values.get("email")
            for name, value in _secondary_keys(row, self.source)
        )
        people = _people(rows, self.source)
        emails = {person.email for person in people if person.email}
        by_email: dict[str, int] = {}
        if emails:
            stmt = select(t.c.email, t.c.id).where(
                db.in_(t.c.email, emails), t.c.deleted_at.is_(None)
            )
            by_email = dict(db.rows(stmt))
        # An email a merge kept on the survivor as an identifier still finds it.
        aliases: dict[str, int] = {}
        if emails - by_email.keys():
            ids = ContactIdentifier.__table__
            stmt = (
                select(ids.c.value, ids.c.contact_id)
                .join(t, t.c.id == ids.c.contact_id)
                .where(
                    ids.c.kind == "email",
                    db.in_(ids.c.value, emails - by_email.keys()),
                    t.c.deleted_at.is_(None),
                )
            )
            aliases = dict(db.rows(stmt))
        unmatched = [p for p in people if p.email not in by_email and p.email not in aliases]
        candidates = self._contact_candidates([r for p in unmatched for r in p.rows])
        existing: dict[int, _Target] = {}
        new: list[_Target] = []
        claimed: set[int] = set()
        # People with an email first (in email order), so which of them takes over a
        # contact without email does not depend on the order of the rows.
        for person in people:
            keep: set[str] = set()
            if person.email in by_email:
                record_id = by_email[person.email]
                expect: dict[str, Any] = {"email": person.email}
            elif person.email in aliases:
                record_id, expect, keep = aliases[person.email], {}, {"email"}
            else:
                record_id = _pick(
                    person.rows,
                    candidates,
                    self.source,
                    without_email=bool(person.email),
                    claimed=claimed if person.email else set(),
                )
                expect = {"email": None} if person.email else {}
                if record_id is None:
                    new.append(_Target(person.key, person.rows))
                    continue
                if person.email:
                    claimed.add(record_id)
            target = existing.get(record_id)
            if target is None:
                existing[record_id] = _Target(
                    f"id:{record_id}", list(person.rows), record_id, expect, keep
                )
            else:
                target.rows.extend(person.rows)
                target.expect.update(expect)
                target.keep |= keep
        targets = [*existing.values(), *new]
        self._check_external_ids(targets, outcome)
        return [t for t in targets if t.rows]

    def _contact_candidates(
        self, rows: list[PreparedRow]
    ) -> dict[tuple[str, str], list[tuple[int, bool]]]:
        """Live contacts holding the rows' phones, LinkedIn URLs or external ids:
        ``{(key kind, value): [(contact id, has email)]}``. Rows with an email can only
        take a contact without one, so theirs are looked up among those alone (small
        partial indexes), the others' among all contacts."""
        found: dict[tuple[str, str], list[tuple[int, bool]]] = {}
        with_email = [row for row in rows if row.values.get("email")]
        without_email = [row for row in rows if not row.values.get("email")]
        for group, only_without_email in ((with_email, True), (without_email, False)):
            if group:
                self._lookup_keys(group, only_without_email, found)
        return found

    def _lookup_keys(
        self,
        rows: list[PreparedRow],
        only_without_email: bool,
        found: dict[tuple[str, str], list[tuple[int, bool]]],
    ) -> None:
        t = self.table
        db = self.db
        phones: set[str] = set()
        linkedins: set[str] = set()
        externals: set[str] = set()
        for row in rows:
            for name in ("phone", "mobile"):
                if row.values.get(name):
                    phones.add(row.values[name])
            if row.values.get("linkedin_url"):
                linkedins.add(row.values["linkedin_url"])
            if row.external_ids.get(self.source):
                externals.add(row.external_ids[self.source])
        live = [t.c.deleted_at.is_(None)]
        if only_without_email:
            live.append(t.c.email.is_(None))
        has_email = t.c.email.isnot(None)
        if phones:
            stmt = select(t.c.id, has_email, t.c.phone, t.c.mobile).where(
                *live, db.in_(t.c.phone, phones) | db.in_(t.c.mobile, phones)
            )
            for record_id, emailed, phone, mobile in db.rows(stmt):
                for number in {phone, mobile}:
                    if number in phones:
                        found.setdefault(("phone", number), []).append((record_id, emailed))
        if linkedins:
            stmt = select(t.c.id, has_email, t.c.linkedin_url).where(
                *live, db.in_(t.c.linkedin_url, linkedins)
            )
            for record_id, emailed, url in db.rows(stmt):
                found.setdefault(("linkedin", url), []).append((record_id, emailed))
        if externals:
            ids = ContactIdentifier.__table__
            stmt = (
                select(ids.c.contact_id, has_email, ids.c.value)
                .join(t, t.c.id == ids.c.contact_id)
                .where(
                    *live, ids.c.kind == EXTERNAL_KIND + self.source, db.in_(ids.c.value, externals)
                )
            )
            for record_id, emailed, value in db.rows(stmt):
                found.setdefault(("external", value), []).append((record_id, emailed))

    def _check_external_ids(self, targets: list[_Target], outcome: _Outcome) -> None:
        """An external id belongs to one contact: a row whose id another contact (or another
        record of this chunk) holds is rejected."""
        wanted: set[tuple[str, str]] = set()
        for target in targets:
            for row in target.rows:
                wanted.update((EXTERNAL_KIND + s, v) for s, v in row.external_ids.items())
        if not wanted:
            return
        ids = ContactIdentifier.__table__
        db = self.db
        stmt = select(ids.c.kind, ids.c.value, ids.c.contact_id).where(
            db.in_(ids.c.kind, {k for k, _ in wanted}), db.in_(ids.c.value, {v for _, v in wanted})
        )
        owners: dict[tuple[str, str], Any] = {(k, v): c for k, v, c in db.rows(stmt)}
        for target in sorted(targets, key=lambda x: x.key):
            kept: list[PreparedRow] = []
            for row in target.rows:
                problem = None
                for source, value in sorted(row.external_ids.items()):
                    key = (EXTERNAL_KIND + source, value)
                    owner = owners.get(key)
                    if owner is None:
                        owners[key] = target.key if target.record_id is None else target.record_id
                    elif owner != (target.record_id or target.key):
                        other = f"contact {owner}" if isinstance(owner, int) else "another row"
                        problem = f"{source} id {value} already belongs to {other}"
                        break
                if problem:
                    outcome.reject(row, {"external_id": problem})
                else:
                    kept.append(row)
            target.rows = kept

    # ------------------------------------------------------------------ accounts

    def _match_accounts(self, rows: list[PreparedRow], outcome: _Outcome) -> list[_Target]:
        t = self.table
        db = self.db
        keys = {row.number: company_match_key(row.values.get("name")) for row in rows}
        db.lock_keys(
            _lock_key("account-name", keys[row.number])
            for row in rows
            if not row.values.get("domain") and keys[row.number]
        )
        domains = {row.values["domain"] for row in rows if row.values.get("domain")}
        primary, secondary = self._find_domains(domains)
        unmatched = [r for r in rows if r.values.get("domain") not in primary | secondary]
        names = {keys[r.number] for r in unmatched if keys[r.number]}
        by_name: dict[str, list[tuple[int, bool]]] = {}
        if names:
            stmt = select(t.c.name_key, t.c.id, t.c.domain.isnot(None)).where(
                t.c.deleted_at.is_(None), db.in_(t.c.name_key, names)
            )
            for name_key, record_id, has_domain in db.rows(stmt):
                by_name.setdefault(name_key, []).append((record_id, has_domain))
        existing: dict[int, _Target] = {}
        new: dict[str, _Target] = {}
        for row in sorted(rows, key=lambda r: r.number):
            domain = row.values.get("domain")
            name_key = keys[row.number]
            record_id = None
            expect: dict[str, Any] = {}
            if domain in primary:
                record_id, expect = primary[domain], {"domain": domain}
            elif domain in secondary:
                record_id = secondary[domain]
            elif name_key:
                # A row without domain, or whose domain no account has: the one account of
                # that name (without a domain of its own when the row brings one).
                found = [i for i, has in by_name.get(name_key, []) if not (domain and has)]
                if len(found) > 1 and not domain:
                    outcome.reject(
                        row,
                        {
                            "name": f"matches {len(found)} accounts; add a domain column "
                            "to tell them apart"
                        },
                    )
                    continue
                if len(found) == 1:
                    record_id, expect = found[0], {"domain": None} if domain else {}
            if record_id is not None:
                target = existing.get(record_id)
                if target is None:
                    target = existing[record_id] = _Target(f"id:{record_id}", [], record_id, expect)
                target.rows.append(row)
                continue
            key = f"domain:{domain}" if domain else f"name:{name_key or row.number}"
            new.setdefault(key, _Target(key, [])).rows.append(row)
        targets = [*existing.values(), *new.values()]
        self._check_secondary_domains(targets, outcome)
        return [t for t in targets if t.rows]

    def _find_domains(self, domains: set[str]) -> tuple[dict[str, int], dict[str, int]]:
        """Live accounts owning ``domains``: ``({domain: id} as primary, ... as secondary)``."""
        t = Account.__table__
        db = self.db
        primary: dict[str, int] = {}
        secondary: dict[str, int] = {}
        if not domains:
            return primary, secondary
        stmt = select(t.c.domain, t.c.id).where(
            t.c.deleted_at.is_(None), db.in_(t.c.domain, domains)
        )
        primary.update(db.rows(stmt))
        rest = sorted(domains - primary.keys())
        if rest:
            secondary.update(self._secondary_owners(rest))
        return primary, secondary

    def _secondary_owners(self, domains: Iterable[str]) -> dict[str, int]:
        """Owners of ``domains`` as secondary domains.

        Nothing indexes the domains inside the JSON lists, so they are read once per batch
        (one pass over the accounts instead of one per chunk) and the copy follows the
        batch's own writes. A secondary domain someone adds elsewhere while the import
        runs is not seen (no constraint guards secondary domains anyway).
        """
        if self.secondaries is None:
            if self.db.pg:
                statement = (
                    "SELECT d, a.id FROM accounts AS a "
                    "CROSS JOIN LATERAL jsonb_array_elements_text(a.secondary_domains) AS d "
                    "WHERE a.deleted_at IS NULL AND a.secondary_domains <> '[]'::jsonb "
                    "ORDER BY a.id"
                )
            else:
                statement = (
                    "SELECT j.value, a.id FROM accounts AS a, json_each(a.secondary_domains) AS j"
                    " WHERE a.deleted_at IS NULL ORDER BY a.id"
                )
            self.secondaries = {}
            for domain, record_id in self.session.execute(text(statement)):
                self.secondaries.setdefault(domain, record_id)
        found: dict[str, int] = {}
        for domain in domains:
            if domain in self._secondaries_written:
                owner = self._secondaries_written[domain]
            else:
                owner = self.secondaries.get(domain)
            if owner is not None:
                found[domain] = owner
        return found

    def _note_secondaries(self, record_id: int, old: Iterable[str], new: Iterable[str]) -> None:
        for domain in old or ():
            self._secondaries_written[domain] = None
        for domain in new or ():
            self._secondaries_written[domain] = record_id

    def _check_secondary_domains(self, targets: list[_Target], outcome: _Outcome) -> None:
        wanted = {
            d
            for target in targets
            for row in target.rows
            for d in row.values.get("secondary_domains") or ()
        }
        if not wanted:
            return
        primary, secondary = self._find_domains(wanted)
        owners: dict[str, Any] = {**secondary, **primary}
        for target in targets:
            for row in target.rows:
                if row.values.get("domain"):
                    owners.setdefault(row.values["domain"], target.record_id or target.key)
        for target in sorted(targets, key=lambda x: x.key):
            me = target.record_id or target.key
            kept: list[PreparedRow] = []
            for row in target.rows:
                clash = None
                for domain in row.values.get("secondary_domains") or ():
                    owner = owners.setdefault(domain, me)
                    if owner != me:
                        clash = (domain, owner)
                        break
                if clash:
                    other = f"account {clash[1]}" if isinstance(clash[1], int) else "another row"
                    outcome.reject(
                        row, {"secondary_domains": f"{clash[0]} already belongs to {other}"}
                    )
                else:
                    kept.append(row)
            target.rows = kept

    # ------------------------------------------------------------------ contacts' accounts

    def _account_domain(self, row: PreparedRow) -> str | None:
        if row.account_domain:
            return row.account_domain
        email = row.values.get("email")
        if email:
            try:
                domain = email_domain(email)
            except NormalizationError:
                return None
            if domain not in FREE_MAIL_DOMAINS:
                return domain
        return None

    def _resolve_accounts(
        self, targets: list[_Target], outcome: _Outcome, audit: _AuditRows, now: datetime
    ) -> dict[int, int]:
        """``{row number: account id}`` for the rows whose company domain (explicit, else
        the email's) an account has; creates the missing accounts when the batch says so,
        named by the rows' company name or the domain.

        A company name alone attaches nothing: whether an account of that name exists
        yet would depend on the order rows arrive in.
        """
        wanted: dict[int, str] = {}
        for target in targets:
            for row in target.rows:
                domain = self._account_domain(row)
                if domain:
                    wanted[row.number] = domain
        known = {d: self.domains[d] for d in set(wanted.values()) if d in self.domains}
        missing = set(wanted.values()) - known.keys()
        if missing:
            primary, secondary = self._find_domains(missing)
            known.update(secondary)
            known.update(primary)
        to_create = set(wanted.values()) - known.keys()
        if to_create and self.options.create_accounts:
            labels: dict[str, str] = {}
            for target in targets:
                for row in target.rows:
                    domain = wanted.get(row.number)
                    if domain in to_create and row.account_name:
                        # Rows of one batch tie on provenance: the greatest name wins.
                        label = labels.get(domain)
                        if label is None or row.account_name > label:
                            labels[domain] = row.account_name
            known.update(self._create_accounts(sorted(to_create), labels, outcome, audit, now))
        outcome.domains.update(known)
        return {number: known[d] for number, d in wanted.items() if d in known}

    def _create_accounts(
        self,
        domains: list[str],
        labels: Mapping[str, str],
        outcome: _Outcome,
        audit: _AuditRows,
        now: datetime,
    ) -> dict[str, int]:
        table = Account.__table__
        ids = self.db.reserve_ids(table, len(domains))
        records = []
        for record_id, domain in zip(ids, domains, strict=True):
            name = labels.get(domain) or domain
            records.append(
                {
                    "id": record_id,
                    "name": name,
                    "name_key": company_match_key(name) or "",
                    "domain": domain,
                    "secondary_domains": [],
                    "technologies": [],
                    "tags": [],
                    "custom_fields": {},
                    "field_provenance": self._provenance(("name", "domain")),
                }
            )
        inserted = self.db.insert(table, records, now, conflict="domain")
        created: dict[str, int] = {}
        for record in records:
            if record["id"] in inserted:
                created[record["domain"]] = record["id"]
                audit.add(
                    record["id"],
                    "create",
                    {"name": (None, record["name"]), "domain": (None, record["domain"])},
                )
        outcome.counts.accounts_created += len(created)
        if len(created) < len(records):
            # Another import created some of them meanwhile: use those.
            primary, _ = self._find_domains({d for d in domains if d not in created})
            created.update(primary)
        return created

    # ------------------------------------------------------------------ applying

    def _load(self, targets: list[_Target]) -> dict[int, dict[str, Any]]:
        """Read the existing records of the chunk: flattened values (``custom_fields.<key>``,
        ``external_ids.<source>``), ``field_provenance`` and, on PostgreSQL, the row version
        (``xmin``) the UPDATE checks, so that a record changed meanwhile sends the chunk
        round again instead of being overwritten (cheaper than locking every row read)."""
        ids = sorted(t.record_id for t in targets if t.record_id is not None)
        if not ids:
            return {}
        t = self.table
        columns: list[Any] = [t]
        if self.db.pg:
            columns.append(literal_column(f"{t.name}.xmin::text").label("row_version"))
        stmt = select(*columns).where(self.db.in_(t.c.id, ids), t.c.deleted_at.is_(None))
        states: dict[int, dict[str, Any]] = {}
        for row in self.session.execute(stmt).mappings():
            state = dict(row)
            for key, value in (state.pop("custom_fields") or {}).items():
                state[CUSTOM + key] = value
            state["field_provenance"] = dict(state["field_provenance"] or {})
            states[state["id"]] = state
        if self.entity == "contact":
            ids_table = ContactIdentifier.__table__
            stmt = select(ids_table.c.contact_id, ids_table.c.kind, ids_table.c.value).where(
                self.db.in_(ids_table.c.contact_id, ids),
                ids_table.c.kind.startswith(EXTERNAL_KIND),
            )
            for contact_id, kind, value in self.db.rows(stmt):
                if contact_id in states:
                    states[contact_id][EXTERNAL + kind[len(EXTERNAL_KIND) :]] = value
        for target in targets:
            if target.record_id is None:
                continue
            state = states.get(target.record_id)
            if state is None or any(state.get(k) != v for k, v in target.expect.items()):
                raise _Retry(f"{self.entity} {target.record_id} changed while matching")
        return states

    def _incoming(self, target: _Target, accounts: Mapping[int, int]) -> dict[str, Any]:
        """The target's rows folded into one value per field: rows of one batch share their
        provenance, so among different values the canonical order decides."""
        merged: dict[str, Any] = {}
        for row in target.rows:
            values = dict(row.values)
            if self.entity == "contact":
                for source, value in row.external_ids.items():
                    values[EXTERNAL + source] = value
            account_id = accounts.get(row.number)
            if account_id is not None:
                values["account_id"] = account_id
            if not merged:
                merged = values
                continue
            for name, value in values.items():
                if is_blank(value):
                    continue
                have = merged.get(name)
                if have is None or (have != value and canonical(value) > canonical(have)):
                    merged[name] = value
        if self.entity == "account":
            secondary = merged.get("secondary_domains")
            if secondary and merged.get("domain"):
                kept = [d for d in secondary if d != merged["domain"]]
                merged["secondary_domains"] = kept
        return {
            name: value
            for name, value in merged.items()
            if not is_blank(value) and name not in target.keep
        }

    def _apply(self, targets: list[_Target], outcome: _Outcome, meanwhile: _Once) -> None:
        """Write the chunk: new records, then changed ones, then the audit events. What
        to change in existing records is decided (Python only) while PostgreSQL stores
        the new ones; ``meanwhile`` runs then too when there is nothing to change, else
        while PostgreSQL stores the audit events."""
        now = utcnow()
        audit = _AuditRows(self.entity, self.actor, now)
        with self._phase("load"):
            states = self._load(targets)
        accounts: dict[int, int] = {}
        account_audit = _AuditRows("account", self.actor, now)
        if self.entity == "contact":
            with self._phase("accounts"):
                accounts = self._resolve_accounts(targets, outcome, account_audit, now)
        plan: list[_UpdatePlan] = []

        def decide() -> None:
            with self._phase("update"):
                plan.append(self._plan_updates(targets, states, accounts, outcome, audit))
                if self.db.pg:
                    audit.prepare()
            if not plan[0].updates:
                # Nothing to update: the chunk's other work is Python, done now, while
                # the new records are still being stored (else: during the audit COPY,
                # once the UPDATE is done).
                meanwhile()

        with self._phase("create"):
            news = sorted((t for t in targets if t.record_id is None), key=lambda x: x.key)
            news = self._creatable(news, outcome)
            inserted = self._insert_new(news, accounts, outcome, audit, now, _Once(decide))
        if inserted is None:
            raise _Retry("a record of the chunk was created by another import meanwhile")
        with self._phase("update"):
            self._write_updates(plan[0], now)
        with self._phase("audit"):
            outcome.counts.audit_events += self.db.insert_audit(account_audit)
            outcome.counts.audit_events += self.db.insert_audit(audit, meanwhile)

    def _plan_updates(
        self,
        targets: list[_Target],
        states: Mapping[int, dict[str, Any]],
        accounts: Mapping[int, int],
        outcome: _Outcome,
        audit: _AuditRows,
    ) -> _UpdatePlan:
        """What to change in the chunk's existing records (no database: their states
        were read before), with their audit events and counts."""
        updates: list[dict[str, Any]] = []
        identifiers: list[tuple[int, str, str | None, str]] = []
        for target in sorted(
            (t for t in targets if t.record_id is not None), key=lambda x: x.record_id
        ):
            record_id = target.record_id
            assert record_id is not None
            state = states[record_id]
            changes, patch = self._decide(state, self._incoming(target, accounts))
            first = record_id not in self.seen and record_id not in outcome.seen
            outcome.seen.add(record_id)
            if first:
                outcome.counts.duplicate_rows += len(target.rows) - 1
                if changes:
                    outcome.counts.updated += 1
                else:
                    outcome.counts.unchanged += 1
                    outcome.unchanged.add(record_id)
            else:
                outcome.counts.duplicate_rows += len(target.rows)
                if changes and record_id in self.unchanged:
                    outcome.counts.unchanged -= 1
                    outcome.counts.updated += 1
                    outcome.now_changed.add(record_id)
            if not changes and not patch:
                continue
            updates.append(self._update_record(record_id, state, changes, patch))
            if "secondary_domains" in changes:
                self._note_secondaries(record_id, *changes["secondary_domains"])
            for name, (old, new) in changes.items():
                if name.startswith(EXTERNAL):
                    identifiers.append((record_id, EXTERNAL_KIND + name[len(EXTERNAL) :], old, new))
            if changes:
                audit.add(record_id, "update", changes)
        # One statement sets the same columns on every record: the unchanged ones keep
        # the value read (and locked) above.
        names = sorted({n for record in updates for n in record})
        for record in updates:
            state = states[record["id"]]
            for name in names:
                if name not in record:
                    record[name] = state[name]
            record["version"] = state.get("row_version")
        return _UpdatePlan(updates, identifiers)

    def _write_updates(self, plan: _UpdatePlan, now: datetime) -> None:
        if plan.updates:
            self.db.update(self.table, plan.updates, now, self._patch_columns())
        self._write_identifiers(plan.identifiers)

    def _patch_columns(self) -> dict[str, str]:
        if not self.db.pg:
            return {}
        return {"custom_fields": "patch"}

    def _creatable(self, targets: list[_Target], outcome: _Outcome) -> list[_Target]:
        """New records need an email or a name (contacts), a name (accounts)."""
        kept: list[_Target] = []
        for target in targets:
            if self.entity == "contact":
                ok = any(
                    row.values.get(n)
                    for row in target.rows
                    for n in ("email", "first_name", "last_name")
                )
                reason = {"email": "an email or a name is required"}
            else:
                ok = any(row.values.get("name") for row in target.rows)
                reason = {"name": "is required to create an account"}
            if ok:
                kept.append(target)
            else:
                for row in target.rows:
                    outcome.reject(row, reason)
        return kept

    def _decide(
        self, state: Mapping[str, Any], incoming: Mapping[str, Any]
    ) -> tuple[dict[str, tuple[Any, Any]], dict[str, dict[str, Any]]]:
        """``(changes, provenance patch)`` of one existing record."""
        provenance = state["field_provenance"]
        decide = self.decide
        entry = self.entry
        changes: dict[str, tuple[Any, Any]] = {}
        patch: dict[str, dict[str, Any]] = {}
        for name, value in incoming.items():
            current = state.get(name)
            if name == "domain" and current is not None:
                continue  # the account's key: an import sets it once, never replaces it
            if name == "secondary_domains" and state.get("domain") in value:
                value = [d for d in value if d != state["domain"]]  # not its own primary
                if not value:
                    continue
            if name in self.list_columns and current is None:
                current = []
            verdict = decide(name, current, provenance.get(name), value)
            if verdict == KEEP:
                continue
            patch[name] = entry
            if verdict == REPLACE:
                changes[name] = (current, value)
        if "email" in patch:
            # The email domain follows the email.
            new_domain = email_domain(incoming["email"])
            patch["email_domain"] = entry
            if state.get("email_domain") != new_domain:
                changes["email_domain"] = (state.get("email_domain"), new_domain)
        if self.entity == "account" and "domain" in changes and "secondary_domains" in state:
            # A domain becoming the primary is no longer a secondary one.
            secondary = changes.get("secondary_domains", (None, state["secondary_domains"]))[1]
            if secondary and incoming["domain"] in secondary:
                old = state["secondary_domains"]
                changes["secondary_domains"] = (
                    old,
                    [d for d in secondary if d != incoming["domain"]],
                )
                patch["secondary_domains"] = entry
        return changes, patch

    def _update_record(
        self,
        record_id: int,
        state: Mapping[str, Any],
        changes: Mapping[str, tuple[Any, Any]],
        patch: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """One record's UPDATE values: every changed column, the provenance (and custom
        fields) as a patch on PostgreSQL or whole elsewhere, and whether it changed."""
        record: dict[str, Any] = {"id": record_id, "touch": bool(changes)}
        custom: dict[str, Any] = {}
        for name, (_, new) in changes.items():
            if name.startswith(CUSTOM):
                custom[name[len(CUSTOM) :]] = new
            elif not name.startswith(EXTERNAL):
                record[name] = new
        if self.entity == "account" and "name" in changes:
            record["name_key"] = company_match_key(changes["name"][1]) or ""
        provenance = {**state["field_provenance"], **patch}
        if self.db.pg:
            # The whole object, in its stored form (the UPDATE checks the row version, so
            # the provenance read is the one it replaces): no entry outlives its fields.
            record["field_provenance"] = _RawJSON(_encode(compact(provenance)))
            record["custom_fields"] = _json(custom) if custom else "{}"
        else:
            record["field_provenance"] = provenance
            existing_custom = {
                k[len(CUSTOM) :]: v for k, v in state.items() if k.startswith(CUSTOM)
            }
            record["custom_fields"] = {**existing_custom, **custom}
        return record

    def _insert_new(
        self,
        targets: list[_Target],
        accounts: Mapping[int, int],
        outcome: _Outcome,
        audit: _AuditRows,
        now: datetime,
        meanwhile: _Once,
    ) -> set[int] | None:
        """Create the new records; None when another import created one of them first.
        ``meanwhile`` runs after their audit events are added, while PostgreSQL stores
        them (an outcome of None sends the chunk round again: nothing is kept)."""
        if not targets:
            meanwhile()
            return set()
        ids = self.db.reserve_ids(self.table, len(targets))
        records: list[dict[str, Any]] = []
        creates: list[tuple[int, dict[str, tuple[Any, Any]]]] = []
        identifiers: list[tuple[int, str, str | None, str]] = []
        blank = self._blank_record()
        for record_id, target in zip(ids, targets, strict=True):
            values = self._incoming(target, accounts)
            record = dict(blank)
            record["id"] = record_id
            custom: dict[str, Any] = {}
            changes: dict[str, tuple[Any, Any]] = {}
            for name, value in values.items():
                if name.startswith(CUSTOM):
                    custom[name[len(CUSTOM) :]] = value
                    changes[name] = (None, value)
                elif name.startswith(EXTERNAL):
                    identifiers.append(
                        (record_id, EXTERNAL_KIND + name[len(EXTERNAL) :], None, value)
                    )
                    changes[name] = (None, value)
                else:
                    record[name] = value
                    changes[name] = ([] if name in self.list_columns else None, value)
            if self.entity == "contact" and record.get("email"):
                record["email_domain"] = email_domain(record["email"])
                changes["email_domain"] = (None, record["email_domain"])
            if self.entity == "account":
                record["name_key"] = company_match_key(record.get("name")) or ""
                self._note_secondaries(record_id, (), record["secondary_domains"])
            record["custom_fields"] = custom
            record["field_provenance"] = self._provenance(changes)
            records.append(record)
            creates.append((record_id, changes))
            outcome.counts.duplicate_rows += len(target.rows) - 1
        for record_id, changes in creates:
            audit.add(record_id, "create", changes)
            outcome.seen.add(record_id)
        outcome.counts.created += len(records)
        conflict = "email" if self.entity == "contact" else "domain"
        inserted = self.db.insert(self.table, records, now, conflict, meanwhile)
        if len(inserted) < len(records):
            return None
        self._write_identifiers(identifiers)
        return inserted

    def _provenance(self, names: Iterable[str]) -> Any:
        """Provenance of ``names`` set by this batch: an object (SQLite) or the JSON text of
        its stored form (PostgreSQL; see pivotal_core.provenance), built from the entry
        encoded once."""
        if self.db.pg:
            # Records of a chunk set a handful of different field sets: each is encoded once.
            key = tuple(names)
            found = self._provenance_texts.get(key)
            if found is None:
                stored = compact(dict.fromkeys(key, self.entry))
                found = self._provenance_texts[key] = _RawJSON(_encode(stored))
            return found
        return dict.fromkeys(names, self.entry)

    def _blank_record(self) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(self.columns)
        for name in self.list_columns:
            record[name] = []
        if self.entity == "contact":
            record["account_id"] = None
            record["email_domain"] = None
        else:
            record["name_key"] = ""
        return record

    def _write_identifiers(self, changes: list[tuple[int, str, str | None, str]]) -> None:
        """Replace external ids: ``(contact id, kind, old value, new value)``."""
        if not changes:
            return
        table = ContactIdentifier.__table__
        replaced = [(c, k) for c, k, old, _ in changes if old is not None]
        if replaced:
            if self.db.pg:
                self.db.sql(
                    "DELETE FROM contact_identifiers WHERE (contact_id, kind) IN "
                    "(SELECT * FROM unnest(%(c)b::bigint[], %(k)b::text[]))",
                    {"c": [c for c, _ in replaced], "k": [k for _, k in replaced]},
                )
            else:
                for contact_id, kind in replaced:
                    self.session.execute(
                        table.delete().where(table.c.contact_id == contact_id, table.c.kind == kind)
                    )
        ordered = sorted(changes, key=lambda c: (c[1], c[3]))
        if self.db.pg:
            self.db.sql(
                "INSERT INTO contact_identifiers (contact_id, kind, value) "
                "SELECT * FROM unnest(%(c)b::bigint[], %(k)b::text[], %(v)b::text[])",
                {
                    "c": [c for c, _, _, _ in ordered],
                    "k": [k for _, k, _, _ in ordered],
                    "v": [v for _, _, _, v in ordered],
                },
            )
        else:
            self.session.execute(
                insert(table), [{"contact_id": c, "kind": k, "value": v} for c, k, _, v in ordered]
            )


@dataclass
class _Person:
    """Rows of one chunk about one person."""

    key: str
    email: str | None
    rows: list[PreparedRow]


def _people(rows: Sequence[PreparedRow], source: str) -> list[_Person]:
    """Rows joined by shared keys (union-find); two different emails are never joined.

    Links are tried in a fixed order (emails, then phones, LinkedIn URLs, external ids,
    each by value), so the grouping depends only on the rows, not on their order.
    """
    parent = list(range(len(rows)))
    email: list[str | None] = [row.values.get("email") or None for row in rows]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sort_keys: dict[int, str] = {}

    def sort_key(i: int) -> str:
        found = sort_keys.get(i)
        if found is None:
            found = sort_keys[i] = _row_sort_key(rows[i])
        return found

    links: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(rows):
        if email[index]:
            links.setdefault(("email", email[index]), []).append(index)  # type: ignore[arg-type]
        for key in _secondary_keys(row, source):
            links.setdefault(key, []).append(index)
    order = {"email": 0, "phone": 1, "linkedin": 2, "external": 3}
    shared = [key for key, members in links.items() if len(members) > 1]
    for key in sorted(shared, key=lambda k: (order[k[0]], k[1])):
        members = links[key]
        # Join in the order of the rows' content, not their position in the file.
        members = sorted(members, key=sort_key)
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            if a == b or (email[a] and email[b] and email[a] != email[b]):
                continue
            keep, drop = (a, b) if sort_key(a) <= sort_key(b) else (b, a)
            parent[drop] = keep
            email[keep] = email[keep] or email[drop]
    groups: dict[int, list[int]] = {}
    for index in range(len(rows)):
        groups.setdefault(find(index), []).append(index)
    people = []
    for root, members in groups.items():
        if email[root]:
            key = f"email:{email[root]}"
        else:
            key = "row:" + min(sort_key(i) for i in members)
        people.append(_Person(key, email[root], [rows[i] for i in members]))
    # Email people first, by email; then the others by content.
    people.sort(key=lambda p: (p.email is None, p.key))
    return people


def _row_sort_key(row: PreparedRow) -> str:
    """A fixed order of rows by what they say (the file position is not part of it)."""
    return canonical([row.values, row.external_ids, row.account_domain, row.number])


def _secondary_keys(row: PreparedRow, source: str) -> list[tuple[str, str]]:
    """The row's keys after the email, in matching order: phones, LinkedIn, external id."""
    keys: list[tuple[str, str]] = []
    for name in ("phone", "mobile"):
        value = row.values.get(name)
        if value and ("phone", value) not in keys:
            keys.append(("phone", value))
    if row.values.get("linkedin_url"):
        keys.append(("linkedin", row.values["linkedin_url"]))
    if row.external_ids.get(source):
        keys.append(("external", row.external_ids[source]))
    return keys


def _pick(
    rows: Sequence[PreparedRow],
    candidates: Mapping[tuple[str, str], list[tuple[int, bool]]],
    source: str,
    *,
    without_email: bool,
    claimed: set[int],
) -> int | None:
    """The existing contact for rows not matched by email: the lowest id among the
    holders of the first key kind (phone, LinkedIn, external id) that finds any. Rows with
    an email only take a contact without one: two emails are two people."""
    if not candidates:
        return None
    keys = [key for row in rows for key in _secondary_keys(row, source) if key in candidates]
    for kind in ("phone", "linkedin", "external"):
        found = {
            record_id
            for key in keys
            if key[0] == kind
            for record_id, has_email in candidates[key]
            if not (without_email and has_email) and record_id not in claimed
        }
        if found:
            return min(found)
    return None
