"""JSON API of duplicates, merges and privacy erase: /api/v1/duplicates, /api/v1/merges and
/api/v1/contacts/{id}/erase."""

from __future__ import annotations

from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import add_page_parameters
from pivotal_core.api.records import page_json, request_actor
from pivotal_core.api.validation import Integer, JSONObject, Text
from pivotal_core.authnz.permissions import Permission
from pivotal_core.dataquality import duplicates, erase, merge
from pivotal_core.dataquality.models import DuplicateCandidate, Merge
from pivotal_core.dataquality.survivorship import load_policy
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.api import JobOutput, job_json
from pivotal_core.jobs.queue import registered_task

SCAN_TASK = "dataquality.scan_duplicates"


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
    actor = request_actor(request)
    job = jobs.enqueue(
        request.dbsession,
        registered_task(request.huey, SCAN_TASK),
        SCAN_TASK,
        params,
        created_by_id=actor.user_id,
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
    secret = request.registry.settings["auth.secret"]
    result = erase.erase_person(
        request.dbsession, request_actor(request), contact_id, request.validated["reason"], secret
    )
    return {
        "contact_id": contact_id,
        "erased_contacts": result.contact_ids,
        "identities": [
            {"id": row.id, "kind": row.kind, "erased_at": _iso(row.erased_at)}
            for row in result.identities
        ],
    }


def includeme(config: Configurator) -> None:
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
