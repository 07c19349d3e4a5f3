"""The audience API: /api/v1/filter-fields, /saved-filters, /segments, /lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import (
    SortKey,
    add_deleted_parameter,
    add_page_parameters,
    keyset_page,
)
from pivotal_core.api.records import page_json, request_actor
from pivotal_core.audience import schemas, services
from pivotal_core.audience.fields import OPERATORS, field_registry, grouped_fields
from pivotal_core.audience.filters import MAX_DEPTH, MAX_NODES, MAX_VALUES
from pivotal_core.audience.models import ENTITY_TYPES, AudienceList, SavedFilter, Segment
from pivotal_core.authnz.permissions import Permission
from pivotal_core.errors import ValidationFailed

READ = Permission.AUDIENCE_READ
WRITE = Permission.AUDIENCE_WRITE
ITEM = "/{id:\\d+}"


def viewer(request: Request) -> services.Viewer:
    identity = request.identity
    return services.Viewer(user_id=identity.user_id, role=identity.user.role)


def item_id(request: Request) -> int:
    return int(request.matchdict["id"])


# ---------------------------------------------------------------------------
# Filter fields and preview
# ---------------------------------------------------------------------------


def filter_fields_view(request: Request) -> dict[str, Any]:
    entity = request.validated_query["entity"]
    fields = field_registry(request.dbsession, entity)
    return {
        "entity": entity,
        "categories": grouped_fields(fields, entity),
        "operators": OPERATORS,
        "limits": {"maxDepth": MAX_DEPTH, "maxRules": MAX_NODES, "maxValues": MAX_VALUES},
    }


def preview_view(request: Request) -> dict[str, Any]:
    values = request.validated
    entity = values["entityType"]
    result = services.preview(
        request.dbsession, entity, values["definition"], viewer(request), values["sampleSize"]
    )
    return {"entityType": entity, "count": result["count"], "sampleIds": result["sample_ids"]}


# ---------------------------------------------------------------------------
# Saved filters, segments and lists: the same resource shape
# ---------------------------------------------------------------------------


def list_query(settings: dict[str, Any]) -> colander.SchemaNode:
    schema = add_page_parameters(
        colander.SchemaNode(colander.Mapping()),
        settings["api.max_page_size"],
        settings["api.default_page_size"],
    )
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="sort",
            missing=None,
            description="name, id, createdAt or updatedAt; prefix - for descending",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.String(), name="q", missing=None, validator=colander.Length(max=200)
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="entityType",
            missing=None,
            validator=colander.OneOf(ENTITY_TYPES),
        )
    )
    return add_deleted_parameter(schema, "ones (to restore them)")


def sort_keys(model: type) -> dict[str, SortKey]:
    return {
        "name": SortKey("name", model.name),
        "id": SortKey("id", model.id, "number"),
        "createdAt": SortKey("createdAt", model.created_at, "datetime"),
        "updatedAt": SortKey("updatedAt", model.updated_at, "datetime"),
    }


def add_shared_endpoints(
    config: Configurator,
    model: type,
    plural: str,
    to_json: Callable[[Any], dict[str, Any]],
    input_schema: colander.SchemaNode,
    output_schema: colander.SchemaNode,
    create: Callable[..., Any],
    update: Callable[..., Any],
    delete: Callable[..., Any],
    update_schema: colander.SchemaNode | None = None,
) -> None:
    """List, create, read, update and soft-delete of one kind of audience."""
    label = services.LABELS[model].lower()
    name = f"api.{plural.replace('-', '_')}"
    keys = sort_keys(model)

    def list_view(request: Request) -> dict[str, Any]:
        params = request.validated_query
        stmt = services.shared_query(
            model,
            viewer(request),
            params["entityType"],
            params["q"],
            deleted=params["deleted"] == "only",
        )
        page = keyset_page(
            request.dbsession,
            stmt,
            model.id,
            keys,
            sort=params["sort"],
            default_sort="name",
            limit=params["limit"],
            cursor=params["cursor"],
        )
        return page_json([to_json(item) for item in page.items], page, params["limit"])

    def create_view(request: Request) -> dict[str, Any]:
        item = create(
            request.dbsession,
            request_actor(request),
            viewer(request),
            schemas.from_api(request.validated),
        )
        return to_json(item)

    def get_view(request: Request) -> dict[str, Any]:
        return to_json(
            services.get_shared(request.dbsession, model, item_id(request), viewer(request))
        )

    def update_view(request: Request) -> dict[str, Any]:
        item = services.get_shared(request.dbsession, model, item_id(request), viewer(request))
        values = schemas.from_api(request.validated)
        update(request.dbsession, request_actor(request), viewer(request), item, values)
        return to_json(item)

    def delete_view(request: Request) -> dict[str, Any]:
        item = services.get_shared(request.dbsession, model, item_id(request), viewer(request))
        delete(request.dbsession, request_actor(request), viewer(request), item)
        return to_json(item)

    def restore_view(request: Request) -> dict[str, Any]:
        item = services.get_shared(
            request.dbsession, model, item_id(request), viewer(request), include_deleted=True
        )
        services.restore_shared(request.dbsession, request_actor(request), viewer(request), item)
        return to_json(item)

    common = {"tag": plural, "response": output_schema}
    add_endpoint(
        config,
        name,
        f"/{plural}",
        "GET",
        list_view,
        permission=READ,
        summary=f"List the {label}s you can see (keyset paged)",
        query=list_query(config.get_settings()),
        **common,
    )
    add_endpoint(
        config,
        name,
        f"/{plural}",
        "POST",
        create_view,
        permission=WRITE,
        summary=f"Create a {label}",
        body=input_schema,
        status=201,
        **common,
    )
    add_endpoint(
        config,
        f"{name}.item",
        f"/{plural}{ITEM}",
        "GET",
        get_view,
        permission=READ,
        summary=f"Read a {label}",
        **common,
    )
    add_endpoint(
        config,
        f"{name}.item",
        f"/{plural}{ITEM}",
        "PATCH",
        update_view,
        permission=WRITE,
        summary=f"Change a {label}",
        body=update_schema or input_schema,
        **common,
    )
    add_endpoint(
        config,
        f"{name}.item",
        f"/{plural}{ITEM}",
        "DELETE",
        delete_view,
        permission=WRITE,
        summary=f"Delete a {label} (soft; it can be restored)",
        **common,
    )
    add_endpoint(
        config,
        f"{name}.restore",
        f"/{plural}{ITEM}/restore",
        "POST",
        restore_view,
        permission=WRITE,
        summary=f"Restore a soft-deleted {label} (a live one is left as it is)",
        **common,
    )


# ---------------------------------------------------------------------------
# Segment actions
# ---------------------------------------------------------------------------


def refresh_view(request: Request) -> dict[str, Any]:
    segment = services.get_shared(request.dbsession, Segment, item_id(request), viewer(request))
    return schemas.segment_json(
        services.refresh_segment(request.dbsession, segment, viewer(request))
    )


def convert_view(request: Request) -> dict[str, Any]:
    segment = services.get_shared(request.dbsession, Segment, item_id(request), viewer(request))
    values = {k: v for k, v in schemas.from_api(request.validated).items() if v is not None}
    audience_list = services.convert_segment_to_list(
        request.dbsession, request_actor(request), viewer(request), segment, values
    )
    return schemas.list_json(audience_list)


# ---------------------------------------------------------------------------
# Lists: creation with members, and members
# ---------------------------------------------------------------------------


def create_list(session, actor, user, values: dict[str, Any]) -> AudienceList:
    record_ids = values.pop("recordIds", None)
    definition = values.pop("filter", None)
    return services.create_list(session, actor, user, values, record_ids, definition)


class MemberQuery(colander.MappingSchema):
    limit = colander.SchemaNode(colander.Int(), missing=100, validator=colander.Range(1, 1000))
    cursor = colander.SchemaNode(
        colander.String(), missing=None, description="next_cursor of the previous page"
    )


def members_view(request: Request) -> dict[str, Any]:
    audience_list = services.get_shared(
        request.dbsession, AudienceList, item_id(request), viewer(request)
    )
    params = request.validated_query
    cursor = params["cursor"]
    if cursor is not None and not cursor.isdigit():
        raise ValidationFailed({"cursor": "is not a valid cursor for this list"})
    ids = services.member_ids(
        request.dbsession, audience_list, int(cursor) if cursor else None, params["limit"]
    )
    more = len(ids) == params["limit"]
    return {"recordIds": ids, "next_cursor": str(ids[-1]) if ids and more else None}


def _members_change(request: Request, change: Callable[..., int], key: str) -> dict[str, Any]:
    audience_list = services.get_shared(
        request.dbsession, AudienceList, item_id(request), viewer(request)
    )
    values = request.validated
    count = change(
        request.dbsession,
        request_actor(request),
        viewer(request),
        audience_list,
        record_ids=values.get("recordIds"),
        definition=values.get("filter"),
    )
    return {key: count, "memberCount": audience_list.member_count}


def add_members_view(request: Request) -> dict[str, Any]:
    return _members_change(request, services.add_members, "added")


def remove_members_view(request: Request) -> dict[str, Any]:
    return _members_change(request, services.remove_members, "removed")


def includeme(config: Configurator) -> None:
    add_endpoint(
        config,
        "api.filter_fields",
        "/filter-fields",
        "GET",
        filter_fields_view,
        permission=READ,
        tag="audience",
        summary="Filterable fields of contacts or accounts, by category, with their operators",
        query=schemas.FilterFieldsQuery(),
    )
    add_endpoint(
        config,
        "api.segments.preview",
        "/segments/preview",
        "POST",
        preview_view,
        permission=READ,
        tag="segments",
        summary="Live count and sample ids of an unsaved filter definition",
        body=schemas.PreviewInput(),
        response=schemas.PreviewOutput(),
    )
    add_shared_endpoints(
        config,
        SavedFilter,
        "saved-filters",
        schemas.saved_filter_json,
        schemas.SavedFilterInput(),
        schemas.SavedFilterOutput(),
        services.create_saved_filter,
        services.update_saved_filter,
        services.delete_saved_filter,
    )
    add_shared_endpoints(
        config,
        Segment,
        "segments",
        schemas.segment_json,
        schemas.SegmentInput(),
        schemas.SegmentOutput(),
        services.create_segment,
        services.update_segment,
        services.delete_segment,
    )
    add_endpoint(
        config,
        "api.segments.refresh",
        f"/segments{ITEM}/refresh",
        "POST",
        refresh_view,
        permission=WRITE,
        tag="segments",
        summary="Count the segment's members now and keep the count",
        response=schemas.SegmentOutput(),
    )
    add_endpoint(
        config,
        "api.segments.convert",
        f"/segments{ITEM}/convert-to-list",
        "POST",
        convert_view,
        permission=WRITE,
        tag="segments",
        summary="Snapshot the segment's current members into a new static list",
        body=schemas.ConvertInput(),
        response=schemas.ListOutput(),
        status=201,
    )
    add_shared_endpoints(
        config,
        AudienceList,
        "lists",
        schemas.list_json,
        schemas.ListInput(),
        schemas.ListOutput(),
        create_list,
        services.update_list,
        services.delete_list,
        update_schema=schemas.ListUpdate(),
    )
    add_endpoint(
        config,
        "api.lists.members",
        f"/lists{ITEM}/members",
        "GET",
        members_view,
        permission=READ,
        tag="lists",
        summary="Member ids of a list, ascending (keyset paged)",
        query=MemberQuery(),
        response=schemas.MemberPage(),
    )
    add_endpoint(
        config,
        "api.lists.members",
        f"/lists{ITEM}/members",
        "POST",
        add_members_view,
        permission=WRITE,
        tag="lists",
        summary="Add members by recordIds or by filter",
        body=schemas.MembersInput(),
        response=schemas.MembersOutput(),
    )
    add_endpoint(
        config,
        "api.lists.members.remove",
        f"/lists{ITEM}/members/remove",
        "POST",
        remove_members_view,
        permission=WRITE,
        tag="lists",
        summary="Remove members by recordIds or by filter",
        body=schemas.MembersInput(),
        response=schemas.MembersOutput(),
    )
