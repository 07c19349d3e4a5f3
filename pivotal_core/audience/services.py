"""Audiences: matching records (count, sample, stream of ids), saved filters, segments and
lists with their members. Every write is audited; visibility is decided here.

Visibility: a ``private`` audience is seen and changed by its owner only (to anyone else it
does not exist); a ``team`` one is seen by everyone who may read audiences and changed by
its owner, admins and managers; a ``global`` one is seen and changed by everyone who may
read / write audiences. Services take ``viewer=None`` for the system (tasks), which sees
everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, exists, func, insert, literal, or_, select, true
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pivotal_core.audience.filters import MODELS, compile_filter, storable_text
from pivotal_core.audience.models import (
    ENTITY_TYPES,
    LIST_SOURCE_TYPES,
    VISIBILITY_SCOPES,
    AudienceList,
    DomainSet,
    ListMember,
    SavedFilter,
    Segment,
)
from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.authnz.permissions import Role
from pivotal_core.db import UTCDateTime, utcnow
from pivotal_core.errors import Conflict, Forbidden, NotFound, PivotalError, ValidationFailed
from pivotal_core.normalize import NormalizationError, normalize_tags, normalize_text

MAX_RECORD_IDS = 10_000  # ids in one request
MAX_SAMPLE = 100
ID_CHUNK = 1000


@dataclass(frozen=True)
class Viewer:
    """The user an audience is read or changed for."""

    user_id: int
    role: str

    @property
    def manages_shared(self) -> bool:
        return self.role in (Role.ADMIN, Role.MANAGER)


# ---------------------------------------------------------------------------
# Matching records
# ---------------------------------------------------------------------------


def count_selected(session: Session, stmt: Select) -> int:
    count = select(func.count()).select_from(stmt.subquery())
    # include_deleted must reach the outer statement, or the soft-delete hook filters inside.
    return session.scalar(count.execution_options(**stmt.get_execution_options()))


def count_matching(session: Session, entity: str, definition: Any, **options: Any) -> int:
    """How many records ``definition`` matches (options as :func:`compile_filter`)."""
    return count_selected(session, compile_filter(session, entity, definition, **options))


def sample_ids(stmt: Select, session: Session, size: int) -> list[int]:
    if size <= 0:
        return []
    id_column = stmt.selected_columns[0]
    return list(session.scalars(stmt.order_by(id_column).limit(size)))


def iter_matching_ids(
    session: Session, entity: str, definition: Any, *, chunk_size: int = 5000, **options: Any
) -> Iterator[list[int]]:
    """The ids ``definition`` matches, ascending, in chunks (keyset: constant memory)."""
    stmt = compile_filter(session, entity, definition, **options)
    id_column = stmt.selected_columns[0]
    last = 0
    while True:
        chunk = list(
            session.scalars(stmt.where(id_column > last).order_by(id_column).limit(chunk_size))
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def preview(
    session: Session, entity: str, definition: Any, viewer: Viewer | None, sample_size: int = 20
) -> dict[str, Any]:
    """A live count and the first ids of an unsaved definition.

    One statement: the matching ids are found once (a CTE used twice, which PostgreSQL
    materializes) and both counted and sampled; a separate ``ORDER BY id LIMIT n`` query
    would walk the primary key until n matches turn up, which costs as much as the count
    when the filter is selective.
    """
    stmt = compile_filter(session, entity, definition, viewer=viewer)
    size = min(sample_size, MAX_SAMPLE)
    if size <= 0:
        return {"count": count_selected(session, stmt), "sample_ids": []}
    matched = stmt.cte("matched")
    record_id = matched.c[0]
    sample = select(record_id.label("id")).order_by(record_id).limit(size).subquery("sample")
    total = select(func.count()).select_from(matched).scalar_subquery()
    both = select(total, sample.c.id).order_by(sample.c.id)
    # include_deleted must reach the outer statement, or the soft-delete hook filters inside.
    rows = session.execute(both.execution_options(**stmt.get_execution_options())).all()
    return {"count": rows[0][0] if rows else 0, "sample_ids": [row[1] for row in rows]}


# ---------------------------------------------------------------------------
# Visibility and ownership, shared by saved filters, segments and lists
# ---------------------------------------------------------------------------

Shared = SavedFilter | Segment | AudienceList | DomainSet
KINDS = {
    SavedFilter: "saved_filter",
    Segment: "segment",
    AudienceList: "list",
    DomainSet: "domain_set",
}
LABELS = {
    SavedFilter: "Saved filter",
    Segment: "Segment",
    AudienceList: "List",
    DomainSet: "Domain set",
}


def visible(model: type[Shared], viewer: Viewer | None) -> Any:
    """The condition "``viewer`` may see this row"."""
    if viewer is None:
        return true()
    return or_(model.visibility_scope != "private", model.owner_id == viewer.user_id)


def get_shared(
    session: Session,
    model: type[Shared],
    item_id: int,
    viewer: Viewer | None,
    *,
    include_deleted: bool = False,
):
    stmt = select(model).where(model.id == item_id, visible(model, viewer))
    if include_deleted:
        stmt = stmt.execution_options(include_deleted=True)
    item = session.scalar(stmt)
    if item is None:
        raise NotFound(f"{LABELS[model]} {item_id} not found")
    return item


def _visible_by_id(session: Session, model: type[Shared], ids: Iterable[int], viewer):
    rows = session.scalars(select(model).where(model.id.in_(list(ids)), visible(model, viewer)))
    return {row.id: row for row in rows}


def visible_lists(session: Session, ids: Iterable[int], viewer: Viewer | None):
    return _visible_by_id(session, AudienceList, ids, viewer)


def visible_segments(session: Session, ids: Iterable[int], viewer: Viewer | None):
    return _visible_by_id(session, Segment, ids, viewer)


def check_can_change(item: Shared, viewer: Viewer | None, changes_sharing: bool = False) -> None:
    """Owners change their own; team audiences are the owner's and managers'."""
    if viewer is None or item.owner_id == viewer.user_id:
        return
    label = LABELS[type(item)].lower()
    if item.visibility_scope == "private":
        raise NotFound(f"{LABELS[type(item)]} {item.id} not found")
    if (item.visibility_scope == "team" or changes_sharing) and not viewer.manages_shared:
        raise Forbidden(
            f"Only the owner of this {label}, an admin or a manager may change "
            + ("who sees it" if changes_sharing else f"a team {label}")
        )


def shared_query(
    model: type[Shared],
    viewer: Viewer | None,
    entity_type: str | None,
    q: str | None,
    *,
    deleted: bool = False,
) -> Select:
    """The audiences ``viewer`` sees, for a keyset-paged list; ``deleted``: the
    soft-deleted ones instead of the live ones."""
    stmt = select(model).where(visible(model, viewer))
    if deleted:
        stmt = stmt.where(model.deleted_at.is_not(None)).execution_options(include_deleted=True)
    if entity_type:
        stmt = stmt.where(model.entity_type == entity_type)
    if q:
        pattern = q.strip().lower()
        stmt = stmt.where(func.lower(model.name).contains(pattern, autoescape=True))
    return stmt


def api_name(name: str) -> str:
    """``visibility_scope`` -> ``visibilityScope``: the audience API's names, used in errors."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _checked_values(values: Mapping[str, Any], not_null: Iterable[str]) -> dict[str, Any]:
    """The values of a create or update, cleaned; every problem is reported at once."""
    prepared = dict(values)
    errors = {
        api_name(name): "may not be empty"
        for name in not_null
        if name in values and values[name] is None
    }
    if prepared.get("entity_type") not in (None, *ENTITY_TYPES):
        errors["entityType"] = f"must be one of {', '.join(ENTITY_TYPES)}"
    if prepared.get("visibility_scope") not in (None, *VISIBILITY_SCOPES):
        errors["visibilityScope"] = f"must be one of {', '.join(VISIBILITY_SCOPES)}"
    if "name" in prepared:  # single-line text, never blank
        try:
            prepared["name"] = normalize_text(prepared["name"], 200)
            if prepared["name"] is None:
                errors["name"] = "may not be empty"
        except NormalizationError as exc:
            errors["name"] = exc.message
    for name in ("name", "description"):
        if prepared.get(name) and name not in errors and not storable_text(prepared[name]):
            errors[name] = "must not contain NUL characters or invalid Unicode"
    if "tags" in prepared:
        try:
            prepared["tags"] = normalize_tags(prepared["tags"] or [])
            if not all(storable_text(tag) for tag in prepared["tags"]):
                errors["tags"] = "must not contain invalid Unicode"
        except NormalizationError as exc:
            errors["tags"] = exc.message
    if errors:
        raise ValidationFailed(errors)
    return prepared


def apply_shared_changes(
    session: Session,
    actor: Actor,
    item: Shared,
    values: Mapping[str, Any],
    names: Iterable[str],
    action: str,
) -> dict[str, tuple[Any, Any]]:
    """Set ``values`` (those in ``names``) and audit one event per changed field."""
    changes = {}
    for name in names:
        if name in values and (action == "create" or getattr(item, name) != values[name]):
            changes[name] = (None if action == "create" else getattr(item, name), values[name])
            setattr(item, name, values[name])
    if action == "create":
        session.add(item)
    session.flush()
    if changes:
        record_changes(session, actor, KINDS[type(item)], item.id, action, changes)
    return changes


def soft_delete_shared(session: Session, actor: Actor, item: Shared) -> None:
    item.deleted_at = utcnow()
    session.flush()
    record_changes(
        session,
        actor,
        KINDS[type(item)],
        item.id,
        "delete",
        {"deleted_at": (None, item.deleted_at)},
    )


def restore_shared(session: Session, actor: Actor, viewer: Viewer | None, item: Shared) -> None:
    """Bring back a soft-deleted audience (who may change it may restore it); a live one
    stays as it is. A restored segment is counted again: its count is from before."""
    check_can_change(item, viewer)
    old = item.deleted_at
    if old is None:
        return
    item.deleted_at = None
    session.flush()
    record_changes(
        session, actor, KINDS[type(item)], item.id, "restore", {"deleted_at": (old, None)}
    )
    if isinstance(item, Segment):
        try_refresh_segment(session, item, viewer)


# ---------------------------------------------------------------------------
# Saved filters
# ---------------------------------------------------------------------------

FILTER_FIELDS = ("name", "description", "entity_type", "definition", "visibility_scope")


def create_saved_filter(
    session: Session, actor: Actor, viewer: Viewer | None, values: Mapping[str, Any]
) -> SavedFilter:
    values = _checked_values(values, ("visibility_scope",))
    compile_filter(session, values["entity_type"], values["definition"], viewer=viewer)
    item = SavedFilter()
    values.setdefault("visibility_scope", "private")
    values["owner_id"] = viewer.user_id if viewer else None
    apply_shared_changes(session, actor, item, values, (*FILTER_FIELDS, "owner_id"), "create")
    return item


def update_saved_filter(
    session: Session, actor: Actor, viewer: Viewer | None, item: SavedFilter, values: Mapping
) -> SavedFilter:
    values = _checked_values(values, FILTER_FIELDS[2:])
    check_can_change(item, viewer, "visibility_scope" in values)
    entity = values.get("entity_type", item.entity_type)
    if "definition" in values or entity != item.entity_type:
        compile_filter(session, entity, values.get("definition", item.definition), viewer=viewer)
    apply_shared_changes(session, actor, item, values, FILTER_FIELDS, "update")
    return item


def delete_saved_filter(
    session: Session, actor: Actor, viewer: Viewer | None, item: SavedFilter
) -> None:
    check_can_change(item, viewer)
    soft_delete_shared(session, actor, item)


# ---------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------

SEGMENT_FIELDS = (*FILTER_FIELDS, "is_active", "tags")


def refresh_segment(session: Session, segment: Segment, viewer: Viewer | None = None) -> Segment:
    """Count the segment's members now and keep the count (a derived value: not audited)."""
    segment.record_count_cache = count_matching(
        session, segment.entity_type, segment.definition, viewer=viewer, segment_id=segment.id
    )
    segment.last_refreshed_at = utcnow()
    segment.refresh_error = None
    session.flush()
    return segment


def _check_segment(session: Session, segment_id: int | None, entity: str, definition: Any, viewer):
    compile_filter(session, entity, definition, viewer=viewer, segment_id=segment_id)


def create_segment(
    session: Session, actor: Actor, viewer: Viewer | None, values: Mapping[str, Any]
) -> Segment:
    values = _checked_values(values, ("is_active", "visibility_scope"))
    _check_segment(session, None, values["entity_type"], values["definition"], viewer)
    values.setdefault("visibility_scope", "private")
    values.setdefault("is_active", True)
    values.setdefault("tags", [])
    values["owner_id"] = viewer.user_id if viewer else None
    segment = Segment()
    apply_shared_changes(session, actor, segment, values, (*SEGMENT_FIELDS, "owner_id"), "create")
    return refresh_segment(session, segment, viewer)


def update_segment(
    session: Session, actor: Actor, viewer: Viewer | None, segment: Segment, values: Mapping
) -> Segment:
    values = _checked_values(values, (*FILTER_FIELDS[2:], "is_active"))
    check_can_change(segment, viewer, "visibility_scope" in values)
    entity = values.get("entity_type", segment.entity_type)
    definition = values.get("definition", segment.definition)
    recount = "definition" in values or entity != segment.entity_type
    if recount:
        _check_segment(session, segment.id, entity, definition, viewer)
        if entity != segment.entity_type:
            _refuse_if_used(session, "segment", segment.id, "change the entity type of")
    changes = apply_shared_changes(session, actor, segment, values, SEGMENT_FIELDS, "update")
    if recount and changes:
        refresh_segment(session, segment, viewer)
    return segment


def delete_segment(session: Session, actor: Actor, viewer: Viewer | None, segment: Segment):
    check_can_change(segment, viewer)
    _refuse_if_used(session, "segment", segment.id, "delete")
    soft_delete_shared(session, actor, segment)


def refresh_active_segments(session: Session) -> dict[str, int]:
    """Recount every active segment, each in a savepoint: one broken segment (a list it
    used was deleted) records its error and the others still refresh."""
    ids = list(
        session.scalars(select(Segment.id).where(Segment.is_active.is_(True)).order_by(Segment.id))
    )
    refreshed = failed = 0
    for segment_id in ids:
        if try_refresh_segment(session, session.get(Segment, segment_id)):
            refreshed += 1
        else:
            failed += 1
    return {"refreshed": refreshed, "failed": failed}


def try_refresh_segment(session: Session, segment: Segment, viewer: Viewer | None = None) -> bool:
    """Recount ``segment`` in a savepoint; a segment that cannot be counted (a list it
    uses was deleted) keeps its old count and records why in ``refresh_error``."""
    try:
        with session.begin_nested():
            refresh_segment(session, segment, viewer)
        return True
    except (PivotalError, SQLAlchemyError) as exc:
        message = exc.message if isinstance(exc, PivotalError) else type(exc).__name__
        details = getattr(exc, "fields", None) or {}
        # The old count stays, and lastRefreshedAt says when it was counted.
        segment.refresh_error = "; ".join([message, *details.values()])[:2000]
        session.flush()
        return False


def definition_references(definition: Any) -> dict[str, set[int]]:
    """Ids of the lists and segments a stored definition names (``in_list``, ``in_segment``)."""
    found: dict[str, set[int]] = {"list": set(), "segment": set()}
    stack = [definition]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = {"in_list": "list", "in_segment": "segment"}.get(node.get("operator"))
            value = node.get("value")
            if kind:
                ids = value if isinstance(value, list) else [value]
                found[kind].update(i for i in ids if isinstance(i, int))
            rules = node.get("rules")
            if isinstance(rules, list):
                stack.extend(rules)
    return found


def _refuse_if_used(session: Session, kind: str, item_id: int, doing: str) -> None:
    users = [
        segment_id
        for segment_id, definition in session.execute(
            select(Segment.id, Segment.definition).where(Segment.deleted_at.is_(None))
        )
        if segment_id != item_id or kind != "segment"
        if item_id in definition_references(definition)[kind]
    ]
    if users:
        names = ", ".join(str(i) for i in users)
        raise Conflict(
            f"Cannot {doing} {kind} {item_id}: segment {names} uses it",
            {"id": f"used by segment {names}"},
        )


def convert_segment_to_list(
    session: Session, actor: Actor, viewer: Viewer | None, segment: Segment, values: Mapping
) -> AudienceList:
    """Snapshot the segment's current members into a new static list (one INSERT ... SELECT)."""
    now = utcnow()
    stmt = compile_filter(
        session, segment.entity_type, segment.definition, viewer=viewer, segment_id=segment.id
    )
    list_values = {
        "name": values.get("name") or f"{segment.name} ({now:%Y-%m-%d %H:%M} UTC)",
        "description": values.get("description", segment.description),
        "entity_type": segment.entity_type,
        "source_type": "segment",
        "source_ref": {"segmentId": segment.id, "definition": segment.definition},
        "snapshot_ts": now,
        "tags": values.get("tags", segment.tags),
        "visibility_scope": values.get("visibility_scope") or "private",
    }
    audience_list = create_list(session, actor, viewer, list_values)
    added = insert_members(session, audience_list, stmt, now)
    audit_members(session, actor, audience_list, "added", added, "segment")
    return audience_list


# ---------------------------------------------------------------------------
# Lists and members
# ---------------------------------------------------------------------------

LIST_FIELDS = (
    "name",
    "description",
    "entity_type",
    "source_type",
    "source_ref",
    "snapshot_ts",
    "tags",
    "visibility_scope",
)


def create_list(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    values: Mapping[str, Any],
    record_ids: list[int] | None = None,
    definition: Any = None,
) -> AudienceList:
    """A new list, filled from ``record_ids`` or ``definition`` when given."""
    values = _checked_values(values, ("visibility_scope",))
    if record_ids is not None and definition is not None:
        raise ValidationFailed({"filter": "give either recordIds or filter, not both"})
    source = values.get("source_type")
    if definition is not None:
        source = source or "filter"
        values["source_ref"] = {"definition": definition}
        values["snapshot_ts"] = utcnow()
        allowed = ("filter",)
    elif record_ids is not None:
        source = source or "selection"
        allowed = ("selection", "manual_upload")
    else:
        source = source or "selection"
        allowed = LIST_SOURCE_TYPES
    if source not in allowed:
        raise ValidationFailed({"sourceType": f"must be one of {', '.join(allowed)} here"})
    values["source_type"] = source
    values.setdefault("visibility_scope", "private")
    values.setdefault("tags", [])
    values["owner_id"] = viewer.user_id if viewer else None
    audience_list = AudienceList(member_count=0)
    apply_shared_changes(
        session, actor, audience_list, values, (*LIST_FIELDS, "owner_id"), "create"
    )
    if record_ids:
        add_members(session, actor, viewer, audience_list, record_ids=record_ids)
    elif definition is not None:
        add_members(session, actor, viewer, audience_list, definition=definition)
    return audience_list


def update_list(
    session: Session, actor: Actor, viewer: Viewer | None, audience_list: AudienceList, values
) -> AudienceList:
    values = _checked_values(values, ("name", "visibility_scope"))
    check_can_change(audience_list, viewer, "visibility_scope" in values)
    apply_shared_changes(
        session,
        actor,
        audience_list,
        values,
        ("name", "description", "tags", "visibility_scope"),
        "update",
    )
    return audience_list


def delete_list(session: Session, actor: Actor, viewer: Viewer | None, audience_list) -> None:
    check_can_change(audience_list, viewer)
    _refuse_if_used(session, "list", audience_list.id, "delete")
    soft_delete_shared(session, actor, audience_list)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _unique_ids(record_ids: list[int]) -> list[int]:
    if len(record_ids) > MAX_RECORD_IDS:
        raise ValidationFailed({"recordIds": f"must have at most {MAX_RECORD_IDS} ids"})
    return sorted(set(record_ids))


def _check_record_ids(session: Session, entity: str, record_ids: list[int]) -> list[int]:
    """The ids, de-duplicated; every one must be a live record of ``entity``."""
    wanted = _unique_ids(record_ids)
    model = MODELS[entity]
    found: set[int] = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(model.id).where(model.id.in_(chunk))))
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise ValidationFailed({"recordIds": f"no {entity} with id {shown}"})
    return wanted


def _check_member_change(
    audience_list: AudienceList, viewer: Viewer | None, record_ids: Any, definition: Any
) -> None:
    check_can_change(audience_list, viewer)
    if (record_ids is None) == (definition is None):
        raise ValidationFailed({"body": "give either recordIds or filter"})


def _recount(session: Session, audience_list: AudienceList) -> None:
    audience_list.member_count = session.scalar(
        select(func.count()).select_from(ListMember).where(ListMember.list_id == audience_list.id)
    )
    session.flush()


def insert_members(session: Session, audience_list: AudienceList, ids: Select, at) -> int:
    """Add the ids ``ids`` selects that are not members yet; returns how many were added."""
    id_column = ids.selected_columns[0]
    already = exists().where(
        ListMember.list_id == audience_list.id, ListMember.record_id == id_column
    )
    source = ids.where(~already).with_only_columns(
        literal(audience_list.id), id_column, literal(at, UTCDateTime())
    )
    before = audience_list.member_count or 0
    session.execute(insert(ListMember).from_select(["list_id", "record_id", "added_at"], source))
    _recount(session, audience_list)
    return audience_list.member_count - before


def audit_members(session, actor, audience_list, key: str, count: int, how: str) -> None:
    if count:
        record_changes(
            session,
            actor,
            "list",
            audience_list.id,
            "update",
            {"members": (None, {key: count, "by": how})},
        )


def add_members(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    audience_list: AudienceList,
    *,
    record_ids: list[int] | None = None,
    definition: Any = None,
) -> int:
    """Add records by id or by filter; returns how many were not members before."""
    _check_member_change(audience_list, viewer, record_ids, definition)
    entity = audience_list.entity_type
    now = utcnow()
    if definition is not None:
        stmt = compile_filter(session, entity, definition, viewer=viewer, path="filter")
        added = insert_members(session, audience_list, stmt, now)
        how = "filter"
    else:
        wanted = _check_record_ids(session, entity, record_ids)
        present: set[int] = set()
        for chunk in _chunks(wanted):
            present.update(
                session.scalars(
                    select(ListMember.record_id).where(
                        ListMember.list_id == audience_list.id, ListMember.record_id.in_(chunk)
                    )
                )
            )
        new = [i for i in wanted if i not in present]
        if new:
            session.execute(
                insert(ListMember),
                [{"list_id": audience_list.id, "record_id": i, "added_at": now} for i in new],
            )
        _recount(session, audience_list)
        added = len(new)
        how = "ids"
    audit_members(session, actor, audience_list, "added", added, how)
    return added


def remove_members(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    audience_list: AudienceList,
    *,
    record_ids: list[int] | None = None,
    definition: Any = None,
) -> int:
    """Remove records by id or by filter; returns how many were members."""
    _check_member_change(audience_list, viewer, record_ids, definition)
    members = delete(ListMember).where(ListMember.list_id == audience_list.id)
    if definition is not None:
        stmt = compile_filter(
            session, audience_list.entity_type, definition, viewer=viewer, path="filter"
        )
        removed = session.execute(members.where(ListMember.record_id.in_(stmt))).rowcount
        how = "filter"
    else:
        removed = 0
        for chunk in _chunks(_unique_ids(record_ids)):
            removed += session.execute(members.where(ListMember.record_id.in_(chunk))).rowcount
        how = "ids"
    _recount(session, audience_list)
    audit_members(session, actor, audience_list, "removed", removed, how)
    return removed


def member_ids(
    session: Session, audience_list: AudienceList, after: int | None, limit: int
) -> list[int]:
    """Member ids in ascending order after ``after`` (keyset)."""
    stmt = select(ListMember.record_id).where(ListMember.list_id == audience_list.id)
    if after is not None:
        stmt = stmt.where(ListMember.record_id > after)
    return list(session.scalars(stmt.order_by(ListMember.record_id).limit(limit)))


def change_selected_members(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    audience_list: AudienceList,
    selected: Select,
    *,
    remove: bool = False,
    how: str = "selection",
) -> int:
    """Add the records ``selected`` (a select of ids of the list's entity, as bulk
    operations make) in one INSERT ... SELECT, or ``remove`` them in one DELETE; returns
    how many were added (not members before) or removed."""
    check_can_change(audience_list, viewer)
    if remove:
        members = delete(ListMember).where(
            ListMember.list_id == audience_list.id, ListMember.record_id.in_(selected)
        )
        changed = session.execute(members).rowcount
        _recount(session, audience_list)
    else:
        changed = insert_members(session, audience_list, selected, utcnow())
    audit_members(session, actor, audience_list, "removed" if remove else "added", changed, how)
    return changed
