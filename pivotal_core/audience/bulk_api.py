"""Bulk operations and exports over the API.

``POST /api/v1/bulk/{contacts|accounts}/{action}`` (update, tag, untag, add-to-list,
remove-from-list, delete, restore) answers 200 with the result when the selection holds
at most ``bulk.INLINE_LIMIT`` records, else 202 with the queued job (follow it at
``/api/v1/jobs/{id}``). ``POST /api/v1/bulk/{contacts|accounts}/export``,
``/lists/{id}/export`` and ``/segments/{id}/export`` stream CSV or JSON. Each route
declares the permission of its action; the service checks the rest (reading the records
for list actions and exports).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.records import request_actor
from pivotal_core.api.validation import Boolean, Integer, JSONObject, Text, TextList
from pivotal_core.audience import bulk, exports
from pivotal_core.audience.api import viewer
from pivotal_core.audience.models import AudienceList, Segment
from pivotal_core.audience.schemas import IdList
from pivotal_core.audience.services import get_shared
from pivotal_core.authnz.permissions import Permission
from pivotal_core.exports import attachment_filename
from pivotal_core.jobs.api import job_json
from pivotal_core.jobs.queue import register_task, registered_task

TAG = "bulk"
ITEM = "/{id:\\d+}"
# What an export streams, by its "format".
EXPORT_MEDIA_TYPES = ("text/csv", "application/json")
PATHS = {action: action.replace("_", "-") for action in bulk.ACTIONS}


class StrictMapping(colander.MappingSchema):
    """A nested JSON object whose unknown keys are refused, like the body's own."""

    def schema_type(self, **kw: Any) -> colander.Mapping:
        return colander.Mapping(unknown="raise")


def _ids(name: str, description: str) -> colander.SchemaNode:
    return colander.SchemaNode(
        IdList(),
        colander.SchemaNode(Integer(), name="id", validator=colander.Range(min=1)),
        name=name,
        missing=None,
        description=description,
    )


class SelectionInput(StrictMapping):
    recordIds = _ids(  # noqa: N815 - the API's camelCase
        "recordIds", f"explicit ids, at most {bulk.MAX_IDS:,}; not with a scope"
    )
    filter = colander.SchemaNode(
        JSONObject(max_keys=10), missing=None, description="a filter of the audience DSL"
    )
    q = colander.SchemaNode(
        Text(),
        missing=None,
        validator=colander.Length(max=200),
        description="the list page's quick filter (names and emails; account:<id>)",
    )
    listId = colander.SchemaNode(  # noqa: N815
        Integer(), missing=None, validator=colander.Range(min=1), description="members of a list"
    )
    segmentId = colander.SchemaNode(  # noqa: N815
        Integer(),
        missing=None,
        validator=colander.Range(min=1),
        description="a segment's current members",
    )
    all = colander.SchemaNode(
        Boolean(), missing=False, description="every record (narrowed by any scope given)"
    )
    exclude = _ids("exclude", f"ids taken out of a scope, at most {bulk.MAX_IDS:,}")
    deleted = colander.SchemaNode(
        Boolean(),
        missing=False,
        description="soft-deleted records (export only; restore implies it)",
    )


def _selection() -> colander.SchemaNode:
    return SelectionInput(name="selection")


class SelectionBody(colander.MappingSchema):
    selection = _selection()


class UpdateBody(colander.MappingSchema):
    selection = _selection()
    values = colander.SchemaNode(
        JSONObject(max_keys=30),
        description="fields to set, as PATCH of one record takes them; null clears a field",
    )


class TagsBody(colander.MappingSchema):
    selection = _selection()
    tags = colander.SchemaNode(TextList(max_items=bulk.MAX_TAGS))


class ListBody(colander.MappingSchema):
    selection = _selection()
    listId = colander.SchemaNode(Integer(), validator=colander.Range(min=1))  # noqa: N815


def _columns() -> colander.SchemaNode:
    return colander.SchemaNode(
        TextList(max_items=exports.MAX_COLUMNS, max_length=200),
        missing=None,
        description="column names (default: the usual columns, custom fields included)",
    )


def _format() -> colander.SchemaNode:
    return colander.SchemaNode(Text(), missing="csv", validator=colander.OneOf(exports.FORMATS))


class AudienceExportBody(colander.MappingSchema):
    columns = _columns()
    format = _format()


class ExportBody(AudienceExportBody):
    selection = _selection()


class BulkOutput(colander.MappingSchema):
    status = colander.SchemaNode(Text(), validator=colander.OneOf(("done", "queued")))
    action = colander.SchemaNode(Text())
    entity = colander.SchemaNode(Text())
    total = colander.SchemaNode(Integer())
    changed = colander.SchemaNode(Integer(), missing=None)
    unchanged = colander.SchemaNode(Integer(), missing=None)
    refused = colander.SchemaNode(Integer(), missing=None)
    refusedIds = colander.SchemaNode(JSONObject(), missing=None)  # noqa: N815
    notFound = colander.SchemaNode(Integer())  # noqa: N815
    notFoundIds = colander.SchemaNode(  # noqa: N815
        colander.Sequence(), colander.SchemaNode(Integer())
    )
    job = colander.SchemaNode(JSONObject(), missing=None)


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------


def submitted_json(submitted: bulk.Submitted) -> dict[str, Any]:
    if submitted.result is not None:
        return {"status": "done", **submitted.result.as_json(), "job": None}
    return {
        "status": "queued",
        "action": submitted.action,
        "entity": submitted.entity,
        "total": submitted.total,
        "notFound": len(submitted.not_found),
        "notFoundIds": submitted.not_found[: bulk.MAX_REPORTED],
        "job": job_json(submitted.job),
    }


def _operation(action: str, body: dict[str, Any]) -> bulk.Operation:
    return bulk.Operation(
        action=action,
        values=body.get("values"),
        tags=tuple(body.get("tags") or ()),
        list_id=body.get("listId"),
    )


def bulk_view(entity: str, action: str) -> Callable[[Request], dict[str, Any]]:
    def view(request: Request) -> dict[str, Any]:
        kind = bulk.record_type(request.registry, entity)
        body = request.validated
        submitted = bulk.submit(
            request.dbsession,
            kind,
            bulk.Selection.from_json(entity, body["selection"]),
            _operation(action, body),
            actor=request_actor(request),
            viewer=viewer(request),
            permissions=request.identity.permissions,
            default_region=request.registry.settings["phone.default_region"],
            task=registered_task(request.huey, bulk.BULK_TASK),
        )
        if submitted.job is not None:
            request.response.status_int = 202
            request.response.headers["Location"] = request.route_path(
                "api.jobs.item", id=submitted.job.id
            )
        return submitted_json(submitted)

    view.__name__ = f"bulk_{action}_{entity}s"
    return view


def export_response(request: Request, export: exports.Export) -> Response:
    """The streamed file: ``Content-Disposition`` with the export's name (RFC 6266)."""
    response = Response(
        app_iter=export.body(request.registry["dbsession_factory"]),
        content_type=export.content_type,
        charset="utf-8",
    )
    response.headers["Content-Disposition"] = attachment_filename(export.filename, export.extension)
    response.cache_control = "no-store"
    return response


def export_records(
    request: Request, entity: str, selection: bulk.Selection, filename: str
) -> Response:
    """Stream ``selection`` with the body's ``columns`` and ``format``."""
    body = request.validated
    export = exports.export_selection(
        request.dbsession,
        bulk.record_type(request.registry, entity),
        selection,
        viewer=viewer(request),
        permissions=request.identity.permissions,
        columns=body.get("columns"),
        fmt=body.get("format") or "csv",
        filename=filename,
    )
    return export_response(request, export)


def selection_export_view(entity: str) -> Callable[[Request], Response]:
    def view(request: Request) -> Response:
        selection = bulk.Selection.from_json(entity, request.validated["selection"])
        kind = bulk.record_type(request.registry, entity)
        return export_records(request, entity, selection, kind.plural)

    view.__name__ = f"export_{entity}s"
    return view


def audience_export_view(model: type) -> Callable[[Request], Response]:
    """The export of a list's members or of a segment's current members."""

    def view(request: Request) -> Response:
        item = get_shared(request.dbsession, model, int(request.matchdict["id"]), viewer(request))
        selection = bulk.Selection.members_of(item)
        return export_records(request, item.entity_type, selection, item.name)

    view.__name__ = f"export_{model.__tablename__}"
    return view


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------

BODIES = {
    "update": UpdateBody,
    "tag": TagsBody,
    "untag": TagsBody,
    "add_to_list": ListBody,
    "remove_from_list": ListBody,
    "delete": SelectionBody,
    "restore": SelectionBody,
}
SUMMARIES = {
    "update": "Set fields of the selected {plural} (audited per changed field)",
    "tag": "Add tags to the selected {plural}",
    "untag": "Remove tags from the selected {plural}",
    "add_to_list": "Add the selected {plural} to a list",
    "remove_from_list": "Remove the selected {plural} from a list",
    "delete": "Soft-delete the selected {plural}",
    "restore": "Restore the selected soft-deleted {plural}",
}


def register_bulk_task(config: Configurator) -> None:
    """The ``audience.bulk`` task, registered when the configuration commits (huey is
    built by the jobs area, included after this one)."""

    def register() -> None:
        registry = config.registry
        register_task(
            registry["pivotal.huey"], bulk.BULK_TASK, functools.partial(bulk.bulk_job, registry)
        )

    config.action("pivotal.audience.bulk_task", register)


def includeme(config: Configurator) -> None:
    for entity in ("contact", "account"):
        # Registered by the record pages of the accounts and contacts areas, which the
        # application includes before this one (app.CORE_AREAS).
        kind = bulk.record_type(config.registry, entity)
        plural = kind.plural
        for action in bulk.ACTIONS:
            permission = [
                p for p in bulk.permissions_needed(kind, action) if p != kind.read_permission
            ][0]
            add_endpoint(
                config,
                f"api.bulk.{plural}.{action}",
                f"/bulk/{plural}/{PATHS[action]}",
                "POST",
                bulk_view(entity, action),
                permission=permission,
                tag=TAG,
                summary=SUMMARIES[action].format(plural=plural)
                + f" (200 inline; 202 with a job above {bulk.INLINE_LIMIT} records)",
                body=BODIES[action](),
                response=BulkOutput(),
            )
        add_endpoint(
            config,
            f"api.bulk.{plural}.export",
            f"/bulk/{plural}/export",
            "POST",
            selection_export_view(entity),
            permission=kind.read_permission,
            tag=TAG,
            summary=f"Stream the selected {plural} as CSV or JSON",
            body=ExportBody(),
            produces=EXPORT_MEDIA_TYPES,
        )
    for model, plural in ((AudienceList, "lists"), (Segment, "segments")):
        add_endpoint(
            config,
            f"api.{plural}.export",
            f"/{plural}{ITEM}/export",
            "POST",
            audience_export_view(model),
            permission=Permission.AUDIENCE_READ,
            tag=plural,
            summary=f"Stream the {'members' if model is AudienceList else 'current members'} "
            f"of a {plural[:-1]} as CSV or JSON",
            body=AudienceExportBody(),
            produces=EXPORT_MEDIA_TYPES,
        )
    register_bulk_task(config)
