"""JSON API of data quality: /api/v1/duplicates, /api/v1/merges, /api/v1/contacts/{id}/erase,
and imports (/api/v1/imports, /api/v1/import-mappings)."""

from __future__ import annotations

from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import select

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import add_page_parameters
from pivotal_core.api.records import page_json, request_actor
from pivotal_core.api.validation import Boolean, FileUpload, Integer, JSONObject, Text
from pivotal_core.authnz.permissions import Permission
from pivotal_core.dataquality import duplicates, erase, merge, uploads
from pivotal_core.dataquality.identity import erasure_keys
from pivotal_core.dataquality.mapping import list_mappings, save_mapping
from pivotal_core.dataquality.models import (
    BATCH_STATES,
    IMPORT_ENTITIES,
    DuplicateCandidate,
    ImportBatch,
    ImportMapping,
    Merge,
)
from pivotal_core.dataquality.rows import ImportOptions
from pivotal_core.dataquality.survivorship import load_policy
from pivotal_core.errors import Forbidden
from pivotal_core.exports import attachment_filename
from pivotal_core.jobs.api import JobOutput, job_json
from pivotal_core.jobs.models import Job


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------- schemas


def _entity() -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(),
        name="entity",
        validator=colander.OneOf(duplicates.ENTITIES),
        description="contact or account",
    )


def _page_params(schema: colander.SchemaNode, settings: dict[str, Any]) -> colander.SchemaNode:
    return add_page_parameters(
        schema, int(settings["api.max_page_size"]), int(settings["api.default_page_size"])
    )


def candidate_query(settings: dict[str, Any]) -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping())
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="entity",
            missing="contact",
            validator=colander.OneOf(duplicates.ENTITIES),
            description="contact (default) or account",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="status",
            missing="open",
            validator=colander.OneOf(duplicates.STATUSES),
            description="open (default), dismissed, merged or closed",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.Int(),
            name="record_id",
            missing=None,
            description="only pairs this record is part of",
        )
    )
    return _page_params(schema, settings)


def merge_query(settings: dict[str, Any]) -> colander.SchemaNode:
    schema = colander.SchemaNode(colander.Mapping())
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="entity",
            missing=None,
            validator=colander.OneOf(duplicates.ENTITIES),
            description="contact or account",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.Int(),
            name="record_id",
            missing=None,
            description="merges this record survived or was merged in",
        )
    )
    return _page_params(schema, settings)


class ReasonOutput(colander.MappingSchema):
    code = colander.SchemaNode(Text())
    label = colander.SchemaNode(Text())


class ReasonsOutput(colander.SequenceSchema):
    reason = ReasonOutput()


class CandidateOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    entity = colander.SchemaNode(Text())
    record_a = colander.SchemaNode(Integer())
    record_b = colander.SchemaNode(Integer())
    reason = colander.SchemaNode(
        Text(), description="reason codes, strongest first, comma-separated"
    )
    reasons = ReasonsOutput()
    score = colander.SchemaNode(colander.Float(), description="0 to 1")
    status = colander.SchemaNode(Text(), validator=colander.OneOf(duplicates.STATUSES))
    resolved_by_id = colander.SchemaNode(Integer(), missing=None)
    records = colander.SchemaNode(JSONObject(), description="{id: summary of the record}")
    created_at = colander.SchemaNode(colander.DateTime())
    updated_at = colander.SchemaNode(colander.DateTime())


class ScanInput(colander.MappingSchema):
    entity = _entity()
    limit = colander.SchemaNode(
        Integer(),
        missing=None,
        validator=colander.Range(0, 1_000_000),
        description="store at most this many new pairs (highest scores first)",
    )


class MergeInput(colander.MappingSchema):
    entity = _entity()
    survivor_id = colander.SchemaNode(Integer(), description="the record that stays")
    merged_id = colander.SchemaNode(Integer(), description="the record merged into it")
    choices = colander.SchemaNode(
        JSONObject(),
        missing=None,
        description='{field: "survivor" | "merged"}; custom fields as custom_fields.<key>; '
        "fields left out follow survivorship (source priority, then the more recent value; "
        "never a blank)",
    )


class MergeOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    entity = colander.SchemaNode(Text())
    survivor_id = colander.SchemaNode(Integer())
    merged_id = colander.SchemaNode(Integer())
    choices = colander.SchemaNode(JSONObject(max_keys=1000))
    survivor_before = colander.SchemaNode(JSONObject(max_keys=1000))
    survivor_after = colander.SchemaNode(JSONObject(max_keys=1000))
    moved = colander.SchemaNode(JSONObject())
    revert = colander.SchemaNode(JSONObject(), missing=None)
    records = colander.SchemaNode(JSONObject())
    actor_id = colander.SchemaNode(Integer(), missing=None)
    created_at = colander.SchemaNode(colander.DateTime())
    reverted_at = colander.SchemaNode(colander.DateTime(), missing=None)


class EraseInput(colander.MappingSchema):
    reason = colander.SchemaNode(
        Text(),
        validator=colander.Length(max=erase.MAX_REASON_LENGTH),
        description="why (e.g. the request and its date); kept with the digests, so it "
        "should not name the person",
    )


class ErasedContactIds(colander.SequenceSchema):
    contact_id = colander.SchemaNode(Integer())


class ErasedIdentityOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    kind = colander.SchemaNode(Text(), description="email, phone or linkedin")
    erased_at = colander.SchemaNode(colander.DateTime())


class ErasedIdentities(colander.SequenceSchema):
    identity = ErasedIdentityOutput()


class EraseOutput(colander.MappingSchema):
    contact_id = colander.SchemaNode(Integer())
    erased_contacts = ErasedContactIds(description="the erased records (merged ones included)")
    identities = ErasedIdentities(description="the keyed digests kept, without their values")
    rejected_rows = colander.SchemaNode(
        Integer(), description="rows imports had rejected that named the person, scrubbed"
    )
    import_files = colander.SchemaNode(
        Integer(), description="import files kept for repeat runs, rewritten without the person"
    )
    import_file_rows = colander.SchemaNode(
        Integer(), description="rows of those files that named the person, emptied"
    )


# ---------------------------------------------------------------- JSON shapes


def candidates_json(request: Request, candidates: list[DuplicateCandidate]) -> list[dict]:
    summaries: dict[str, dict[int, dict]] = {}
    for entity in {c.entity for c in candidates}:
        ids = [i for c in candidates if c.entity == entity for i in (c.record_a, c.record_b)]
        summaries[entity] = duplicates.record_summaries(request.dbsession, entity, ids)
    return [
        {
            "id": c.id,
            "entity": c.entity,
            "record_a": c.record_a,
            "record_b": c.record_b,
            "reason": c.reason,
            "reasons": [
                {"code": code, "label": duplicates.REASON_LABELS.get(code, code)}
                for code in c.reason.split(",")
            ],
            "score": c.score,
            "status": c.status,
            "resolved_by_id": c.resolved_by_id,
            "records": {str(i): summaries[c.entity].get(i) for i in (c.record_a, c.record_b)},
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
        }
        for c in candidates
    ]


def merge_json(request: Request, item: Merge) -> dict[str, Any]:
    moved = dict(item.moved or {})
    after = moved.pop("survivor_after", {})
    moved.pop("provenance_before", None)
    revert = moved.pop("revert", None)
    summaries = duplicates.record_summaries(
        request.dbsession, item.entity, [item.survivor_id, item.merged_id]
    )
    return {
        "id": item.id,
        "entity": item.entity,
        "survivor_id": item.survivor_id,
        "merged_id": item.merged_id,
        "choices": item.choices or {},
        "survivor_before": item.survivor_before or {},
        "survivor_after": after,
        "moved": moved,
        "revert": revert,
        "records": {str(k): v for k, v in summaries.items()},
        "actor_id": item.actor_id,
        "created_at": _iso(item.created_at),
        "reverted_at": _iso(item.reverted_at),
    }


# ---------------------------------------------------------------- views


def list_candidates_view(request: Request) -> dict[str, Any]:
    q = request.validated_query
    page = duplicates.list_candidates(
        request.dbsession,
        q["entity"],
        q["status"],
        limit=q["limit"],
        cursor=q["cursor"],
        record_id=q["record_id"],
    )
    return page_json(candidates_json(request, page.items), page, q["limit"])


def scan_view(request: Request) -> dict[str, Any]:
    params = {"entity": request.validated["entity"], "limit": request.validated["limit"]}
    job = duplicates.enqueue_scan(
        request.dbsession, request.huey, **params, created_by_id=request_actor(request).user_id
    )
    return job_json(job)


def dismiss_view(request: Request) -> dict[str, Any]:
    candidate = duplicates.dismiss_candidate(
        request.dbsession, request_actor(request), int(request.matchdict["id"])
    )
    return candidates_json(request, [candidate])[0]


def create_merge_view(request: Request) -> dict[str, Any]:
    body = request.validated
    priority = request.registry.settings.get("dataquality.source_priority")
    item = merge.merge_records(
        request.dbsession,
        request_actor(request),
        body["entity"],
        body["survivor_id"],
        body["merged_id"],
        body["choices"],
        policy=load_policy(request.dbsession, body["entity"], priority),
    )
    return merge_json(request, item)


def list_merges_view(request: Request) -> dict[str, Any]:
    q = request.validated_query
    page = merge.list_merges(
        request.dbsession,
        entity=q["entity"],
        record_id=q["record_id"],
        limit=q["limit"],
        cursor=q["cursor"],
    )
    return page_json([merge_json(request, m) for m in page.items], page, q["limit"])


def get_merge_view(request: Request) -> dict[str, Any]:
    return merge_json(request, merge.get_merge(request.dbsession, int(request.matchdict["id"])))


def revert_merge_view(request: Request) -> dict[str, Any]:
    merge_id = int(request.matchdict["id"])
    merge.revert_merge(request.dbsession, request_actor(request), merge_id)
    return merge_json(request, merge.get_merge(request.dbsession, merge_id))


def erase_view(request: Request) -> dict[str, Any]:
    contact_id = int(request.matchdict["id"])
    secret = erasure_keys(request.registry.settings)
    result = erase.erase_person(
        request.dbsession,
        request_actor(request),
        contact_id,
        request.validated["reason"],
        secret,
        default_region=request.registry.settings["phone.default_region"],
    )
    return {
        "contact_id": contact_id,
        "erased_contacts": result.contact_ids,
        "identities": [
            {"id": row.id, "kind": row.kind, "erased_at": _iso(row.erased_at)}
            for row in result.identities
        ],
        "rejected_rows": result.rejected_rows,
        "import_files": result.import_files,
        "import_file_rows": result.import_file_rows,
    }


def includeme(config: Configurator) -> None:
    add_import_endpoints(config)
    settings = config.get_settings()
    tag = "data quality"
    add_endpoint(
        config,
        "api.duplicates",
        "/duplicates",
        "GET",
        list_candidates_view,
        permission=Permission.DATAQUALITY_READ,
        summary="The duplicates review queue, best candidates first (keyset paged by score)",
        tag=tag,
        query=candidate_query(settings),
        response=CandidateOutput(),
    )
    add_endpoint(
        config,
        "api.duplicates.scan",
        "/duplicates/scan",
        "POST",
        scan_view,
        permission=Permission.DATAQUALITY_MERGE,
        summary="Scan contacts or accounts for duplicates in a background job (returns the job)",
        tag=tag,
        body=ScanInput(),
        response=JobOutput(),
        status=202,
    )
    add_endpoint(
        config,
        "api.duplicates.dismiss",
        "/duplicates/{id:\\d+}/dismiss",
        "POST",
        dismiss_view,
        permission=Permission.DATAQUALITY_MERGE,
        summary="Dismiss a candidate pair: they are not duplicates",
        tag=tag,
        response=CandidateOutput(),
    )
    add_endpoint(
        config,
        "api.merges",
        "/merges",
        "GET",
        list_merges_view,
        permission=Permission.DATAQUALITY_READ,
        summary="Merges, newest first (keyset paged)",
        tag=tag,
        query=merge_query(settings),
        response=MergeOutput(),
    )
    add_endpoint(
        config,
        "api.merges",
        "/merges",
        "POST",
        create_merge_view,
        permission=Permission.DATAQUALITY_MERGE,
        summary="Merge one record into another, field by field",
        tag=tag,
        body=MergeInput(),
        response=MergeOutput(),
        status=201,
    )
    add_endpoint(
        config,
        "api.merges.item",
        "/merges/{id:\\d+}",
        "GET",
        get_merge_view,
        permission=Permission.DATAQUALITY_READ,
        summary="A merge: the choices, the survivor's values before and after, what moved",
        tag=tag,
        response=MergeOutput(),
    )
    add_endpoint(
        config,
        "api.merges.revert",
        "/merges/{id:\\d+}/revert",
        "POST",
        revert_merge_view,
        permission=Permission.DATAQUALITY_MERGE,
        summary="Revert a merge; survivor fields changed since are kept and reported",
        tag=tag,
        response=MergeOutput(),
    )
    add_endpoint(
        config,
        "api.contacts.erase",
        "/contacts/{id:\\d+}/erase",
        "POST",
        erase_view,
        permission=Permission.PRIVACY_ERASE,
        summary="Erase a contact's personal data for good, keeping only keyed digests",
        tag=tag,
        body=EraseInput(),
        response=EraseOutput(),
    )


# ---------------------------------------------------------------- imports
# /api/v1/imports: upload a file, preview a mapping, run a batch as a job, list and read
# batches, download their rejected rows, undo them; /api/v1/import-mappings: saved mappings.


def _max_upload_body(request: Request) -> int:
    # The form's other fields and the multipart framing come on top of the file.
    return uploads.max_upload_bytes(request.registry.settings) + 64 * 1024


def _upload_id() -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(),
        name="upload_id",
        validator=colander.Regex(r"^[0-9a-f]{32}$", "is not an upload id"),
        description="the id POST /imports/uploads answered with",
    )


def _import_entity(missing: Any = colander.required) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(),
        name="entity",
        missing=missing,
        validator=colander.OneOf(IMPORT_ENTITIES),
        description="contact or account: what each row of the file is",
    )


def _mapping_node(description: str) -> colander.SchemaNode:
    return colander.SchemaNode(
        JSONObject(max_keys=1000), name="mapping", missing=None, description=description
    )


class UploadForm(colander.MappingSchema):
    file = colander.SchemaNode(
        FileUpload(), missing_msg="choose a CSV or XLSX file", description="a CSV or XLSX file"
    )
    entity = colander.SchemaNode(
        colander.String(),
        missing=None,
        validator=colander.OneOf(IMPORT_ENTITIES),
        description="contact or account; with it the answer suggests a mapping",
    )
    sheet = colander.SchemaNode(
        colander.String(),
        missing=None,
        validator=colander.Length(max=100),
        description="the sheet of an XLSX workbook to read (default: the first)",
    )


class HeaderList(colander.SequenceSchema):
    header = colander.SchemaNode(Text())


class FileFormatOutput(colander.MappingSchema):
    kind = colander.SchemaNode(Text(), validator=colander.OneOf(("csv", "xlsx")))
    description = colander.SchemaNode(Text())
    headers = HeaderList()
    header_row = colander.SchemaNode(Integer())
    encoding = colander.SchemaNode(Text(), missing=None)
    encoding_source = colander.SchemaNode(Text(), missing=None)
    delimiter = colander.SchemaNode(Text(), missing=None)
    sheet = colander.SchemaNode(Text(), missing=None)
    notes = HeaderList(description="what a person should know about how the file was read")


class ImportFieldOutput(colander.MappingSchema):
    name = colander.SchemaNode(Text())
    label = colander.SchemaNode(Text())
    hint = colander.SchemaNode(Text())


class ImportFieldList(colander.SequenceSchema):
    field = ImportFieldOutput()


class UploadOutput(colander.MappingSchema):
    id = colander.SchemaNode(Text(), description="the upload id to preview and import with")
    filename = colander.SchemaNode(Text())
    size = colander.SchemaNode(Integer(), description="bytes")
    sha256 = colander.SchemaNode(Text())
    format = FileFormatOutput()
    entity = colander.SchemaNode(Text(), missing=None)
    suggested_mapping = colander.SchemaNode(
        JSONObject(max_keys=1000), missing=None, description="{header: field or null}"
    )
    fields = ImportFieldList(missing=None, description="the fields a column can go to")


class PreviewInput(colander.MappingSchema):
    upload_id = _upload_id()
    entity = _import_entity()
    mapping = _mapping_node("{header: field or null}; default: the suggested mapping")
    source = colander.SchemaNode(
        Text(), missing=None, description="needed when a column is mapped to external_id"
    )
    limit = colander.SchemaNode(
        Integer(), missing=uploads.PREVIEW_ROWS, validator=colander.Range(1, 200)
    )


class PreviewRowOutput(colander.MappingSchema):
    number = colander.SchemaNode(Integer(), description="the row as a spreadsheet numbers it")
    raw = colander.SchemaNode(JSONObject(max_keys=1000), description="{header: cell}")
    values = colander.SchemaNode(JSONObject(max_keys=1000), description="{field: value}")
    errors = colander.SchemaNode(JSONObject(), description="{field or row: reason}")
    valid = colander.SchemaNode(colander.Boolean())


class PreviewRows(colander.SequenceSchema):
    row = PreviewRowOutput()


class PreviewOutput(colander.MappingSchema):
    upload_id = colander.SchemaNode(Text())
    entity = colander.SchemaNode(Text())
    mapping = colander.SchemaNode(JSONObject(max_keys=1000))
    suggested_mapping = colander.SchemaNode(JSONObject(max_keys=1000))
    fields = ImportFieldList()
    format = FileFormatOutput()
    rows = PreviewRows()
    valid = colander.SchemaNode(Integer(), description="rows of the preview without errors")
    invalid = colander.SchemaNode(Integer(), description="rows of the preview with errors")
    field_errors = colander.SchemaNode(JSONObject(), description="{field: rows it rejected}")
    unmapped_headers = HeaderList()


class ImportInput(colander.MappingSchema):
    upload_id = _upload_id()
    entity = _import_entity()
    source = colander.SchemaNode(
        Text(), description="where the data comes from (hubspot, tradeshow-2026); ranks it"
    )
    mapping = _mapping_node("{header: field or null}; default: the suggested mapping")
    create_accounts = colander.SchemaNode(
        Boolean(), missing=False, description="create the accounts contacts' companies lack"
    )
    override_manual = colander.SchemaNode(
        Boolean(), missing=False, description="overwrite values people typed in"
    )
    allow_erased = colander.SchemaNode(
        Boolean(),
        missing=False,
        description="import rows of people erased on request (needs privacy:erase); "
        "normally they are rejected",
    )
    dry_run = colander.SchemaNode(
        Boolean(), missing=False, description="compute the report, write nothing"
    )
    as_of = colander.SchemaNode(
        colander.DateTime(default_tzinfo=None),
        missing=None,
        description="when the data was true at its source (with a time zone; default now)",
    )


class BatchQuery(colander.MappingSchema):
    entity = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(IMPORT_ENTITIES)
    )
    status = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(BATCH_STATES)
    )


class BatchOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    entity = colander.SchemaNode(Text())
    source = colander.SchemaNode(Text())
    filename = colander.SchemaNode(Text())
    status = colander.SchemaNode(Text(), validator=colander.OneOf(BATCH_STATES))
    dry_run = colander.SchemaNode(colander.Boolean())
    options = colander.SchemaNode(JSONObject())
    mapping = colander.SchemaNode(JSONObject(max_keys=1000))
    file_format = colander.SchemaNode(JSONObject())
    counts = colander.SchemaNode(
        JSONObject(),
        description="rows, created, updated, unchanged, skipped (skipped_reasons by field), "
        "duplicate_rows, accounts_created, audit_events",
    )
    rejected_rows = colander.SchemaNode(Integer(), description="rows kept with their reasons")
    as_of = colander.SchemaNode(colander.DateTime())
    created_by_id = colander.SchemaNode(Integer(), missing=None)
    created_at = colander.SchemaNode(colander.DateTime())
    finished_at = colander.SchemaNode(colander.DateTime(), missing=None)
    undone_at = colander.SchemaNode(colander.DateTime(), missing=None)
    undo_report = colander.SchemaNode(
        JSONObject(),
        missing=None,
        description="restored_fields, deleted, conflicts (fields changed later, kept), kept",
    )
    job = JobOutput(missing=None, description="the job that runs the import")
    undo_job = JobOutput(missing=None, description="the latest undo job, if one was asked for")


class MappingQuery(colander.MappingSchema):
    entity = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(IMPORT_ENTITIES)
    )


class MappingInput(colander.MappingSchema):
    entity = _import_entity()
    name = colander.SchemaNode(Text(), validator=colander.Length(max=120))
    columns = colander.SchemaNode(JSONObject(max_keys=1000), description="{header: field or null}")


class MappingOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    entity = colander.SchemaNode(Text())
    name = colander.SchemaNode(Text())
    columns = colander.SchemaNode(JSONObject(max_keys=1000))
    created_by_id = colander.SchemaNode(Integer(), missing=None)
    created_at = colander.SchemaNode(colander.DateTime())
    updated_at = colander.SchemaNode(colander.DateTime())


def fields_json(fields: list[Any]) -> list[dict[str, str]]:
    return [{"name": f.name, "label": f.label, "hint": f.hint} for f in fields]


def format_json(fmt: Any) -> dict[str, Any]:
    return {**fmt.as_dict(), "description": fmt.description}


def batches_json(request: Request, batches: list[ImportBatch]) -> list[dict[str, Any]]:
    session = request.dbsession
    rejected = uploads.rejected_counts(session, [b.id for b in batches])
    job_ids = {b.job_id for b in batches if b.job_id is not None}
    found = session.scalars(select(Job).where(Job.id.in_(job_ids))) if job_ids else []
    import_jobs = {job.id: job for job in found}
    undo_jobs = uploads.undo_jobs_of(session, [b.id for b in batches])
    result = []
    for b in batches:
        job = import_jobs.get(b.job_id) if b.job_id is not None else None
        undo_job = undo_jobs.get(b.id)
        result.append(
            {
                "id": b.id,
                "entity": b.entity,
                "source": b.source,
                "filename": b.filename,
                "status": b.status,
                "dry_run": b.dry_run,
                "options": b.options or {},
                "mapping": b.mapping or {},
                "file_format": b.file_format or {},
                "counts": b.counts or {},
                "rejected_rows": rejected.get(b.id, 0),
                "as_of": _iso(b.as_of),
                "created_by_id": b.created_by_id,
                "created_at": _iso(b.created_at),
                "finished_at": _iso(b.finished_at),
                "undone_at": _iso(b.undone_at),
                "undo_report": b.undo_report,
                "job": job_json(job) if job is not None else None,
                "undo_job": job_json(undo_job) if undo_job is not None else None,
            }
        )
    return result


def mapping_json(saved: ImportMapping) -> dict[str, Any]:
    return {
        "id": saved.id,
        "entity": saved.entity,
        "name": saved.name,
        "columns": saved.columns or {},
        "created_by_id": saved.created_by_id,
        "created_at": _iso(saved.created_at),
        "updated_at": _iso(saved.updated_at),
    }


def upload_view(request: Request) -> dict[str, Any]:
    form = request.validated
    upload = uploads.receive_upload(
        request.registry.settings,
        form["file"].file,
        form["file"].filename,
        uploaded_by_id=request.identity.user_id,
        sheet=form["sheet"],
        entity=form["entity"],
    )
    answer = {
        "id": upload.id,
        "filename": upload.filename,
        "size": upload.size,
        "sha256": upload.sha256,
        "format": format_json(upload.format),
        "entity": upload.entity,
        "suggested_mapping": None,
        "fields": None,
    }
    if upload.entity is not None:
        session = request.dbsession
        headers = upload.format.headers
        answer["suggested_mapping"] = uploads.suggested_mapping(session, upload.entity, headers)
        answer["fields"] = fields_json(uploads.import_fields(session, upload.entity))
    return answer


def _request_upload(request: Request) -> uploads.Upload:
    return uploads.get_upload(
        request.registry.settings, request.validated["upload_id"], request.identity.user_id
    )


def preview_view(request: Request) -> dict[str, Any]:
    body = request.validated
    session = request.dbsession
    upload = _request_upload(request)
    suggested = uploads.suggested_mapping(session, body["entity"], upload.format.headers)
    mapping = body["mapping"] if body["mapping"] is not None else suggested
    result = uploads.preview_upload(
        session,
        request.registry.settings,
        upload,
        body["entity"],
        mapping,
        source=body["source"],
        limit=body["limit"],
    ).as_dict()
    return {
        "upload_id": upload.id,
        "entity": body["entity"],
        "mapping": result["mapping"],
        "suggested_mapping": suggested,
        "fields": fields_json(uploads.import_fields(session, body["entity"])),
        "format": format_json(upload.format),
        "rows": [
            {k: row[k] for k in ("number", "raw", "values", "errors", "valid")}
            for row in result["rows"]
        ],
        "valid": result["valid"],
        "invalid": result["invalid"],
        "field_errors": result["field_errors"],
        "unmapped_headers": result["unmapped_headers"],
    }


def create_import_view(request: Request) -> dict[str, Any]:
    body = request.validated
    if body["allow_erased"] and not request.has_permission(Permission.PRIVACY_ERASE):
        raise Forbidden("allow_erased needs the privacy:erase permission")
    upload = _request_upload(request)
    batch = uploads.start_upload_import(
        request.dbsession,
        request_actor(request),
        upload,
        huey=request.huey,
        entity=body["entity"],
        source=body["source"],
        mapping=body["mapping"],
        options=ImportOptions(
            create_accounts=body["create_accounts"],
            override_manual=body["override_manual"],
            allow_erased=body["allow_erased"],
        ),
        dry_run=body["dry_run"],
        as_of=body["as_of"],
    )
    return batches_json(request, [batch])[0]


def list_imports_view(request: Request) -> dict[str, Any]:
    q = request.validated_query
    page = uploads.list_batches(
        request.dbsession,
        entity=q["entity"],
        status=q["status"],
        limit=q["limit"],
        cursor=q["cursor"],
    )
    return page_json(batches_json(request, page.items), page, q["limit"])


def _batch(request: Request) -> ImportBatch:
    return uploads.get_batch(request.dbsession, int(request.matchdict["id"]))


def get_import_view(request: Request) -> dict[str, Any]:
    return batches_json(request, [_batch(request)])[0]


def csv_attachment(chunks: Any, stem: str) -> Response:
    """A streamed CSV download named ``<stem>.csv`` (``exports.csv_stream`` neutralises
    formulas)."""
    response = Response(app_iter=chunks, content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = attachment_filename(stem)
    response.cache_control = "no-store"
    return response


def rejected_rows_view(request: Request) -> Response:
    chunks, stem = uploads.rejected_rows(request.registry["dbsession_factory"], _batch(request))
    return csv_attachment(chunks, stem)


def undo_import_view(request: Request) -> dict[str, Any]:
    batch = _batch(request)
    uploads.request_undo(request.dbsession, request_actor(request), batch, huey=request.huey)
    return batches_json(request, [batch])[0]


def list_mappings_view(request: Request) -> dict[str, Any]:
    entity = request.validated_query["entity"]
    return {"items": [mapping_json(m) for m in list_mappings(request.dbsession, entity)]}


def save_mapping_view(request: Request) -> dict[str, Any]:
    body = request.validated
    saved = save_mapping(
        request.dbsession, request_actor(request), body["entity"], body["name"], body["columns"]
    )
    return mapping_json(saved)


def add_import_endpoints(config: Configurator) -> None:
    settings = config.get_settings()
    tag = "imports"
    add_endpoint(
        config,
        "api.imports.uploads",
        "/imports/uploads",
        "POST",
        upload_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Upload a CSV or XLSX file: its format, headers and (given the entity) a "
        "suggested mapping",
        tag=tag,
        form=UploadForm(),
        max_body=_max_upload_body,
        response=UploadOutput(),
        status=201,
    )
    add_endpoint(
        config,
        "api.imports.preview",
        "/imports/preview",
        "POST",
        preview_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="The first rows of an upload as a mapping would import them, with their errors",
        tag=tag,
        body=PreviewInput(),
        response=PreviewOutput(),
    )
    add_endpoint(
        config,
        "api.imports",
        "/imports",
        "POST",
        create_import_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Create an import batch from an upload and run it as a job (a dry run "
        "writes nothing but its report)",
        tag=tag,
        body=ImportInput(),
        response=BatchOutput(),
        status=202,
    )
    add_endpoint(
        config,
        "api.imports",
        "/imports",
        "GET",
        list_imports_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Import batches, newest first (keyset paged)",
        tag=tag,
        query=_page_params(BatchQuery(), settings),
        response=BatchOutput(),
    )
    add_endpoint(
        config,
        "api.imports.item",
        "/imports/{id:\\d+}",
        "GET",
        get_import_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="An import batch: status, counts, its job's progress, the undo report",
        tag=tag,
        response=BatchOutput(),
    )
    add_endpoint(
        config,
        "api.imports.rejected",
        "/imports/{id:\\d+}/rejected",
        "GET",
        rejected_rows_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="The rows an import rejected, with the reasons, as CSV (formulas neutralised)",
        tag=tag,
        produces=("text/csv",),
    )
    add_endpoint(
        config,
        "api.imports.undo",
        "/imports/{id:\\d+}/undo",
        "POST",
        undo_import_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Undo a finished import as a job; fields changed since are kept and reported",
        tag=tag,
        response=BatchOutput(),
        status=202,
    )
    add_endpoint(
        config,
        "api.import_mappings",
        "/import-mappings",
        "GET",
        list_mappings_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Saved column mappings, by entity then name",
        tag=tag,
        query=MappingQuery(),
        response=MappingOutput(),
    )
    add_endpoint(
        config,
        "api.import_mappings",
        "/import-mappings",
        "POST",
        save_mapping_view,
        permission=Permission.DATAQUALITY_IMPORT,
        summary="Save a column mapping by name (replacing the entity's mapping of that name)",
        tag=tag,
        body=MappingInput(),
        response=MappingOutput(),
    )
