"""Segments and lists in the staff UI: the segments (with the filter builder and its live
count), a segment's page (its definition in words, the cached count with "refresh now",
sample members, convert to list), the lists, a list's page with its members in a data
table (add by pasted ids, remove the selected ones).

The views call the audience services the API calls (``audience.services``); the builder's
live count goes through :func:`preview_count`, the staff UI's twin of
``POST /api/v1/segments/preview`` (the API takes bearer tokens only, the staff UI its
cookie and CSRF header). A refused form shows each error beside its field, the filter's
errors at the rule they name, and dooms the transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.view import view_config
from sqlalchemy import Select, select

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.pages import TABLE as ACCOUNTS_TABLE
from pivotal_core.api.pagination import keyset_page
from pivotal_core.api.records import request_actor
from pivotal_core.api.validation import deserialize
from pivotal_core.audience import schemas, services
from pivotal_core.audience.api import sort_keys, viewer
from pivotal_core.audience.fields import OPERATORS, FilterField, field_registry, grouped_fields
from pivotal_core.audience.filters import MAX_DEPTH, MAX_NODES, MAX_VALUES, compile_filter
from pivotal_core.audience.models import (
    ENTITY_TYPES,
    VISIBILITY_SCOPES,
    AudienceList,
    ListMember,
    SavedFilter,
    Segment,
)
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.pages import TABLE as CONTACTS_TABLE
from pivotal_core.contacts.pages import contact_label
from pivotal_core.errors import Conflict, PivotalError, Unprocessable, ValidationFailed
from pivotal_core.web.pages import safe_next
from pivotal_core.web.record_pages import (
    BulkAction,
    RecordTable,
    actor_labels,
    display_value,
    refuse,
    when,
)
from pivotal_core.web.templating import add_template_dir

READ = Permission.AUDIENCE_READ
WRITE = Permission.AUDIENCE_WRITE
FORM_ERRORS = (ValidationFailed, Conflict, Unprocessable)
INDEX_PAGE = 50
SAMPLE_SIZE = 10
# Lists, segments and saved filters offered by the builder's pickers.
PICKER_LIMIT = 500
ENTITY_LABELS = {"contact": "Contacts", "account": "Accounts"}
SOURCE_LABELS = {
    "segment": "from a segment",
    "manual_upload": "pasted ids",
    "selection": "selection",
    "filter": "from a filter",
    "domain_set": "from a domain set",
}
GROUP_LABELS = {"and": "all of", "or": "any of", "not": "none of"}
ID_SEPARATORS = re.compile(r"[\s,;]+")


def _can_write(request: Request) -> bool:
    return WRITE in request.identity.permissions


def _item(request: Request, model: type) -> Any:
    return services.get_shared(
        request.dbsession, model, int(request.matchdict["id"]), viewer(request)
    )


def _route_exists(request: Request, name: str) -> bool:
    return request.registry.getUtility(IRoutesMapper).get_route(name) is not None


# ---------------------------------------------------------------- index pages


@dataclass(frozen=True)
class IndexPage:
    """The segments or the lists the user sees: search, entity type, sort, keyset pages."""

    model: type
    route: str
    sorts: tuple[tuple[str, str], ...] = (("name", "Name"), ("-updatedAt", "Last changed"))

    def context(self, request: Request) -> dict[str, Any]:
        params = request.GET
        q = params.get("q", "").strip()[:200]
        entity = params.get("entity")
        entity = entity if entity in ENTITY_TYPES else None
        sort = params.get("sort", "name")
        sort = sort if sort in dict(self.sorts) else "name"
        deleted = params.get("deleted") == "only"
        stmt = services.shared_query(
            self.model, viewer(request), entity, q or None, deleted=deleted
        )
        page = keyset_page(
            request.dbsession,
            stmt,
            self.model.id,
            sort_keys(self.model),
            sort=sort,
            default_sort="name",
            limit=INDEX_PAGE,
            cursor=params.get("cursor") or None,
        )

        def url(**changes: Any) -> str:
            query = {"q": q, "entity": entity, "sort": sort if sort != "name" else None}
            query["deleted"] = "only" if deleted else None
            query.update(changes)
            return request.route_path(self.route, _query={k: v for k, v in query.items() if v})

        owners = actor_labels(
            request.dbsession, {i.owner_id for i in page.items if i.owner_id is not None}
        )
        return {
            "items": page.items,
            "owners": owners,
            "q": q,
            "entity": entity,
            "deleted": deleted,
            "sort": sort,
            "sorts": self.sorts,
            "entity_labels": ENTITY_LABELS,
            "url": url,
            "next_url": url(cursor=page.next_cursor) if page.next_cursor else None,
            "prev_url": url(cursor=page.prev_cursor) if page.prev_cursor else None,
            "can_write": _can_write(request),
            "when": when,
        }


SEGMENTS = IndexPage(Segment, "web.segments")
LISTS = IndexPage(AudienceList, "web.lists")


@view_config(route_name="web.segments", renderer="audience/segment_list.jinja2", permission=READ)
def segment_index(request: Request) -> dict[str, Any]:
    return SEGMENTS.context(request)


@view_config(route_name="web.lists", renderer="audience/list_list.jinja2", permission=READ)
def list_index(request: Request) -> dict[str, Any]:
    return {**LISTS.context(request), "source_labels": SOURCE_LABELS}


# ---------------------------------------------------------------- the filter builder


def builder_config(request: Request, exclude_segment: int | None = None) -> dict[str, Any]:
    """What the builder needs in the page: each entity's fields by category, the operators,
    the lists, segments and saved filters the user may pick, the limits."""
    session = request.dbsession
    who = viewer(request)

    def shared(model: type) -> list[Any]:
        stmt = services.shared_query(model, who, None, None)
        return list(session.scalars(stmt.order_by(model.name, model.id).limit(PICKER_LIMIT)))

    return {
        "fields": {
            entity: grouped_fields(field_registry(session, entity), entity)
            for entity in ENTITY_TYPES
        },
        "operators": OPERATORS,
        "lists": [
            {"id": i.id, "name": i.name, "entityType": i.entity_type} for i in shared(AudienceList)
        ],
        "segments": [
            {"id": i.id, "name": i.name, "entityType": i.entity_type}
            for i in shared(Segment)
            if i.id != exclude_segment
        ],
        "savedFilters": [
            {"id": i.id, "name": i.name, "entityType": i.entity_type, "definition": i.definition}
            for i in shared(SavedFilter)
        ],
        "previewUrl": request.route_path("web.segment_preview"),
        "limits": {"maxDepth": MAX_DEPTH, "maxRules": MAX_NODES, "maxValues": MAX_VALUES},
    }


def split_errors(fields: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the filter's errors by path, the other fields' errors)."""
    inside = {
        k: v for k, v in fields.items() if k == "definition" or k.startswith(("definition.",))
    }
    return inside, {k: v for k, v in fields.items() if k not in inside}


def sample_records(request: Request, entity: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The records of ``ids`` as the preview and a segment's page show them."""
    if not ids:
        return []
    session = request.dbsession
    if entity == "contact":
        rows = session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))
        return [
            {
                "id": c.id,
                "label": contact_label(c),
                "detail": " · ".join(p for p in (c.title, c.email) if p),
                "href": request.route_path("web.contact", id=c.id),
            }
            for c in rows
        ]
    rows = session.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.id))
    return [
        {
            "id": a.id,
            "label": a.name,
            "detail": " · ".join(p for p in (a.domain, a.industry) if p),
            "href": request.route_path("web.account", id=a.id),
        }
        for a in rows
    ]


@view_config(
    route_name="web.segment_preview", request_method="POST", renderer="json", permission=READ
)
def preview_count(request: Request) -> dict[str, Any]:
    """The builder's live count: ``{"count", "sample"}``, or the API's error shape whose
    ``fields`` name the paths of the bad rules."""
    try:
        try:
            body = request.json_body
        except ValueError:
            raise ValidationFailed({"body": "must be a JSON object"}) from None
        values = deserialize(schemas.PreviewInput(), body)
        entity = values["entityType"]
        result = services.preview(
            request.dbsession, entity, values["definition"], viewer(request), SAMPLE_SIZE
        )
    except PivotalError as exc:
        request.response.status_int = exc.status
        return exc.as_dict()
    return {
        "entityType": entity,
        "count": result["count"],
        "sample": sample_records(request, entity, result["sample_ids"]),
    }


# ---------------------------------------------------------------- a definition in words


def describe_definition(request: Request, entity: str, definition: Any) -> dict[str, Any] | None:
    """The definition as nested groups of sentences ("Country is any of DE, FR"); None
    when it is not a group (a broken stored definition is shown as JSON instead)."""
    if not isinstance(definition, Mapping) or not isinstance(definition.get("rules"), list):
        return None
    fields = field_registry(request.dbsession, entity)
    references = services.definition_references(definition)
    who = viewer(request)
    names = {
        "list": {i: x.name for i, x in services.visible_lists(
            request.dbsession, references["list"], who).items()},
        "segment": {i: x.name for i, x in services.visible_segments(
            request.dbsession, references["segment"], who).items()},
    }  # fmt: skip

    def value_text(item: FilterField | None, operator: str, value: Any) -> str:
        shape = OPERATORS.get(operator, {}).get("value")
        if shape == "none":
            return ""
        if shape == "days":
            return f"{value} days"
        if shape == "ids" and item is not None and item.references in names:
            ids = value if isinstance(value, list) else [value]
            known = names[item.references]
            return ", ".join(f"{known.get(i, item.references + ' ' + str(i))}" for i in ids)
        if shape == "range" and isinstance(value, list) and len(value) == 2:
            return f"{display_value(value[0])} and {display_value(value[1])}"
        return display_value(value)

    def node(data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping) and "rules" in data:
            rules = data.get("rules") if isinstance(data.get("rules"), list) else []
            return {
                "group": GROUP_LABELS.get(data.get("op"), str(data.get("op"))),
                "rules": [node(child) for child in rules],
            }
        data = data if isinstance(data, Mapping) else {}
        item = fields.get(data.get("field"))
        operator = str(data.get("operator"))
        return {
            "field": item.label_for(entity) if item else str(data.get("field")),
            "operator": OPERATORS.get(operator, {}).get("label", operator),
            "value": value_text(item, operator, data.get("value")),
        }

    return node(definition)


# ---------------------------------------------------------------- segment forms


SEGMENT_NAMES = ("name", "description", "entityType", "tags", "visibilityScope", "isActive")


def _tags(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def segment_form_input(post: Mapping[str, str]) -> dict[str, Any]:
    """The submitted segment form, checked by the API's own input schema; the definition
    is the builder's JSON. Raises :class:`ValidationFailed` naming every bad field."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "name": " ".join(post.get("name", "").split()) or None,
        "description": post.get("description", "").strip() or None,
        "entityType": post.get("entityType") or None,
        "tags": _tags(post.get("tags", "")),
        "visibilityScope": post.get("visibilityScope") or None,
        "isActive": post.get("isActive") == "1",
    }
    try:
        data["definition"] = json.loads(post.get("definition", ""))
    except ValueError:
        errors["definition"] = "is not a filter the server can read; build it again"
    try:
        values = deserialize(
            schemas.SegmentInput(), {k: v for k, v in data.items() if v is not None}
        )
    except ValidationFailed as exc:
        errors = {**exc.fields, **errors}
        values = {}
    if errors:
        raise ValidationFailed(errors)
    return schemas.from_api(values)


def segment_form_values(segment: Segment | None) -> dict[str, Any]:
    if segment is None:
        return {
            "name": "",
            "description": "",
            "entityType": "contact",
            "tags": "",
            "visibilityScope": "private",
            "isActive": True,
            "definition": {"op": "and", "rules": []},
        }
    return {
        "name": segment.name,
        "description": segment.description or "",
        "entityType": segment.entity_type,
        "tags": ", ".join(segment.tags or []),
        "visibilityScope": segment.visibility_scope,
        "isActive": segment.is_active,
        "definition": segment.definition,
    }


def submitted_segment_values(post: Mapping[str, str]) -> dict[str, Any]:
    """The form as submitted, to show it again with its errors."""
    try:
        definition = json.loads(post.get("definition", ""))
    except ValueError:
        definition = {"op": "and", "rules": []}
    return {
        **{name: post.get(name, "") for name in SEGMENT_NAMES},
        "isActive": post.get("isActive") == "1",
        "definition": definition,
    }


def segment_form_page(
    request: Request,
    segment: Segment | None,
    values: Mapping[str, Any],
    error: PivotalError | None = None,
) -> dict[str, Any]:
    filter_errors, errors = split_errors(error.fields if error else {})
    known = {*SEGMENT_NAMES}
    return {
        "segment": segment,
        "values": values,
        "errors": {k: v for k, v in errors.items() if k in known},
        "other_errors": [f"{k}: {v}" for k, v in errors.items() if k not in known],
        "summary": None if error is None or isinstance(error, ValidationFailed) else error.message,
        "filter_errors": filter_errors,
        "builder": builder_config(request, segment.id if segment else None),
        "entities": [(e, ENTITY_LABELS[e]) for e in ENTITY_TYPES],
        "scopes": [(s, s) for s in VISIBILITY_SCOPES],
        "action_url": request.route_path("web.segment_edit", id=segment.id)
        if segment
        else request.route_path("web.segment_new"),
        "cancel_url": request.route_path("web.segment", id=segment.id)
        if segment
        else request.route_path("web.segments"),
    }


@view_config(
    route_name="web.segment_new",
    request_method="GET",
    renderer="audience/segment_form.jinja2",
    permission=WRITE,
)
def new_segment(request: Request) -> dict[str, Any]:
    values = segment_form_values(None)
    entity = request.GET.get("entity")
    if entity in ENTITY_TYPES:
        values["entityType"] = entity
    return segment_form_page(request, None, values)


@view_config(
    route_name="web.segment_new",
    request_method="POST",
    renderer="audience/segment_form.jinja2",
    permission=WRITE,
)
def create_segment(request: Request):
    try:
        values = segment_form_input(request.POST)
        segment = services.create_segment(
            request.dbsession, request_actor(request, "ui"), viewer(request), values
        )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        return segment_form_page(request, None, submitted_segment_values(request.POST), exc)
    request.session.flash(
        f"Created segment “{segment.name}”: {segment.record_count_cache:,} "
        f"{segment.entity_type}s match.",
        "success",
    )
    return HTTPSeeOther(location=request.route_path("web.segment", id=segment.id))


@view_config(
    route_name="web.segment_edit",
    request_method="GET",
    renderer="audience/segment_form.jinja2",
    permission=WRITE,
)
def edit_segment(request: Request) -> dict[str, Any]:
    segment = _item(request, Segment)
    return segment_form_page(request, segment, segment_form_values(segment))


@view_config(
    route_name="web.segment_edit",
    request_method="POST",
    renderer="audience/segment_form.jinja2",
    permission=WRITE,
)
def update_segment(request: Request):
    segment = _item(request, Segment)
    try:
        values = segment_form_input(request.POST)
        # Only what changed: sending the unchanged visibility would ask for the right
        # to change who sees the segment, which only its owner and managers have.
        changed = {k: v for k, v in values.items() if getattr(segment, k, None) != v}
        services.update_segment(
            request.dbsession, request_actor(request, "ui"), viewer(request), segment, changed
        )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        return segment_form_page(request, segment, submitted_segment_values(request.POST), exc)
    request.session.flash(
        f"Saved segment “{segment.name}”" if changed else "Nothing changed",
        "success" if changed else "info",
    )
    return HTTPSeeOther(location=request.route_path("web.segment", id=segment.id))


# ---------------------------------------------------------------- a segment's page


@view_config(route_name="web.segment", renderer="audience/segment_detail.jinja2", permission=READ)
def segment_detail(request: Request) -> dict[str, Any]:
    segment = _item(request, Segment)
    session = request.dbsession
    sample: list[dict[str, Any]] = []
    sample_error = None
    try:
        stmt = compile_filter(
            session,
            segment.entity_type,
            segment.definition,
            viewer=viewer(request),
            segment_id=segment.id,
        )
        sample = sample_records(
            request, segment.entity_type, services.sample_ids(stmt, session, SAMPLE_SIZE)
        )
    except PivotalError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
        sample_error = exc.message + (f" ({details})" if details else "")
    owners = actor_labels(session, {segment.owner_id} if segment.owner_id else set())
    return {
        "segment": segment,
        "summary": describe_definition(request, segment.entity_type, segment.definition),
        "definition_json": json.dumps(segment.definition, indent=2, ensure_ascii=False),
        "sample": sample,
        "sample_error": sample_error,
        "owner": owners.get(segment.owner_id),
        "entity_labels": ENTITY_LABELS,
        "can_write": _can_write(request),
        "when": when,
        "scopes": [(s, s) for s in VISIBILITY_SCOPES],
        "export_route": export_route(request, "web.segment_export"),
    }


def _action_failed(request: Request, exc: PivotalError) -> None:
    request.tm.doom()
    details = "; ".join(exc.fields.values())
    request.session.flash(exc.message + (f": {details}" if details else ""), "error")


@view_config(route_name="web.segment_refresh", request_method="POST", permission=WRITE)
def refresh_segment(request: Request):
    segment = _item(request, Segment)
    try:
        services.refresh_segment(request.dbsession, segment, viewer(request))
    except PivotalError as exc:
        _action_failed(request, exc)
    else:
        request.session.flash(
            f"Counted {segment.record_count_cache:,} {segment.entity_type}s now.", "success"
        )
    return HTTPSeeOther(location=request.route_path("web.segment", id=segment.id))


@view_config(route_name="web.segment_convert", request_method="POST", permission=WRITE)
def convert_segment(request: Request):
    segment = _item(request, Segment)
    post = request.POST
    try:
        data = {
            "name": " ".join(post.get("name", "").split()) or None,
            "visibilityScope": post.get("visibilityScope") or None,
        }
        values = schemas.from_api(
            deserialize(schemas.ConvertInput(), {k: v for k, v in data.items() if v})
        )
        audience_list = services.convert_segment_to_list(
            request.dbsession,
            request_actor(request, "ui"),
            viewer(request),
            segment,
            {k: v for k, v in values.items() if v is not None},
        )
    except PivotalError as exc:
        _action_failed(request, exc)
        return HTTPSeeOther(location=request.route_path("web.segment", id=segment.id))
    request.session.flash(
        f"Saved {audience_list.member_count:,} {segment.entity_type}s of “{segment.name}” as "
        f"the list “{audience_list.name}”.",
        "success",
    )
    return HTTPSeeOther(location=request.route_path("web.list", id=audience_list.id))


def _delete(request: Request, model: type, delete: Any, label: str, route: str):
    """Soft-delete a segment or a list (``route`` names its page; its index is ``route``
    + s); refused (used by a segment, not the user's to delete): back to its page."""
    item = _item(request, model)
    try:
        delete(request.dbsession, request_actor(request, "ui"), viewer(request), item)
    except PivotalError as exc:
        _action_failed(request, exc)
        return HTTPSeeOther(location=request.route_path(route, id=item.id))
    request.session.flash(
        f"Deleted {label} “{item.name}”. It can be restored from “Show deleted”.", "success"
    )
    return HTTPSeeOther(location=request.route_path(route + "s"))


@view_config(route_name="web.segment_delete", request_method="POST", permission=WRITE)
def delete_segment(request: Request):
    return _delete(request, Segment, services.delete_segment, "segment", "web.segment")


def _restore(request: Request, model: type, label: str, route: str):
    """Restore a soft-deleted segment or list (from its index's deleted view) and open it."""
    item = services.get_shared(
        request.dbsession,
        model,
        int(request.matchdict["id"]),
        viewer(request),
        include_deleted=True,
    )
    try:
        services.restore_shared(
            request.dbsession, request_actor(request, "ui"), viewer(request), item
        )
    except PivotalError as exc:
        _action_failed(request, exc)
        return HTTPSeeOther(location=request.route_path(route + "s", _query={"deleted": "only"}))
    request.session.flash(f"Restored {label} “{item.name}”.", "success")
    return HTTPSeeOther(location=request.route_path(route, id=item.id))


@view_config(route_name="web.segment_restore", request_method="POST", permission=WRITE)
def restore_segment(request: Request):
    return _restore(request, Segment, "segment", "web.segment")


# ---------------------------------------------------------------- lists


@dataclass(frozen=True)
class MemberTable(RecordTable):
    """The contacts or accounts table of the record pages, limited to one list's members."""

    list_id: int = 0

    def base_statement(self, deleted: bool) -> Select:
        members = select(ListMember.record_id).where(ListMember.list_id == self.list_id)
        return super().base_statement(deleted).where(self.model.id.in_(members))


def member_table(audience_list: AudienceList) -> MemberTable:
    base = CONTACTS_TABLE if audience_list.entity_type == "contact" else ACCOUNTS_TABLE
    return MemberTable(
        # The name is the selection's scope in the browser: one per list.
        name=f"members of list {audience_list.id}",
        model=base.model,
        columns=base.columns,
        sort_keys=base.sort_keys,
        default_sort=base.default_sort,
        search=base.search,
        detail_route=base.detail_route,
        list_route="web.list",
        load_options=base.load_options,
        list_id=audience_list.id,
    )


def parse_ids(raw: str) -> list[int]:
    """Ids pasted as text: separated by commas, semicolons, spaces or new lines."""
    ids = []
    for part in ID_SEPARATORS.split(raw.strip()):
        if not part:
            continue
        if not part.isdigit() or len(part) > 18:
            shown = part if len(part) <= 30 else part[:29] + "…"
            raise ValidationFailed({"recordIds": f"“{shown}” is not a record id"})
        ids.append(int(part))
    if len(ids) > services.MAX_RECORD_IDS:
        raise ValidationFailed({"recordIds": f"must have at most {services.MAX_RECORD_IDS:,} ids"})
    return ids


def export_route(request: Request, name: str) -> str | None:
    """The staff UI's export of a list's or a segment's members (``audience/bulk_pages``),
    when it is there."""
    return name if _route_exists(request, name) else None


def list_page(
    request: Request,
    audience_list: AudienceList,
    errors: Mapping[str, str] | None = None,
    pasted: str = "",
) -> dict[str, Any]:
    session = request.dbsession
    table = member_table(audience_list)
    view = table.view(request)
    source = audience_list.source_ref or {}
    segment = None
    if isinstance(source.get("segmentId"), int):
        found = services.visible_segments(session, [source["segmentId"]], viewer(request))
        segment = found.get(source["segmentId"])
    domain_set = source.get("domainSetId")
    domain_set_url = (
        request.route_path("web.domain_set", id=domain_set)
        if isinstance(domain_set, int) and _route_exists(request, "web.domain_set")
        else None
    )
    can_write = _can_write(request)
    actions = []
    if can_write:
        actions.append(
            BulkAction(
                request.route_path("web.list_members_remove", id=audience_list.id),
                "Remove from list",
                confirm=f"Remove {{count}} {audience_list.entity_type}s from "
                f"“{audience_list.name}”? The records themselves stay.",
                style="danger",
            )
        )
    owners = actor_labels(session, {audience_list.owner_id} if audience_list.owner_id else set())
    return {
        "audience_list": audience_list,
        "view": view,
        "bulk_actions": actions,
        "segment": segment,
        "domain_set_url": domain_set_url,
        "source_summary": describe_definition(
            request, audience_list.entity_type, source.get("definition")
        )
        if source.get("definition")
        else None,
        "owner": owners.get(audience_list.owner_id),
        "entity_labels": ENTITY_LABELS,
        "source_labels": SOURCE_LABELS,
        "can_write": can_write,
        "errors": dict(errors or {}),
        "pasted": pasted,
        "export_route": export_route(request, "web.list_export"),
        "when": when,
    }


@view_config(route_name="web.list", renderer="audience/list_detail.jinja2", permission=READ)
def list_detail(request: Request) -> dict[str, Any]:
    return list_page(request, _item(request, AudienceList))


def list_form_page(
    request: Request, values: Mapping[str, Any], error: PivotalError | None = None
) -> dict[str, Any]:
    fields = error.fields if error else {}
    known = {"name", "description", "entityType", "tags", "visibilityScope", "recordIds"}
    return {
        "values": values,
        "errors": {k: v for k, v in fields.items() if k in known},
        "other_errors": [f"{k}: {v}" for k, v in fields.items() if k not in known],
        "summary": None if error is None or isinstance(error, ValidationFailed) else error.message,
        "entities": [(e, ENTITY_LABELS[e]) for e in ENTITY_TYPES],
        "scopes": [(s, s) for s in VISIBILITY_SCOPES],
    }


@view_config(
    route_name="web.list_new",
    request_method="GET",
    renderer="audience/list_form.jinja2",
    permission=WRITE,
)
def new_list(request: Request) -> dict[str, Any]:
    entity = request.GET.get("entity")
    values = {
        "name": "",
        "description": "",
        "entityType": entity if entity in ENTITY_TYPES else "contact",
        "tags": "",
        "visibilityScope": "private",
        "recordIds": "",
    }
    return list_form_page(request, values)


@view_config(
    route_name="web.list_new",
    request_method="POST",
    renderer="audience/list_form.jinja2",
    permission=WRITE,
)
def create_list(request: Request):
    post = request.POST
    submitted = {
        k: post.get(k, "")
        for k in ("name", "description", "entityType", "tags", "visibilityScope", "recordIds")
    }
    try:
        errors: dict[str, str] = {}
        try:
            ids = parse_ids(submitted["recordIds"])
        except ValidationFailed as exc:
            errors.update(exc.fields)
            ids = []
        data = {
            "name": " ".join(submitted["name"].split()) or None,
            "description": submitted["description"].strip() or None,
            "entityType": submitted["entityType"] or None,
            "tags": _tags(submitted["tags"]),
            "visibilityScope": submitted["visibilityScope"] or None,
            "sourceType": "manual_upload",
        }
        try:
            values = deserialize(
                schemas.ListInput(), {k: v for k, v in data.items() if v is not None}
            )
        except ValidationFailed as exc:
            errors = {**exc.fields, **errors}
        if errors:
            raise ValidationFailed(errors)
        audience_list = services.create_list(
            request.dbsession,
            request_actor(request, "ui"),
            viewer(request),
            schemas.from_api({k: v for k, v in values.items() if v is not None}),
            record_ids=ids or None,
        )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        return list_form_page(request, submitted, exc)
    request.session.flash(
        f"Created list “{audience_list.name}” with {audience_list.member_count:,} members.",
        "success",
    )
    return HTTPSeeOther(location=request.route_path("web.list", id=audience_list.id))


@view_config(
    route_name="web.list_members_add",
    request_method="POST",
    renderer="audience/list_detail.jinja2",
    permission=WRITE,
)
def add_list_members(request: Request):
    audience_list = _item(request, AudienceList)
    pasted = request.POST.get("recordIds", "")
    try:
        ids = parse_ids(pasted)
        if not ids:
            raise ValidationFailed({"recordIds": "paste at least one id"})
        added = services.add_members(
            request.dbsession,
            request_actor(request, "ui"),
            viewer(request),
            audience_list,
            record_ids=ids,
        )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        # Whatever the service names (recordIds, body), it is about the pasted ids.
        message = "; ".join(exc.fields.values()) or exc.message
        return list_page(request, audience_list, {"recordIds": message}, pasted)
    already = len(set(ids)) - added
    message = f"Added {added:,} {audience_list.entity_type}s (now {audience_list.member_count:,})"
    if already:
        message += f"; {already:,} were members already"
    request.session.flash(message + ".", "success" if added else "info")
    return HTTPSeeOther(location=request.route_path("web.list", id=audience_list.id))


@view_config(route_name="web.list_members_remove", request_method="POST", permission=WRITE)
def remove_list_members(request: Request):
    audience_list = _item(request, AudienceList)
    back = request.POST.get("came_from")
    location = safe_next(back) if back else request.route_path("web.list", id=audience_list.id)
    try:
        ids = member_table(audience_list).selected_ids(request, request.POST)
        if len(ids) > services.MAX_RECORD_IDS:
            raise ValidationFailed(
                {"ids": f"select at most {services.MAX_RECORD_IDS:,} members to remove at once"}
            )
        removed = services.remove_members(
            request.dbsession,
            request_actor(request, "ui"),
            viewer(request),
            audience_list,
            record_ids=ids,
        )
    except PivotalError as exc:
        _action_failed(request, exc)
        return HTTPSeeOther(location=location)
    request.session.flash(
        f"Removed {removed:,} {audience_list.entity_type}s from “{audience_list.name}”.",
        "success",
    )
    return HTTPSeeOther(location=location)


@view_config(route_name="web.list_delete", request_method="POST", permission=WRITE)
def delete_list(request: Request):
    return _delete(request, AudienceList, services.delete_list, "list", "web.list")


@view_config(route_name="web.list_restore", request_method="POST", permission=WRITE)
def restore_list(request: Request):
    return _restore(request, AudienceList, "list", "web.list")


def _current_id(request: Request, elements: Any, kw: dict[str, Any]) -> tuple[Any, dict]:
    """``route_path("web.list")`` on a list's page means this list: the data table builds
    its search, sort and page links from the route name alone."""
    if "id" not in kw and request.matchdict and "id" in request.matchdict:
        kw["id"] = request.matchdict["id"]
    return elements, kw


def includeme(config) -> None:
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    item = "/{id:\\d+}"
    config.add_route("web.segments", "/segments")
    config.add_route("web.segment_new", "/segments/new")
    config.add_route("web.segment_preview", "/segments/preview")
    config.add_route("web.segment", "/segments" + item)
    config.add_route("web.segment_edit", "/segments" + item + "/edit")
    config.add_route("web.segment_refresh", "/segments" + item + "/refresh")
    config.add_route("web.segment_convert", "/segments" + item + "/convert")
    config.add_route("web.segment_delete", "/segments" + item + "/delete")
    config.add_route("web.segment_restore", "/segments" + item + "/restore")
    config.add_route("web.lists", "/lists")
    config.add_route("web.list_new", "/lists/new")
    config.add_route("web.list", "/lists" + item, pregenerator=_current_id)
    config.add_route("web.list_members_add", "/lists" + item + "/members/add")
    config.add_route("web.list_members_remove", "/lists" + item + "/members/remove")
    config.add_route("web.list_delete", "/lists" + item + "/delete")
    config.add_route("web.list_restore", "/lists" + item + "/restore")
    config.scan(".pages")
