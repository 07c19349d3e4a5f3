"""Imports in the staff UI: the wizard (upload → map → preview → run with live progress →
report) and the import history, with each batch's page, its rejected rows and its undo.

The views call the services the API and the command line use (``dataquality.uploads``);
a refused form shows each error beside its field and dooms the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.view import view_config

from pivotal_core.api.records import request_actor
from pivotal_core.authnz.permissions import Permission
from pivotal_core.dataquality import services, uploads
from pivotal_core.dataquality.api import csv_attachment
from pivotal_core.dataquality.mapping import (
    MULTI_COLUMN_FIELDS,
    get_mapping,
    list_mappings,
    save_mapping,
)
from pivotal_core.dataquality.models import BATCH_STATES, IMPORT_ENTITIES, ImportBatch
from pivotal_core.dataquality.rows import ImportOptions
from pivotal_core.errors import Conflict, NotFound, PivotalError, ValidationFailed
from pivotal_core.jobs.models import Job
from pivotal_core.web.record_pages import actor_labels, display_value, refuse
from pivotal_core.web.templating import add_template_dir

PERMISSION = Permission.DATAQUALITY_IMPORT
HISTORY_PAGE = 50
ENTITY_LABELS = {"contact": "Contacts", "account": "Accounts"}
STEPS = ("Upload", "Map columns", "Preview", "Run", "Report")
# The counts of a batch's report, in the order the report shows them.
REPORT_COUNTS = (
    ("rows", "Rows read"),
    ("created", "Created"),
    ("updated", "Updated"),
    ("unchanged", "Unchanged"),
    ("skipped", "Skipped"),
    ("duplicate_rows", "Repeated in the file"),
    ("accounts_created", "Accounts created"),
    ("audit_events", "Changes recorded"),
)


# ---------------------------------------------------------------- helpers


def _wizard_upload(request: Request) -> uploads.Upload:
    """The upload of the URL, as the wizard started it (with an entity and a source)."""
    upload = uploads.get_upload(
        request.registry.settings, request.matchdict["upload"], request.identity.user_id
    )
    if upload.entity is None or upload.source is None:
        raise NotFound(f"Upload {upload.id} was not started in the import wizard")
    return upload


def _batch(request: Request) -> ImportBatch:
    return uploads.get_batch(request.dbsession, int(request.matchdict["id"]))


def _field_labels(request: Request, entity: str) -> dict[str, str]:
    return {f.name: f.label for f in uploads.import_fields(request.dbsession, entity)}


def _upload_summary(upload: uploads.Upload) -> dict[str, Any]:
    return {
        "entity_label": ENTITY_LABELS[upload.entity or "contact"],
        "description": upload.format.description,
        "notes": upload.format.notes,
    }


# ---------------------------------------------------------------- step 1: upload


def _new_page(values: Mapping[str, str], errors: Mapping[str, str], request: Request) -> dict:
    limit = uploads.max_upload_bytes(request.registry.settings)
    return {
        "values": values,
        "errors": errors,
        "entities": [(e, ENTITY_LABELS[e]) for e in IMPORT_ENTITIES],
        "max_size": f"{limit / (1024 * 1024):,.0f} MB",
        "steps": STEPS,
        "step": 0,
    }


@view_config(
    route_name="web.import_new",
    request_method="GET",
    renderer="dataquality/import_new.jinja2",
    permission=PERMISSION,
)
def new_import(request: Request) -> dict[str, Any]:
    return _new_page({"entity": "contact", "source": ""}, {}, request)


@view_config(
    route_name="web.import_new",
    request_method="POST",
    renderer="dataquality/import_new.jinja2",
    permission=PERMISSION,
)
def upload_file(request: Request):
    """Keep the file and go on to mapping; every problem is shown beside its field."""
    entity = request.POST.get("entity", "")
    source = request.POST.get("source", "").strip().lower()[:200]
    upload = request.POST.get("file")
    values = {"entity": entity, "source": source}
    errors: dict[str, str] = {}
    if entity not in IMPORT_ENTITIES:
        errors["entity"] = "choose contacts or accounts"
    problem = services.source_problem(source)
    if problem:
        errors["source"] = problem
    if not getattr(upload, "filename", None):
        errors["file"] = "choose a CSV or XLSX file"
    if errors:
        refuse(request, ValidationFailed(errors))
        return _new_page(values, errors, request)
    try:
        kept = uploads.receive_upload(
            request.registry.settings,
            upload.file,
            upload.filename,
            uploaded_by_id=request.identity.user_id,
            entity=entity,
            source=source,
        )
    except PivotalError as exc:  # too large, empty, binary, unreadable: all about the file
        refuse(request, exc)
        return _new_page(values, exc.fields or {"file": exc.message}, request)
    return HTTPSeeOther(location=request.route_path("web.import_map", upload=kept.id))


# ---------------------------------------------------------------- step 2: map columns


def _map_page(
    request: Request,
    upload: uploads.Upload,
    mapping: Mapping[str, str | None],
    errors: Mapping[str, str] | None = None,
    save_as: str = "",
) -> dict[str, Any]:
    session = request.dbsession
    errors = dict(errors or {})
    samples = uploads.sample_rows(upload, limit=3)
    headers = upload.format.headers
    columns = [
        {
            "name": f"column-{index}",
            "header": header,
            "field": mapping.get(header) or "",
            "samples": [row.get(header, "") for row in samples if row.get(header)],
            "error": errors.get(header),
        }
        for index, header in enumerate(headers)
    ]
    return {
        "upload": upload,
        "summary": _upload_summary(upload),
        "fields": uploads.import_fields(session, upload.entity),
        "columns": columns,
        "mapping_error": errors.get("mapping"),
        "name_error": errors.get("name"),
        "save_as": save_as,
        "saved_mappings": list_mappings(session, upload.entity),
        "steps": STEPS,
        "step": 1,
    }


@view_config(
    route_name="web.import_map",
    request_method="GET",
    renderer="dataquality/import_map.jinja2",
    permission=PERMISSION,
)
def map_columns(request: Request) -> dict[str, Any]:
    upload = _wizard_upload(request)
    headers = upload.format.headers
    saved_id = request.GET.get("saved", "")
    if saved_id.isdigit() and len(saved_id) < 19:
        saved = get_mapping(request.dbsession, int(saved_id))
        if saved.entity != upload.entity:
            raise NotFound(f"Import mapping {saved.id} is not a mapping of {upload.entity}s")
        mapping = {header: saved.columns.get(header) for header in headers}
        request.session.flash(f"Applied the saved mapping “{saved.name}”; check it, then go on.")
    elif upload.mapping is not None:
        mapping = dict(upload.mapping)
    else:
        mapping = uploads.suggested_mapping(request.dbsession, upload.entity, headers)
    return _map_page(request, upload, mapping)


@view_config(
    route_name="web.import_map",
    request_method="POST",
    renderer="dataquality/import_map.jinja2",
    permission=PERMISSION,
)
def save_columns(request: Request):
    upload = _wizard_upload(request)
    session = request.dbsession
    headers = upload.format.headers
    mapping = {h: request.POST.get(f"column-{i}") or None for i, h in enumerate(headers)}
    save_as = " ".join(request.POST.get("save_as", "").split())[:200]
    problems = uploads.mapping_problems(session, upload.entity, mapping, headers, upload.source)
    try:
        if problems:
            raise ValidationFailed(uploads.mapping_errors(problems))
        if save_as:
            save_mapping(session, request_actor(request, "ui"), upload.entity, save_as, mapping)
    except ValidationFailed as exc:
        refuse(request, exc)
        # Mapping errors are named mapping.<header> or columns.<header>: beside the column.
        errors = {key.split(".", 1)[-1]: message for key, message in exc.fields.items()}
        return _map_page(request, upload, mapping, errors, save_as)
    upload.mapping = mapping
    uploads.save_draft(request.registry.settings, upload)
    if save_as:
        request.session.flash(f"Saved the mapping as “{save_as}”.", "success")
    return HTTPSeeOther(location=request.route_path("web.import_preview", upload=upload.id))


# ---------------------------------------------------------------- step 3: preview, run


def _preview_rows(preview: Any, headers: list[str], mapping: Mapping[str, str | None]):
    """Rows of the preview as the table shows them: each mapped cell with its error, or
    with the value it becomes (``stored``) where normalization changes the file's text.
    A list field filled from several columns is shown as the file has it: the value
    stored is the columns' values together."""
    fields = [mapping.get(header) for header in headers]
    shared = {f for f in fields if f in MULTI_COLUMN_FIELDS and fields.count(f) > 1}
    rows = []
    for row in preview.rows:
        cells = []
        for header, field in zip(headers, fields, strict=True):
            text = row.raw.get(header, "")
            error = row.errors.get(field) if field else None
            stored = None
            if field and not error and field not in shared and text.strip():
                shown = display_value(row.stored(field))
                if shown != text.strip():
                    stored = shown
            cells.append({"text": text, "error": error, "stored": stored})
        rows.append({"number": row.number, "cells": cells, "row_error": row.errors.get("row")})
    return rows


@view_config(
    route_name="web.import_preview",
    request_method="GET",
    renderer="dataquality/import_preview.jinja2",
    permission=PERMISSION,
)
def preview_import(request: Request):
    upload = _wizard_upload(request)
    if upload.mapping is None:
        return HTTPSeeOther(location=request.route_path("web.import_map", upload=upload.id))
    try:
        preview = uploads.preview_upload(
            request.dbsession,
            request.registry.settings,
            upload,
            upload.entity,
            upload.mapping,
            source=upload.source,
        )
    except ValidationFailed as exc:  # a custom field went away since the mapping was made
        request.session.flash("; ".join(exc.fields.values()) or exc.message, "error")
        return HTTPSeeOther(location=request.route_path("web.import_map", upload=upload.id))
    labels = _field_labels(request, upload.entity)
    mapped = [h for h in upload.format.headers if upload.mapping.get(h)]
    return {
        "upload": upload,
        "summary": _upload_summary(upload),
        "headers": [(h, labels.get(upload.mapping[h], upload.mapping[h])) for h in mapped],
        "rows": _preview_rows(preview, mapped, upload.mapping),
        "preview": preview,
        "field_labels": labels,
        "steps": STEPS,
        "step": 2,
        "can_allow_erased": bool(request.has_permission(Permission.PRIVACY_ERASE)),
    }


@view_config(route_name="web.import_run", request_method="POST", permission=PERMISSION)
def run_import(request: Request):
    upload = _wizard_upload(request)
    if upload.mapping is None:
        return HTTPSeeOther(location=request.route_path("web.import_map", upload=upload.id))
    post = request.POST
    options = ImportOptions(
        create_accounts=upload.entity == "contact" and post.get("create_accounts") == "1",
        override_manual=post.get("override_manual") == "1",
        allow_erased=upload.entity == "contact"
        and post.get("allow_erased") == "1"
        and bool(request.has_permission(Permission.PRIVACY_ERASE)),
    )
    try:
        batch = uploads.start_upload_import(
            request.dbsession,
            request_actor(request, "ui"),
            upload,
            huey=request.huey,
            entity=upload.entity,
            source=upload.source,
            mapping=upload.mapping,
            options=options,
            dry_run=post.get("mode") != "import",
        )
    except ValidationFailed as exc:
        request.tm.doom()
        request.session.flash("; ".join(exc.fields.values()) or exc.message, "error")
        return HTTPSeeOther(location=request.route_path("web.import_map", upload=upload.id))
    return HTTPSeeOther(location=request.route_path("web.import", id=batch.id))


# ---------------------------------------------------------------- history and a batch


@view_config(
    route_name="web.imports", renderer="dataquality/import_list.jinja2", permission=PERMISSION
)
def import_history(request: Request) -> dict[str, Any]:
    status = request.GET.get("status")
    status = status if status in BATCH_STATES else None
    cursor = request.GET.get("cursor") or None
    page = uploads.list_batches(request.dbsession, status=status, limit=HISTORY_PAGE, cursor=cursor)
    owners = actor_labels(
        request.dbsession, {b.created_by_id for b in page.items if b.created_by_id is not None}
    )

    def url(**query: Any) -> str:
        query = {k: v for k, v in {"status": status, **query}.items() if v}
        return request.route_path("web.imports", _query=query)

    return {
        "batches": page.items,
        "owners": owners,
        "status": status,
        "states": BATCH_STATES,
        "entity_labels": ENTITY_LABELS,
        "next_url": url(cursor=page.next_cursor) if page.next_cursor else None,
        "prev_url": url(cursor=page.prev_cursor) if page.prev_cursor else None,
        "live": any(b.status in uploads.ACTIVE_JOB_STATES for b in page.items),
        "status_url": url,
    }


def _report_links(request: Request, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries of an undo report, each with a link to its record."""
    routes = {"contact": "web.contact", "account": "web.account"}
    return [
        {**entry, "href": request.route_path(routes[entry["entity"]], id=entry["id"])}
        if entry.get("entity") in routes and isinstance(entry.get("id"), int)
        else entry
        for entry in entries
    ]


@view_config(
    route_name="web.import", renderer="dataquality/import_detail.jinja2", permission=PERMISSION
)
def import_detail(request: Request) -> dict[str, Any]:
    """The run and report steps: live progress while the job runs, then the report."""
    session = request.dbsession
    batch = _batch(request)
    job = session.get(Job, batch.job_id) if batch.job_id is not None else None
    undo_job = uploads.undo_jobs_of(session, [batch.id]).get(batch.id)
    undoing = undo_job is not None and undo_job.status in uploads.ACTIVE_JOB_STATES
    running = batch.status in uploads.ACTIVE_JOB_STATES or (
        job is not None and job.status in uploads.ACTIVE_JOB_STATES
    )
    report = batch.undo_report or {}
    labels = _field_labels(request, batch.entity)
    counts = batch.counts or {}
    owner_ids = {i for i in (batch.created_by_id, getattr(undo_job, "created_by_id", None)) if i}
    return {
        "batch": batch,
        "entity_label": ENTITY_LABELS[batch.entity],
        "job": job,
        "undo_job": undo_job,
        "live": running or undoing,
        "running": running,
        "undoing": undoing,
        "counts": counts,
        "report_counts": REPORT_COUNTS,
        "skipped_reasons": [
            (labels.get(name, name), n) for name, n in (counts.get("skipped_reasons") or {}).items()
        ],
        "ignored_fields": [
            (labels.get(name, name), n) for name, n in (counts.get("ignored_fields") or {}).items()
        ],
        "rejected": uploads.rejected_counts(session, [batch.id]).get(batch.id, 0),
        "can_undo": services.undo_problem(batch) is None and not undoing,
        "can_repeat": batch.dry_run and batch.status == "succeeded",
        "undo_report": report,
        "conflicts": _report_links(request, report.get("conflicts") or []),
        "kept": _report_links(request, report.get("kept") or []),
        "field_labels": labels,
        "owners": actor_labels(session, owner_ids),
        "steps": STEPS,
        "step": 4 if batch.status in ("succeeded", "undone") else 3,
    }


@view_config(route_name="web.import_rejected", permission=PERMISSION)
def rejected_rows(request: Request) -> Response:
    chunks, stem = uploads.rejected_rows(request.registry["dbsession_factory"], _batch(request))
    return csv_attachment(chunks, stem)


@view_config(
    route_name="web.import_undo",
    request_method="GET",
    renderer="dataquality/import_undo.jinja2",
    permission=PERMISSION,
)
def confirm_undo(request: Request):
    batch = _batch(request)
    return {
        "batch": batch,
        "entity_label": ENTITY_LABELS[batch.entity],
        "counts": batch.counts or {},
        "undoable": services.undo_problem(batch) is None
        and uploads.active_undo_job(request.dbsession, batch) is None,
    }


@view_config(route_name="web.import_undo", request_method="POST", permission=PERMISSION)
def undo_import(request: Request):
    batch = _batch(request)
    try:
        uploads.request_undo(
            request.dbsession, request_actor(request, "ui"), batch, huey=request.huey
        )
    except Conflict as exc:
        request.tm.doom()
        request.session.flash(exc.message, "error")
    else:
        request.session.flash(f"Undoing import {batch.id}; its progress shows below.", "info")
    return HTTPSeeOther(location=request.route_path("web.import", id=batch.id))


@view_config(route_name="web.import_repeat", request_method="POST", permission=PERMISSION)
def run_for_real(request: Request):
    """Run a dry run's batch again, for real."""
    batch = _batch(request)
    try:
        real = uploads.repeat_batch(
            request.dbsession, request_actor(request, "ui"), batch, huey=request.huey
        )
    except Conflict as exc:
        request.tm.doom()
        request.session.flash(exc.message, "error")
        return HTTPSeeOther(location=request.route_path("web.import", id=batch.id))
    return HTTPSeeOther(location=request.route_path("web.import", id=real.id))


def includeme(config) -> None:
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    config.add_route("web.imports", "/imports")
    config.add_route("web.import_new", "/imports/new")
    config.add_route("web.import_map", "/imports/uploads/{upload}/map")
    config.add_route("web.import_preview", "/imports/uploads/{upload}/preview")
    config.add_route("web.import_run", "/imports/uploads/{upload}/run")
    config.add_route("web.import", "/imports/{id:\\d+}")
    config.add_route("web.import_rejected", "/imports/{id:\\d+}/rejected.csv")
    config.add_route("web.import_undo", "/imports/{id:\\d+}/undo")
    config.add_route("web.import_repeat", "/imports/{id:\\d+}/run")
    config.scan(".pages")
