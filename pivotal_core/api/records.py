"""The REST resource shape shared by accounts and contacts: list, read, create, update,
soft delete, restore and audit history, each behind its own permission."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy import select

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import SortKey, keyset_page, list_query_schema
from pivotal_core.audit.services import Actor, record_history
from pivotal_core.authnz.permissions import Permission


def request_id(request: Request) -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied[:64] if supplied else uuid.uuid4().hex


def request_actor(request: Request, source: str = "api") -> Actor:
    identity = request.identity
    return Actor(
        user_id=identity.user_id if identity else None,
        source=source,
        request_id=request.request_id,
        user=identity.user if identity else None,
    )


@dataclass(frozen=True)
class RecordResource:
    entity: str
    plural: str
    model: type
    input_schema: colander.SchemaNode
    output_schema: colander.SchemaNode
    to_json: Callable[[Request, list[Any]], list[dict[str, Any]]]
    get: Callable[..., Any]
    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    restore: Callable[..., Any]
    sort_keys: dict[str, SortKey]
    default_sort: str
    search: Callable[[str], Any]
    read_permission: str
    write_permission: str
    delete_permission: str


def page_json(items: list[dict[str, Any]], page: Any, limit: int) -> dict[str, Any]:
    return {
        "items": items,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
        "limit": limit,
    }


def audit_event_json(event: Any) -> dict[str, Any]:
    return {
        "id": event.id,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "action": event.action,
        "field": event.field,
        "old_value": event.old_value,
        "new_value": event.new_value,
        "actor_id": event.actor_id,
        "source": event.source,
        "request_id": event.request_id,
        "job_id": event.job_id,
        "created_at": event.created_at.isoformat(),
    }


def history_query_schema() -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping())
    schema.add(
        colander.SchemaNode(
            colander.Int(), name="limit", missing=50, validator=colander.Range(1, 500)
        )
    )
    schema.add(colander.SchemaNode(colander.Int(), name="before", missing=None))
    return schema


def add_record_endpoints(config: Configurator, res: RecordResource) -> None:
    settings = config.get_settings()
    region = settings["phone.default_region"]
    base = f"/{res.plural}"
    item = f"/{res.plural}/{{id:\\d+}}"
    name = f"api.{res.plural}"
    tag = res.plural
    query = list_query_schema(settings["api.max_page_size"], settings["api.default_page_size"])

    def list_view(request: Request) -> dict[str, Any]:
        params = request.validated_query
        stmt = select(res.model)
        if params["deleted"] == "only":
            stmt = stmt.where(res.model.deleted_at.is_not(None)).execution_options(
                include_deleted=True
            )
        if params["q"]:
            stmt = stmt.where(res.search(params["q"]))
        page = keyset_page(
            request.dbsession,
            stmt,
            res.model.id,
            res.sort_keys,
            sort=params["sort"],
            default_sort=res.default_sort,
            limit=params["limit"],
            cursor=params["cursor"],
        )
        return page_json(res.to_json(request, page.items), page, params["limit"])

    def record_id(request: Request) -> int:
        return int(request.matchdict["id"])

    def get_view(request: Request) -> dict[str, Any]:
        record = res.get(request.dbsession, record_id(request), include_deleted=True)
        return res.to_json(request, [record])[0]

    def create_view(request: Request) -> dict[str, Any]:
        record = res.create(
            request.dbsession, request_actor(request), request.validated, default_region=region
        )
        return res.to_json(request, [record])[0]

    def update_view(request: Request) -> dict[str, Any]:
        record = res.get(request.dbsession, record_id(request))
        res.update(
            request.dbsession,
            request_actor(request),
            record,
            request.validated,
            default_region=region,
        )
        return res.to_json(request, [record])[0]

    def delete_view(request: Request) -> dict[str, Any]:
        record = res.get(request.dbsession, record_id(request))
        res.delete(request.dbsession, request_actor(request), record)
        return res.to_json(request, [record])[0]

    def restore_view(request: Request) -> dict[str, Any]:
        record = res.get(request.dbsession, record_id(request), include_deleted=True)
        res.restore(request.dbsession, request_actor(request), record)
        return res.to_json(request, [record])[0]

    def history_view(request: Request) -> dict[str, Any]:
        res.get(request.dbsession, record_id(request), include_deleted=True)
        params = request.validated_query
        events = record_history(
            request.dbsession,
            res.entity,
            record_id(request),
            limit=params["limit"],
            before_id=params["before"],
        )
        return {
            "items": [audit_event_json(e) for e in events],
            "next_before": events[-1].id if len(events) == params["limit"] else None,
        }

    entity = res.entity
    add_endpoint(
        config,
        name,
        base,
        "GET",
        list_view,
        permission=res.read_permission,
        summary=f"List {res.plural} (keyset paged)",
        tag=tag,
        query=query,
        response=res.output_schema,
    )
    add_endpoint(
        config,
        name,
        base,
        "POST",
        create_view,
        permission=res.write_permission,
        summary=f"Create a {entity}",
        tag=tag,
        body=res.input_schema,
        response=res.output_schema,
        status=201,
    )
    add_endpoint(
        config,
        f"{name}.item",
        item,
        "GET",
        get_view,
        permission=res.read_permission,
        summary=f"Read a {entity} (soft-deleted ones too)",
        tag=tag,
        response=res.output_schema,
    )
    add_endpoint(
        config,
        f"{name}.item",
        item,
        "PATCH",
        update_view,
        permission=res.write_permission,
        summary=f"Update fields of a {entity}",
        tag=tag,
        body=res.input_schema,
        response=res.output_schema,
    )
    add_endpoint(
        config,
        f"{name}.item",
        item,
        "DELETE",
        delete_view,
        permission=res.delete_permission,
        summary=f"Soft-delete a {entity}",
        tag=tag,
        response=res.output_schema,
    )
    add_endpoint(
        config,
        f"{name}.restore",
        item + "/restore",
        "POST",
        restore_view,
        permission=res.delete_permission,
        summary=f"Restore a soft-deleted {entity}",
        tag=tag,
        response=res.output_schema,
    )
    add_endpoint(
        config,
        f"{name}.history",
        item + "/history",
        "GET",
        history_view,
        permission=Permission.AUDIT_READ,
        summary=f"Audit history of a {entity}",
        tag=tag,
        query=history_query_schema(),
    )
