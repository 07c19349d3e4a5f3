"""Import batches: create one, run it (as a job, with a dry run first if wanted), undo it
from the audit trail, and stream the rows it rejected."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from pivotal_core.accounts.models import Account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import (
    RECORD,
    Actor,
    AuditBuffer,
    audit_value,
    field_changes,
    record_changes,
)
from pivotal_core.config import CORE_DEFAULTS
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.dataquality.identity import erasure_keys
from pivotal_core.dataquality.models import IMPORT_ENTITIES, ImportBatch, ImportRejection
from pivotal_core.dataquality.rows import ImportOptions, PreparedRow
from pivotal_core.dataquality.survivorship import SETTING, load_policy
from pivotal_core.dataquality.upsert import (
    CHUNK_SIZE,
    CUSTOM,
    EXTERNAL,
    EXTERNAL_KIND,
    ImportCounts,
    import_rows,
)
from pivotal_core.db import utcnow
from pivotal_core.errors import Conflict, ValidationFailed
from pivotal_core.exports import csv_stream
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import registered_task
from pivotal_core.normalize import company_match_key
from pivotal_core.records import LIST_FIELDS, provenance_entry

__all__ = [
    "DEFAULT_ROWS_FACTORY",
    "IMPORT_TASK",
    "UNDO_TASK",
    "create_batch",
    "rejected_rows_csv",
    "run_batch",
    "source_problem",
    "start_import",
    "undo_batch",
    "undo_problem",
]

IMPORT_TASK = "dataquality.run_import"
UNDO_TASK = "dataquality.undo_import"
# ``module:function(batch, default_region, session)`` giving the batch's PreparedRows.
DEFAULT_ROWS_FACTORY = "pivotal_core.dataquality.prepare:prepared_rows"
AUDIT_ENTITY = "import_batch"
# A dry run keeps this many rejected rows for the report (the counts cover all of them).
DRY_RUN_REJECTIONS = 10_000
# How many conflicts and kept records an undo report lists (all are counted).
REPORT_LIMIT = 1_000
UNDO_CHUNK = 1_000

_SOURCE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,59}\Z")
_MODELS = {"contact": Contact, "account": Account}


# --------------------------------------------------------------------------- batches


def create_batch(
    session: Session,
    actor: Actor,
    *,
    entity: str,
    source: str,
    filename: str,
    stored_path: str,
    file_sha256: str,
    file_format: Mapping[str, Any],
    mapping: Mapping[str, Any],
    options: ImportOptions | Mapping[str, Any] | None = None,
    as_of: datetime | None = None,
    dry_run: bool = False,
) -> ImportBatch:
    """Record an uploaded file as an import batch, ready to run.

    ``source`` names where the data comes from (``hubspot``, ``salesforce``, ``tradeshow-2026``);
    survivorship ranks it by that name. ``as_of``: when the data was true at its source
    (default: now); between sources of equal priority the later ``as_of`` wins.
    """
    errors: dict[str, str] = {}
    if entity not in IMPORT_ENTITIES:
        errors["entity"] = f"must be one of {', '.join(IMPORT_ENTITIES)}"
    source = (source or "").strip().lower()
    problem = source_problem(source)
    if problem:
        errors["source"] = problem
    if as_of is not None and as_of.tzinfo is None:
        errors["as_of"] = "must include a time zone"
    if not filename or len(filename) > 255:
        errors["filename"] = "must be 1 to 255 characters"
    if errors:
        raise ValidationFailed(errors)
    if not isinstance(options, ImportOptions):
        options = ImportOptions.from_dict(dict(options or {}))
    batch = ImportBatch(
        entity=entity,
        source=source,
        filename=filename,
        stored_path=stored_path,
        file_sha256=file_sha256,
        file_format=dict(file_format),
        mapping=dict(mapping),
        options=options.as_dict(),
        dry_run=dry_run,
        as_of=as_of or utcnow(),
        status="uploaded",
        counts={},
        created_by_id=actor.user_id,
    )
    session.add(batch)
    session.flush()
    record_changes(
        session,
        actor,
        AUDIT_ENTITY,
        batch.id,
        "create",
        {"entity": (None, entity), "source": (None, source), "filename": (None, filename)},
    )
    return batch


def source_problem(source: str) -> str | None:
    """Why ``source`` (trimmed, lower case) cannot name where an import comes from, or None."""
    if not _SOURCE_RE.match(source):
        return (
            "must be 1 to 60 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if source == "manual":
        return "'manual' stands for values people typed; name the real source"
    return None


def _factory_name(rows_factory: str | Callable[..., Any] | None) -> str:
    if rows_factory is None:
        return DEFAULT_ROWS_FACTORY
    if callable(rows_factory):
        name = f"{rows_factory.__module__}:{rows_factory.__qualname__}"
    else:
        name = rows_factory
    resolve_rows_factory(name)  # fail now, not in the worker
    return name


def resolve_rows_factory(name: str) -> Callable[..., Iterable[PreparedRow]]:
    """The function a ``module:function`` name stands for."""
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute or "<" in attribute:
        raise ValueError(f"rows factory {name!r}: give a module-level function as module:function")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def start_import(
    session: Session,
    batch: ImportBatch,
    rows_factory: str | Callable[..., Any] | None = None,
    *,
    huey: Any,
) -> Job:
    """Queue the batch's run as a job (sent when the transaction commits).

    The worker rebuilds the rows from the stored file with ``rows_factory(batch,
    default_region, session)``: a module-level function or its ``module:function`` name,
    by default the file side's :func:`pivotal_core.dataquality.prepare.prepared_rows`.
    A failed batch may be started again: it continues after its last committed chunk.
    """
    if batch.status not in ("uploaded", "failed"):
        raise Conflict(f"Import batch {batch.id} is {batch.status}; it cannot be started again")
    name = _factory_name(rows_factory)
    task = registered_task(huey, IMPORT_TASK)
    job = jobs.enqueue(
        session,
        task,
        IMPORT_TASK,
        {"batch_id": batch.id, "rows_factory": name},
        created_by_id=batch.created_by_id,
    )
    batch.job_id = job.id
    batch.status = "queued"
    session.flush()
    return job


def run_batch(
    session: Session,
    batch: ImportBatch,
    rows: Iterable[PreparedRow],
    progress: Callable[..., None] | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
    chunk_size: int = CHUNK_SIZE,
    commit_chunks: bool = False,
    timings: dict[str, float] | None = None,
) -> ImportCounts:
    """Import ``rows`` as ``batch``; sets its status, counts and finish time.

    ``settings``: the application settings (``auth.secret`` or ``privacy.erasure_keys`` to
    recognise erased people,
    ``dataquality.source_priority``). ``commit_chunks``: commit after every chunk (the
    job does), so that a long import holds its locks briefly and a retry continues where
    it stopped; otherwise the caller's transaction holds everything. ``timings`` receives
    the seconds spent in each phase of the engine (for benchmarks). A dry run computes
    everything, keeps the counts and the rejected rows, and rolls the rest back.
    """
    settings = settings or {}
    if batch.status in ("succeeded", "undone"):
        raise Conflict(f"Import batch {batch.id} has already run")
    batch_id = batch.id
    options = ImportOptions.from_dict(batch.options or {})
    policy = load_policy(session, batch.entity, settings.get(SETTING, CORE_DEFAULTS[SETTING]))
    secret = erasure_keys(settings) or None
    actor = actor or Actor(user_id=batch.created_by_id, source=f"import:{batch.source}")
    counts = ImportCounts()
    seen: set[int] = set()
    previous = dict(batch.counts or {})
    if batch.status in ("running", "failed") and previous.get("rows") and not batch.dry_run:
        # A retry: the committed chunks stay, the rows after them are imported.
        counts = ImportCounts.from_dict(previous)
        seen = _records_of_batch(session, batch_id, batch.entity)
        rows = _skip(rows, counts.rows)
    # Written by id, as the checkpoints write: after a commit the batch may be another
    # session's object (the job's first commit closes the session), and then setting it
    # would write nothing. Committed chunk by chunk, it shows running from now on.
    batch.status = "running"
    table = ImportBatch.__table__
    running = {"status": "running", "updated_at": utcnow()}
    session.execute(update(table).where(table.c.id == batch_id).values(running))
    if commit_chunks:
        _commit(session)

    if batch.dry_run:
        kept: list[dict[str, Any]] = []

        def keep(rejected: list[dict[str, Any]]) -> None:
            kept.extend(rejected[: DRY_RUN_REJECTIONS - len(kept)])

        savepoint = session.begin_nested()
        try:
            counts = import_rows(
                session, batch, rows, options, actor, progress,
                policy=policy, secret=secret, chunk_size=chunk_size, rejections=keep,
            )  # fmt: skip
        finally:
            savepoint.rollback()
        if kept:
            session.execute(
                ImportRejection.__table__.insert(), [{"batch_id": batch_id, **r} for r in kept]
            )
    else:

        def checkpoint(so_far: ImportCounts, done: int) -> None:
            session.execute(
                update(ImportBatch.__table__)
                .where(ImportBatch.__table__.c.id == batch_id)
                .values(counts=so_far.as_dict(), status="running", updated_at=utcnow())
            )
            if commit_chunks:
                _commit(session)

        counts = import_rows(
            session, batch, rows, options, actor, progress,
            policy=policy, secret=secret, chunk_size=chunk_size, checkpoint=checkpoint,
            counts=counts, seen=seen, timings=timings,
        )  # fmt: skip
    batch = session.get(ImportBatch, batch_id, populate_existing=True)
    assert batch is not None
    batch.counts = counts.as_dict()
    batch.status = "succeeded"
    batch.finished_at = utcnow()
    session.flush()
    return counts


def _skip(rows: Iterable[PreparedRow], count: int) -> Iterator[PreparedRow]:
    iterator = iter(rows)
    for _ in range(count):
        if next(iterator, None) is None:
            return
    yield from iterator


def _records_of_batch(session: Session, batch_id: int, entity: str) -> set[int]:
    """Records of ``entity`` the batch created or changed (from its audit events)."""
    ae = AuditEvent.__table__
    stmt = select(ae.c.entity_id).where(ae.c.batch_id == batch_id, ae.c.entity == entity)
    return set(session.scalars(stmt.distinct()))


def _commit(session: Session) -> None:
    """Commit what the session did so far and go on in a new transaction."""
    manager = session.info.get("transaction_manager")
    if manager is None:
        session.commit()
        return
    manager.commit()
    manager.begin()


def run_batch_committing(
    session: Session,
    batch: ImportBatch,
    rows: Iterable[PreparedRow],
    progress: Callable[..., None] | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
) -> ImportCounts:
    """:func:`run_batch` committing every chunk (the job and the CLI run imports so): a long
    import holds its locks briefly, and when it stops the chunks committed so far stay (they
    can be undone), the batch is marked failed with the error, and starting it again goes
    on after them. A dry run commits nothing but its report."""
    batch_id = batch.id
    _commit(session)  # the batch is there, whatever happens next
    try:
        counts = run_batch(
            session, batch, rows, progress, settings=settings, actor=actor, commit_chunks=True
        )
    except Exception as exc:
        _abort(session)
        mark_failed(session, batch_id, f"{type(exc).__name__}: {exc}")
        _commit(session)
        raise
    _commit(session)
    return counts


def _abort(session: Session) -> None:
    """Roll back what the session did since the last commit and go on in a new transaction."""
    manager = session.info.get("transaction_manager")
    if manager is None:
        session.rollback()
        return
    manager.abort()
    manager.begin()


def mark_failed(session: Session, batch_id: int, error: str) -> None:
    """Record that a run stopped (in the session's current transaction)."""
    table = ImportBatch.__table__
    counts = session.scalar(select(table.c.counts).where(table.c.id == batch_id)) or {}
    session.execute(
        update(table)
        .where(table.c.id == batch_id)
        .values(
            status="failed",
            counts={**counts, "error": error[:2000]},
            finished_at=utcnow(),
            updated_at=utcnow(),
        )
    )


def fail_stopped_batches(session: Session) -> list[int]:
    """Mark failed the batches still queued or running whose import job failed without
    saying so to them (its worker was killed; see ``jobs.services.reap_stopped``); a
    failed batch can be run again and goes on after the rows it committed."""
    rows = session.execute(
        select(ImportBatch.id, Job.error)
        .join(Job, Job.id == ImportBatch.job_id)
        .where(ImportBatch.status.in_(("queued", "running")), Job.status == "failed")
        .order_by(ImportBatch.id)
    ).all()
    for batch_id, error in rows:
        mark_failed(session, batch_id, f"The import job stopped: {error or 'no reason given'}")
    return [batch_id for batch_id, _ in rows]


# --------------------------------------------------------------------------- rejected rows


def rejected_rows_csv(session: Session, batch: ImportBatch) -> Iterator[bytes]:
    """The batch's rejected rows as CSV: the reasons, the row number, then the file's columns
    as read (spreadsheet formulas neutralised). Reads in pages as it streams, so give it
    a session that outlives the request's transaction (``dbsession_factory()``)."""
    batch_id = batch.id
    headers = list((batch.file_format or {}).get("headers") or [])
    table = ImportRejection.__table__
    if not headers:
        seen: dict[str, None] = {}
        for raw in session.scalars(
            select(table.c.raw).where(table.c.batch_id == batch_id).limit(100)
        ):
            seen.update(dict.fromkeys(raw or {}))
        headers = list(seen)

    def rows() -> Iterator[list[Any]]:
        after = (-1, -1)
        while True:
            page = session.execute(
                select(table.c.id, table.c.row_number, table.c.reasons, table.c.raw)
                .where(
                    table.c.batch_id == batch_id,
                    or_(
                        table.c.row_number > after[0],
                        and_(table.c.row_number == after[0], table.c.id > after[1]),
                    ),
                )
                .order_by(table.c.row_number, table.c.id)
                .limit(1000)
            ).all()
            if not page:
                return
            for rejection_id, number, reasons, raw in page:
                raw = raw or {}
                why = "; ".join(f"{name}: {reason}" for name, reason in (reasons or {}).items())
                yield [why, number, *(raw.get(h, "") for h in headers)]
                after = (number, rejection_id)

    return csv_stream(["Rejected because", "Row", *headers], rows())


# --------------------------------------------------------------------------- undo


def undo_batch(session: Session, batch: ImportBatch, actor: Actor) -> dict[str, Any]:
    """Revert an import: every field it changed goes back to its value before the batch
    (and its provenance to what the audit trail says set that value), records it created
    are soft-deleted. A field changed by anyone after the batch keeps its value, and a
    created record changed since (or an account that got other contacts) is kept; both
    are listed in the report (``batch.undo_report``). Every change is audited (``undo``).
    """
    problem = undo_problem(batch)
    if problem:
        raise Conflict(problem)
    undo = _Undo(session, batch, replace(actor, batch_id=batch.id))
    report = undo.run()
    old_status = batch.status
    batch.status = "undone"
    batch.undone_at = utcnow()
    batch.undo_report = report
    session.flush()
    record_changes(
        session, actor, AUDIT_ENTITY, batch.id, "undo", {"status": (old_status, "undone")}
    )
    return report


def undo_problem(batch: ImportBatch) -> str | None:
    """Why ``batch`` cannot be undone (a dry run, not finished, undone already), or None."""
    if batch.dry_run:
        return f"Import batch {batch.id} was a dry run: it changed nothing"
    if batch.status == "undone":
        return f"Import batch {batch.id} has already been undone"
    if batch.status not in ("succeeded", "failed"):
        return f"Import batch {batch.id} is {batch.status}; wait for it to finish"
    return None


class _Undo:
    def __init__(self, session: Session, batch: ImportBatch, actor: Actor) -> None:
        self.session = session
        self.batch_id = batch.id
        self.actor = actor
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.now = utcnow()
        self.audit = AuditBuffer(session, actor)
        self.restored = 0
        self.deleted = {"contact": 0, "account": 0}
        self.conflicts: list[dict[str, Any]] = []
        self.kept: list[dict[str, Any]] = []
        self.conflict_count = 0
        self.kept_count = 0
        self._batches: dict[int, tuple[datetime, str]] = {}

    def run(self) -> dict[str, Any]:
        ae = AuditEvent.__table__
        mine = and_(ae.c.batch_id == self.batch_id, ae.c.action.in_(("create", "update")))
        self.first_id = self.session.scalar(select(func.min(ae.c.id)).where(mine))
        created: dict[str, list[int]] = {"contact": [], "account": []}
        for entity in ("contact", "account"):
            updated: set[int] = set()
            if self.first_id is not None:
                created[entity] = sorted(
                    self.session.scalars(
                        select(ae.c.entity_id)
                        .where(mine, ae.c.entity == entity, ae.c.action == "create")
                        .distinct()
                    )
                )
                updated = set(
                    self.session.scalars(
                        select(ae.c.entity_id)
                        .where(mine, ae.c.entity == entity, ae.c.action == "update")
                        .distinct()
                    )
                )
            # A batch that changed no value may still have re-stamped provenance.
            restamped = self._stamped_records(entity)
            todo = sorted((updated | restamped) - set(created[entity]))
            for start in range(0, len(todo), UNDO_CHUNK):
                self._restore(entity, todo[start : start + UNDO_CHUNK])
        for entity in ("contact", "account"):
            ids = created[entity]
            for start in range(0, len(ids), UNDO_CHUNK):
                self._delete_created(entity, ids[start : start + UNDO_CHUNK])
        self.audit.flush()
        return {
            "restored_fields": self.restored,
            "deleted": dict(self.deleted),
            "conflict_count": self.conflict_count,
            "conflicts": self.conflicts,
            "kept_count": self.kept_count,
            "kept": self.kept,
        }

    def _conflict(self, entity: str, record_id: int, name: str, reason: str) -> None:
        self.conflict_count += 1
        if len(self.conflicts) < REPORT_LIMIT:
            self.conflicts.append(
                {"entity": entity, "id": record_id, "field": name, "reason": reason}
            )

    def _keep(self, entity: str, record_id: int, reason: str) -> None:
        self.kept_count += 1
        if len(self.kept) < REPORT_LIMIT:
            self.kept.append({"entity": entity, "id": record_id, "reason": reason})

    def _stamped_records(self, entity: str) -> set[int]:
        """Records whose provenance names the batch (it may have re-stamped a field with
        an equal value: no audit event, but provenance to put back)."""
        table = _MODELS[entity].__table__
        if self.pg:
            stmt = text(
                f"SELECT id FROM {table.name} WHERE jsonb_path_exists(field_provenance, "
                "'$.*.batch ? (@ == $b)', jsonb_build_object('b', CAST(:b AS bigint)))"
            )
        else:
            stmt = text(
                f"SELECT id FROM {table.name} WHERE EXISTS (SELECT 1 FROM "
                "json_each(field_provenance) AS p WHERE "
                "CASE WHEN p.type = 'object' THEN json_extract(p.value, '$.batch') END = :b)"
            )
        return set(self.session.scalars(stmt, {"b": self.batch_id}))

    def _batch_info(self, ids: Iterable[int]) -> dict[int, tuple[datetime, str]]:
        wanted = {i for i in ids if i is not None and i not in self._batches}
        if wanted:
            table = ImportBatch.__table__
            for batch_id, as_of, status in self.session.execute(
                select(table.c.id, table.c.as_of, table.c.status).where(table.c.id.in_(wanted))
            ):
                self._batches[batch_id] = (as_of, status)
        return self._batches

    def _provenance_of(self, event: Any) -> dict[str, Any]:
        """The provenance the change of ``event`` wrote: an import's is dated by its as_of."""
        at = event.created_at
        if event.batch_id is not None and event.batch_id in self._batches:
            at = self._batches[event.batch_id][0]
        actor = Actor(user_id=event.actor_id, source=event.source, job_id=event.job_id)
        return provenance_entry(actor, at, event.batch_id)

    def _restore(self, entity: str, ids: list[int]) -> None:
        session = self.session
        ae = AuditEvent.__table__
        table = _MODELS[entity].__table__
        events = session.execute(
            select(
                ae.c.id, ae.c.entity_id, ae.c.field, ae.c.action, ae.c.old_value,
                ae.c.new_value, ae.c.batch_id, ae.c.source, ae.c.actor_id, ae.c.job_id,
                ae.c.created_at,
            )
            .where(ae.c.entity == entity, ae.c.entity_id.in_(ids))
            .order_by(ae.c.id)
        ).all()  # fmt: skip
        self._batch_info(e.batch_id for e in events)
        history: dict[tuple[int, str], list[Any]] = {}
        for event in events:
            if event.field == RECORD:
                # A creation: one event for every value the record started with.
                for name, old, new in field_changes(event):
                    view = SimpleNamespace(
                        **{**event._asdict(), "field": name, "old_value": old, "new_value": new}
                    )
                    history.setdefault((event.entity_id, name), []).append(view)
                continue
            history.setdefault((event.entity_id, event.field), []).append(event)
        stmt = select(table).where(table.c.id.in_(ids)).order_by(table.c.id)
        if self.pg:
            stmt = stmt.with_for_update()
        records = {row.id: dict(row._mapping) for row in session.execute(stmt)}
        identifiers = self._identifiers(entity, ids)
        owners: list[tuple[int, str, str | None, Any]] = []
        by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for record_id in ids:
            record = records.get(record_id)
            if record is None:
                continue
            provenance = dict(record["field_provenance"] or {})
            changes: dict[str, tuple[Any, Any]] = {}
            new_provenance = dict(provenance)
            names = {name for (rid, name) in history if rid == record_id}
            names |= {n for n, e in provenance.items() if (e or {}).get("batch") == self.batch_id}
            for name in sorted(names):
                trail = history.get((record_id, name), [])
                mine = [
                    e
                    for e in trail
                    if e.batch_id == self.batch_id and e.action in ("create", "update")
                ]
                current = _field_value(record, identifiers.get(record_id, {}), name)
                if mine:
                    last = mine[-1]
                    later = [e for e in trail if e.id > last.id and e.batch_id != self.batch_id]
                    if later:
                        who = later[-1].source
                        self._conflict(entity, record_id, name, f"changed later ({who})")
                        continue
                    owner = (provenance.get(name) or {}).get("batch")
                    if owner is not None and owner != self.batch_id:
                        # A later batch brought the same value: it is that batch's now.
                        reason = f"confirmed later by import batch {owner}"
                        self._conflict(entity, record_id, name, reason)
                        continue
                    if audit_value(current) != last.new_value:
                        self._conflict(entity, record_id, name, "changed outside the audit trail")
                        continue
                    bound = mine[0].id
                    restored = mine[0].old_value
                    if name in LIST_FIELDS and restored is None:
                        restored = []
                    if restored != audit_value(current):
                        changes[name] = (current, restored)
                else:
                    bound = None  # only re-stamped: the value stays, the provenance goes back
                previous = self._previous(trail, bound)
                if previous is None or (name.startswith(EXTERNAL) and previous.batch_id is None):
                    # Nothing set it, or the services did (they keep no provenance for
                    # external ids): no provenance, as before the batch.
                    new_provenance.pop(name, None)
                else:
                    new_provenance[name] = self._provenance_of(previous)
            if new_provenance == provenance and not changes:
                continue
            values: dict[str, Any] = {}
            custom = dict(record.get("custom_fields") or {})
            for name, (old, restored) in changes.items():
                if name.startswith(CUSTOM):
                    key = name[len(CUSTOM) :]
                    if restored is None:
                        custom.pop(key, None)
                    else:
                        custom[key] = restored
                    values["custom_fields"] = custom
                elif name.startswith(EXTERNAL):
                    owners.append((record_id, EXTERNAL_KIND + name[len(EXTERNAL) :], old, restored))
                else:
                    values[name] = restored
            if entity == "account" and "name" in values:
                values["name_key"] = company_match_key(values["name"]) or ""
            values["field_provenance"] = new_provenance
            if changes:
                values["updated_at"] = self.now
                self.restored += len(changes)
                self.audit.add(entity, record_id, "undo", changes)
            by_shape.setdefault(tuple(sorted(values)), []).append(
                {"r_id": record_id, **{f"r_{k}": v for k, v in values.items()}}
            )
        for shape, rows in by_shape.items():
            stmt = (
                update(table)
                .where(table.c.id == bindparam("r_id"))
                .values({k: bindparam(f"r_{k}") for k in shape})
            )
            session.connection().execute(stmt, rows)
        self._put_back_identifiers(owners)

    def _previous(self, trail: Sequence[Any], bound: int | None) -> Any | None:
        """The change that set the field's value before the batch (none from undone batches)."""
        for event in reversed(trail):
            if bound is not None and event.id >= bound:
                continue
            if event.batch_id == self.batch_id or event.action not in ("create", "update"):
                continue
            info = self._batches.get(event.batch_id) if event.batch_id is not None else None
            if info is not None and info[1] == "undone":
                continue
            return event
        return None

    def _identifiers(self, entity: str, ids: list[int]) -> dict[int, dict[str, str]]:
        if entity != "contact":
            return {}
        table = ContactIdentifier.__table__
        result: dict[int, dict[str, str]] = {}
        for contact_id, kind, value in self.session.execute(
            select(table.c.contact_id, table.c.kind, table.c.value).where(
                table.c.contact_id.in_(ids), table.c.kind.startswith(EXTERNAL_KIND)
            )
        ):
            result.setdefault(contact_id, {})[kind[len(EXTERNAL_KIND) :]] = value
        return result

    def _put_back_identifiers(self, changes: list[tuple[int, str, str | None, Any]]) -> None:
        table = ContactIdentifier.__table__
        for contact_id, kind, _, restored in changes:
            self.session.execute(
                table.delete().where(table.c.contact_id == contact_id, table.c.kind == kind)
            )
            if restored is not None:
                self.session.execute(
                    table.insert().values(contact_id=contact_id, kind=kind, value=restored)
                )

    def _delete_created(self, entity: str, ids: list[int]) -> None:
        session = self.session
        ae = AuditEvent.__table__
        table = _MODELS[entity].__table__
        changed_later = set(
            session.scalars(
                select(ae.c.entity_id)
                .where(
                    ae.c.entity == entity,
                    ae.c.entity_id.in_(ids),
                    ae.c.id > self.first_id,
                    or_(ae.c.batch_id.is_(None), ae.c.batch_id != self.batch_id),
                )
                .distinct()
            )
        )
        in_use: set[int] = set()
        if entity == "account":
            contacts = Contact.__table__
            in_use = set(
                session.scalars(
                    select(contacts.c.account_id)
                    .where(contacts.c.account_id.in_(ids), contacts.c.deleted_at.is_(None))
                    .distinct()
                )
            )
        doomed = []
        for record_id in ids:
            if record_id in changed_later:
                self._keep(entity, record_id, "changed after the import")
            elif record_id in in_use:
                self._keep(entity, record_id, "has contacts the import did not create")
            else:
                doomed.append(record_id)
        if not doomed:
            return
        live = set(
            session.scalars(
                select(table.c.id).where(table.c.id.in_(doomed), table.c.deleted_at.is_(None))
            )
        )
        if not live:
            return
        session.execute(
            update(table)
            .where(table.c.id.in_(sorted(live)))
            .values(deleted_at=self.now, updated_at=self.now)
        )
        for record_id in sorted(live):
            self.audit.add(entity, record_id, "undo", {"deleted_at": (None, self.now)})
        self.deleted[entity] += len(live)


def _field_value(record: Mapping[str, Any], identifiers: Mapping[str, str], name: str) -> Any:
    if name.startswith(CUSTOM):
        return (record.get("custom_fields") or {}).get(name[len(CUSTOM) :])
    if name.startswith(EXTERNAL):
        return identifiers.get(name[len(EXTERNAL) :])
    return record.get(name)
