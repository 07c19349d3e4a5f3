"""Bulk work on contacts and accounts: the selection (what the user picked, across pages)
and the operations on it — add to list, remove from list, update fields, tag, untag, soft
delete, restore.

Each operation checks its permission, is audited (source ``bulk``; one event per changed
field, with the job's id when it runs as one) and runs inline up to :data:`INLINE_LIMIT`
records, above that as a job that reports progress. Records are read and written in
chunks of :data:`CHUNK`, so memory stays flat whatever the selection's size, and running
an operation again changes nothing more (a retried job is harmless). The staff UI's table
toolbar and ``/api/v1/bulk/...`` both call :func:`submit`; exports of a selection are in
``audience.exports``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import colander
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pivotal_core.api.validation import deserialize
from pivotal_core.audience import services as audience
from pivotal_core.audience.filters import compile_filter
from pivotal_core.audience.models import AudienceList, ListMember, Segment
from pivotal_core.audit.services import Actor, AuditBuffer
from pivotal_core.authnz.permissions import Permission
from pivotal_core.db import utcnow
from pivotal_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PivotalError,
    Unprocessable,
    ValidationFailed,
)
from pivotal_core.jobs import services as jobs
from pivotal_core.normalize import NormalizationError, normalize_tags
from pivotal_core.records import notify_record_changed, stage_changes

INLINE_LIMIT = 500  # records; more run as a job
CHUNK = 1000  # records read, changed and written together
MAX_IDS = audience.MAX_RECORD_IDS  # explicit ids, and exclusions, in one selection
MAX_TAGS = 50
MAX_REPORTED = 100  # ids listed in a result (refused, not found); the counts are exact
BULK_TASK = "audience.bulk"
RECORD_TYPES_KEY = "pivotal.bulk_record_types"
ACTIONS = ("update", "tag", "untag", "add_to_list", "remove_from_list", "delete", "restore")
# What a result or a job's message says: (while running, done).
VERBS = {
    "update": ("Updating", "Updated"),
    "tag": ("Tagging", "Tagged"),
    "untag": ("Untagging", "Untagged"),
    "add_to_list": ("Adding", "Added"),
    "remove_from_list": ("Removing", "Removed"),
    "delete": ("Deleting", "Deleted"),
    "restore": ("Restoring", "Restored"),
}
RECORD_ERRORS = (ValidationFailed, Conflict, Unprocessable)


# ---------------------------------------------------------------------------
# What bulk work needs to know of contacts and accounts
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordType:
    """Contacts or accounts as bulk work sees them; registered by the record pages
    (``web.record_pages.add_record_pages``), which hold the same services."""

    entity: str  # "contact"
    plural: str  # "contacts"
    model: type
    # The list page's quick filter (``q``), as a condition on ``model``.
    search: Callable[[str], Any]
    input_schema: Callable[[], colander.SchemaNode]
    # (session, values, default_region=) -> values cleaned once for every record.
    prepare_changes: Callable[..., dict[str, Any]]
    # (session, record, cleaned) -> None: rules about the whole record.
    check_changes: Callable[[Session, Any, dict[str, Any]], None]
    delete: Callable[[Session, Actor, Any], None]
    restore: Callable[[Session, Actor, Any], None]
    read_permission: str
    write_permission: str
    delete_permission: str
    # Set with the values but not audited (derived from them).
    derived_fields: tuple[str, ...] = ()


def add_record_type(config: Any, record_type: RecordType) -> None:
    config.registry.setdefault(RECORD_TYPES_KEY, {})[record_type.entity] = record_type


def record_type(registry: Any, entity: str) -> RecordType:
    try:
        return registry[RECORD_TYPES_KEY][entity]
    except KeyError:
        raise NotFound(f"No records of type {entity!r}") from None


def permissions_needed(kind: RecordType, action: str) -> tuple[str, ...]:
    if action in ("update", "tag", "untag"):
        return (kind.write_permission,)
    if action in ("delete", "restore"):
        return (kind.delete_permission,)
    if action in ("add_to_list", "remove_from_list"):
        return (kind.read_permission, Permission.AUDIENCE_WRITE)
    return (kind.read_permission,)  # export


def check_permission(kind: RecordType, action: str, permissions: frozenset[str]) -> None:
    missing = [p for p in permissions_needed(kind, action) if p not in permissions]
    if missing:
        what = "export" if action == "export" else action.replace("_", " ")
        raise Forbidden(
            f"Your role may not {what} {kind.plural} in bulk: it lacks {', '.join(missing)}"
        )


# ---------------------------------------------------------------------------
# Selections
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """What the user picked: explicit ``record_ids``; or every record matching a scope —
    a filter ``definition`` (the audience DSL), the list page's quick filter ``q``, the
    members of list ``list_id`` or of segment ``segment_id`` (several narrow each other),
    or ``all`` records — less ``exclude``. ``deleted`` picks soft-deleted records
    instead of live ones (to restore or export them)."""

    entity: str
    record_ids: tuple[int, ...] | None = None
    definition: Any = None
    q: str | None = None
    list_id: int | None = None
    segment_id: int | None = None
    all: bool = False
    exclude: tuple[int, ...] = ()
    deleted: bool = False

    API_NAMES = {
        "record_ids": "recordIds",
        "definition": "filter",
        "q": "q",
        "list_id": "listId",
        "segment_id": "segmentId",
        "all": "all",
        "exclude": "exclude",
        "deleted": "deleted",
    }

    @classmethod
    def members_of(cls, item: AudienceList | Segment) -> Selection:
        """A list's members, or a segment's current members."""
        if isinstance(item, AudienceList):
            return cls(entity=item.entity_type, list_id=item.id)
        return cls(entity=item.entity_type, segment_id=item.id)

    @classmethod
    def from_json(cls, entity: str, data: Mapping[str, Any]) -> Selection:
        """From the API's names (``recordIds``, ``filter``, ``listId``, ...)."""
        values = {name: data.get(key) for name, key in cls.API_NAMES.items()}
        ids = values["record_ids"]
        return cls(
            entity=entity,
            record_ids=tuple(ids) if ids is not None else None,
            definition=values["definition"],
            q=values["q"] or None,
            list_id=values["list_id"],
            segment_id=values["segment_id"],
            all=bool(values["all"]),
            exclude=tuple(values["exclude"] or ()),
            deleted=bool(values["deleted"]),
        )

    def as_json(self) -> dict[str, Any]:
        data = {key: getattr(self, name) for name, key in self.API_NAMES.items()}
        data["recordIds"] = list(self.record_ids) if self.record_ids is not None else None
        data["exclude"] = list(self.exclude)
        return {key: value for key, value in data.items() if value not in (None, False, [])}

    @property
    def scoped(self) -> bool:
        return any(v is not None for v in (self.definition, self.q, self.list_id, self.segment_id))

    def check(self) -> None:
        """The selection's shape: exactly one of ids or a scope, within the size limits."""
        errors: dict[str, str] = {}
        if self.record_ids is not None:
            if self.scoped or self.all:
                errors["selection"] = (
                    "give recordIds or a scope (filter, q, listId, segmentId, all), not both"
                )
            elif not self.record_ids:
                errors["selection.recordIds"] = "select at least one record"
            elif len(self.record_ids) > MAX_IDS:
                errors["selection.recordIds"] = (
                    f"must have at most {MAX_IDS:,} ids; select all matching a filter instead"
                )
        elif not (self.scoped or self.all):
            errors["selection"] = "give recordIds, or a scope: filter, q, listId, segmentId or all"
        if len(self.exclude) > MAX_IDS:
            errors["selection.exclude"] = f"must have at most {MAX_IDS:,} ids"
        if self.q is not None and len(self.q) > 200:
            errors["selection.q"] = "must be at most 200 characters"
        if errors:
            raise ValidationFailed(errors, "Invalid selection")


@dataclass
class Resolved:
    """A checked selection: its conditions on the record model, how many records it
    holds now, and the explicit ids that are not (live, or deleted) records."""

    kind: RecordType
    selection: Selection
    conditions: list[Any]
    total: int = 0
    not_found: list[int] = field(default_factory=list)

    def statement(self, *columns: Any) -> Select:
        """``select(columns or model.id)`` of the selected records (no order)."""
        model = self.kind.model
        stmt = select(*(columns or (model.id,))).where(*self.conditions)
        if self.selection.deleted:
            stmt = stmt.execution_options(include_deleted=True)
        return stmt


def _shared_target(
    session: Session, model: type, item_id: int, viewer: Any, entity: str, path: str
) -> Any:
    """The list or segment ``item_id`` the viewer sees, holding ``entity`` records."""
    try:
        item = audience.get_shared(session, model, item_id, viewer)
    except NotFound:
        kind = audience.LABELS[model].lower()
        raise ValidationFailed({path: f"no {kind} with id {item_id}"}) from None
    if item.entity_type != entity:
        kind = audience.LABELS[model].lower()
        raise ValidationFailed({path: f"{kind} {item_id} holds {item.entity_type}s, not {entity}s"})
    return item


def resolve(session: Session, kind: RecordType, selection: Selection, viewer: Any) -> Resolved:
    """Check ``selection`` (filter errors name their path under ``selection.filter``;
    lists and segments must be visible to ``viewer`` and hold the same kind of records)
    and count it."""
    selection.check()
    model = kind.model
    conditions: list[Any] = [
        model.deleted_at.is_not(None) if selection.deleted else model.deleted_at.is_(None)
    ]
    if selection.record_ids is not None:
        conditions.append(model.id.in_(sorted(set(selection.record_ids))))
    if selection.definition is not None:
        matching = compile_filter(
            session,
            kind.entity,
            selection.definition,
            viewer=viewer,
            include_deleted=selection.deleted,
            path="selection.filter",
        ).subquery()
        # Through a derived table, so the filter's own contacts table is not correlated.
        conditions.append(model.id.in_(select(matching.c.id)))
    if selection.q:
        conditions.append(kind.search(selection.q))
    if selection.list_id is not None:
        target = _shared_target(
            session, AudienceList, selection.list_id, viewer, kind.entity, "selection.listId"
        )
        members = select(ListMember.record_id).where(ListMember.list_id == target.id)
        conditions.append(model.id.in_(members))
    if selection.segment_id is not None:
        target = _shared_target(
            session, Segment, selection.segment_id, viewer, kind.entity, "selection.segmentId"
        )
        members = compile_filter(
            session, kind.entity, target.definition, viewer=viewer, segment_id=target.id
        ).subquery()
        conditions.append(model.id.in_(select(members.c.id)))
    if selection.exclude:
        conditions.append(model.id.not_in(sorted(set(selection.exclude))))
    resolved = Resolved(kind, selection, conditions)
    resolved.total = audience.count_selected(session, resolved.statement())
    if selection.record_ids is not None and resolved.total < len(set(selection.record_ids)):
        found = set(session.scalars(resolved.statement()))
        missing = sorted(set(selection.record_ids) - found - set(selection.exclude))
        resolved.not_found = missing
    return resolved


def keyset_ids(session: Session, stmt: Select, id_column: Any, size: int) -> Iterator[list[int]]:
    """The ids ``stmt`` selects, ascending, ``size`` at a time (keyset: constant memory;
    records changed by an earlier chunk are never read again)."""
    last = 0
    while True:
        chunk = list(session.scalars(stmt.where(id_column > last).order_by(id_column).limit(size)))
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


# ---------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """What to do with a selection. ``values``: the fields to set (``update``), by the
    API's names, as the record API takes them; ``tags``: to add or remove; ``list_id``:
    the list to add to or remove from."""

    action: str
    values: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    list_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.action}
        if self.values is not None:
            data["values"] = self.values
        if self.tags:
            data["tags"] = list(self.tags)
        if self.list_id is not None:
            data["listId"] = self.list_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Operation:
        return cls(
            action=data["action"],
            values=data.get("values"),
            tags=tuple(data.get("tags") or ()),
            list_id=data.get("listId"),
        )


@dataclass(frozen=True)
class Prepared:
    """An operation checked once for the whole selection."""

    operation: Operation
    values: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    audience_list: AudienceList | None = None


def _prefixed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    return ValidationFailed({f"{prefix}.{k}": v for k, v in exc.fields.items()})


def prepare(
    session: Session,
    kind: RecordType,
    operation: Operation,
    viewer: Any,
    default_region: str,
) -> Prepared:
    """Check the operation's own input once (errors name ``values.<field>``, ``tags`` or
    ``listId``), before any record is read."""
    action = operation.action
    if action not in ACTIONS:
        raise ValidationFailed({"action": f"must be one of {', '.join(ACTIONS)}"})
    if action == "update":
        if not operation.values:
            raise ValidationFailed({"values": "give at least one field to change"})
        try:
            values = deserialize(kind.input_schema(), operation.values, partial=True)
            cleaned = kind.prepare_changes(session, values, default_region=default_region)
        except ValidationFailed as exc:
            raise _prefixed(exc, "values") from None
        except (Conflict, Unprocessable) as exc:
            fields = {f"values.{k}": v for k, v in exc.fields.items()}
            raise type(exc)(exc.message, fields) from None
        return Prepared(operation, values=cleaned)
    if action in ("tag", "untag"):
        try:
            tags = normalize_tags(list(operation.tags))
        except NormalizationError as exc:
            raise ValidationFailed({"tags": exc.message}) from None
        if not tags:
            raise ValidationFailed({"tags": "give at least one tag"})
        if len(tags) > MAX_TAGS:
            raise ValidationFailed({"tags": f"must have at most {MAX_TAGS} tags"})
        return Prepared(operation, tags=tuple(tags))
    if action in ("add_to_list", "remove_from_list"):
        if operation.list_id is None:
            raise ValidationFailed({"listId": "name the list"})
        target = _shared_target(
            session, AudienceList, operation.list_id, viewer, kind.entity, "listId"
        )
        audience.check_can_change(target, viewer)
        return Prepared(operation, audience_list=target)
    return Prepared(operation)


@dataclass
class BulkResult:
    """What an operation did: of ``total`` selected records, ``changed`` were changed,
    ``unchanged`` were already as asked, ``refused`` could not be changed (why, by id)."""

    action: str
    entity: str
    total: int
    changed: int = 0
    unchanged: int = 0
    refused: dict[int, str] = field(default_factory=dict)
    refused_count: int = 0
    not_found: list[int] = field(default_factory=list)

    def refuse(self, record_id: int, exc: PivotalError) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REPORTED:
            details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            self.refused[record_id] = details or exc.message

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "entity": self.entity,
            "total": self.total,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "refused": self.refused_count,
            # Keys are strings: the result is stored as JSON with the job.
            "refusedIds": {str(k): v for k, v in self.refused.items()},
            "notFound": len(self.not_found),
            "notFoundIds": self.not_found[:MAX_REPORTED],
        }

    def summary(self, plural: str) -> str:
        """ "Tagged 40 contacts; 2 already as asked; 1 refused" (of the selection)."""
        noun = self.entity if self.changed == 1 else plural
        text = f"{VERBS[self.action][1]} {self.changed:,} {noun}"
        if self.unchanged:
            text += f"; {self.unchanged:,} already as asked"
        if self.refused_count:
            text += f"; {self.refused_count:,} refused"
        if self.not_found:
            text += f"; {len(self.not_found):,} not found"
        return text


Progress = Callable[..., None]


def _report(progress: Progress | None, done: int, result: BulkResult, plural: str) -> None:
    if progress is not None:
        running = VERBS[result.action][0]
        progress(
            done, result.total, f"{running} {plural}: {done:,} of {result.total:,}", force=True
        )


def _records(model: type, ids: list[int]) -> Select:
    """The records of a chunk, as the database has them now (an object the session
    already holds is refreshed: its values decide what changes)."""
    stmt = select(model).where(model.id.in_(ids)).order_by(model.id)
    return stmt.execution_options(include_deleted=True, populate_existing=True)


def _write(session: Session, kind: RecordType, staged: list[tuple[Any, dict]]) -> None:
    """Write the staged records of a chunk in one executemany UPDATE (the unit of work
    would take as long again to find what changed), then mark their values as saved, so
    that a later flush does not write them again."""
    columns = {"field_provenance", "updated_at", *kind.derived_fields}
    for _, changes in staged:
        columns.update(name.split(".", 1)[0] for name in changes)  # custom_fields.<key>
    table = kind.model.__table__
    rows = [{"_id": r.id, **{c: getattr(r, c) for c in columns}} for r, _ in staged]
    session.execute(update(table).where(table.c.id == bindparam("_id")), rows)
    for record, _ in staged:
        for column in columns:
            set_committed_value(record, column, getattr(record, column))


def _edit(
    session: Session,
    resolved: Resolved,
    result: BulkResult,
    values_of: Callable[[Any], dict[str, Any]],
    actor: Actor,
    progress: Progress | None,
) -> None:
    """Change each selected record by ``values_of(record)``, a chunk at a time: the
    record's own rules checked against the database, values and provenance staged, one
    UPDATE for the chunk, the audit events in one INSERT, then the change broadcast to
    plugins with the record as it is now."""
    kind = resolved.kind
    model = kind.model
    done = 0
    for ids in keyset_ids(session, resolved.statement(), model.id, CHUNK):
        records = session.scalars(_records(model, ids)).all()
        now = utcnow()
        audit = AuditBuffer(session, actor)
        staged: list[tuple[Any, dict[str, tuple[Any, Any]]]] = []
        with session.no_autoflush:
            for record in records:
                values = values_of(record)
                try:
                    kind.check_changes(session, record, values)
                except RECORD_ERRORS as exc:
                    result.refuse(record.id, exc)
                    continue
                for name in kind.derived_fields:
                    if name in values:
                        setattr(record, name, values[name])
                audited = {k: v for k, v in values.items() if k not in kind.derived_fields}
                changes = stage_changes(actor, record, audited, now)
                if changes:
                    audit.add(kind.entity, record.id, "update", changes, now)
                    staged.append((record, changes))
                else:
                    result.unchanged += 1
            if staged:
                _write(session, kind, staged)
            audit.flush()
            for record, changes in staged:
                notify_record_changed(session, kind.entity, record, changes, actor, "update")
        # Out of the session: it would keep every changed record of the run otherwise.
        for record in records:
            session.expunge(record)
        result.changed += len(staged)
        done += len(ids)
        _report(progress, done, result, kind.plural)


def _delete_or_restore(
    session: Session,
    resolved: Resolved,
    result: BulkResult,
    actor: Actor,
    progress: Progress | None,
) -> None:
    kind = resolved.kind
    model = kind.model
    change = kind.delete if result.action == "delete" else kind.restore
    done = 0
    for ids in keyset_ids(session, resolved.statement(), model.id, CHUNK):
        records = session.scalars(_records(model, ids)).all()
        for record in records:
            try:
                change(session, actor, record)
            except Conflict as exc:  # a restore whose email or domain is taken now
                result.refuse(record.id, exc)
                continue
            result.changed += 1
        done += len(ids)
        for record in records:
            session.expunge(record)
        _report(progress, done, result, kind.plural)


def execute(
    session: Session,
    resolved: Resolved,
    prepared: Prepared,
    actor: Actor,
    viewer: Any,
    progress: Progress | None = None,
) -> BulkResult:
    """Run a prepared operation over a resolved selection."""
    action = prepared.operation.action
    kind = resolved.kind
    result = BulkResult(action, kind.entity, resolved.total, not_found=resolved.not_found)
    _report(progress, 0, result, kind.plural)
    if action == "update":
        _edit(session, resolved, result, lambda record: prepared.values, actor, progress)
    elif action == "tag":
        _edit(
            session,
            resolved,
            result,
            lambda record: {"tags": normalize_tags([*(record.tags or ()), *prepared.tags])},
            actor,
            progress,
        )
    elif action == "untag":
        removed = set(prepared.tags)
        _edit(
            session,
            resolved,
            result,
            lambda record: {"tags": [t for t in record.tags or () if t not in removed]},
            actor,
            progress,
        )
    elif action in ("delete", "restore"):
        _delete_or_restore(session, resolved, result, actor, progress)
    else:
        # One set-based statement: the list's members are rows of their own, audited on
        # the list (as the list API does), not on each record.
        result.changed = audience.change_selected_members(
            session,
            actor,
            viewer,
            prepared.audience_list,
            resolved.statement(),
            remove=action == "remove_from_list",
        )
        result.unchanged = resolved.total - result.changed
        _report(progress, resolved.total, result, kind.plural)
    return result


# ---------------------------------------------------------------------------
# Submitting: inline or as a job
# ---------------------------------------------------------------------------


@dataclass
class Submitted:
    """A submitted operation: its ``result`` when it ran inline, else its ``job``."""

    action: str
    entity: str
    total: int
    result: BulkResult | None = None
    job: Any = None
    not_found: list[int] = field(default_factory=list)


def submit(
    session: Session,
    kind: RecordType,
    selection: Selection,
    operation: Operation,
    *,
    actor: Actor,
    viewer: Any,
    permissions: frozenset[str],
    default_region: str,
    task: Any,
) -> Submitted:
    """Check and run ``operation`` on ``selection`` for a user: inline when it holds at
    most :data:`INLINE_LIMIT` records, else as a job (``task``, queued after the
    transaction commits) whose progress the jobs API and page show.

    :raises Forbidden: (403) the role lacks a permission the action needs.
    :raises ValidationFailed: (400) the selection or the operation's input is wrong;
        fields name the part (``selection.filter.rules[0].value``, ``values.title``).
    """
    check_permission(kind, operation.action, permissions)
    if operation.action == "restore":
        selection = replace(selection, deleted=True)  # only deleted records are restored
    elif selection.deleted:
        raise ValidationFailed(
            {"selection.deleted": "only export and restore act on deleted records"}
        )
    actor = replace(actor, source="bulk")
    prepared = prepare(session, kind, operation, viewer, default_region)
    resolved = resolve(session, kind, selection, viewer)
    common = {"action": operation.action, "entity": kind.entity, "total": resolved.total}
    if resolved.total <= INLINE_LIMIT:
        result = execute(session, resolved, prepared, actor, viewer)
        return Submitted(**common, result=result, not_found=resolved.not_found)
    params = {
        "entity": kind.entity,
        "selection": selection.as_json(),
        "operation": operation.as_json(),
        "actor_id": actor.user_id,
        "role": getattr(viewer, "role", None),
        "request_id": actor.request_id,
        "default_region": default_region,
    }
    job = jobs.enqueue(
        session,
        task,
        f"bulk.{kind.plural}.{operation.action}",
        params,
        created_by_id=actor.user_id,
        total=resolved.total,
    )
    return Submitted(**common, job=job, not_found=resolved.not_found)


def bulk_job(
    registry: Any,
    session: Session,
    progress: jobs.Progress,
    *,
    entity: str,
    selection: dict[str, Any],
    operation: dict[str, Any],
    actor_id: int | None,
    role: str | None,
    request_id: str | None,
    default_region: str,
) -> dict[str, Any]:
    """The body of the ``audience.bulk`` task: the selection is resolved again (records
    matching a filter are those matching when the job runs) and the operation run in the
    job's transaction; a retry after an error starts over from nothing written."""
    kind = record_type(registry, entity)
    viewer = audience.Viewer(actor_id, role) if actor_id is not None and role else None
    actor = Actor(user_id=actor_id, source="bulk", request_id=request_id, job_id=progress.job_id)
    chosen = Selection.from_json(entity, selection)
    prepared = prepare(session, kind, Operation.from_json(operation), viewer, default_region)
    resolved = resolve(session, kind, chosen, viewer)
    result = execute(session, resolved, prepared, actor, viewer, progress)
    progress(resolved.total, resolved.total, result.summary(kind.plural), force=True)
    return result.as_json()
