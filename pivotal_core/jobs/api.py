"""Jobs and their progress: /api/v1/jobs."""

from __future__ import annotations

from typing import Any

import colander
from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.validation import Integer, JSONObject, Text
from pivotal_core.authnz.permissions import Permission
from pivotal_core.jobs import services
from pivotal_core.jobs.models import JOB_STATES, Job


class JobQuery(colander.MappingSchema):
    limit = colander.SchemaNode(colander.Int(), missing=50, validator=colander.Range(1, 200))
    status = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(JOB_STATES)
    )


class JobOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    kind = colander.SchemaNode(Text())
    status = colander.SchemaNode(Text(), validator=colander.OneOf(JOB_STATES))
    progress_current = colander.SchemaNode(Integer())
    progress_total = colander.SchemaNode(Integer(), missing=None)
    percent = colander.SchemaNode(colander.Float(), missing=None)
    message = colander.SchemaNode(Text(), missing=None)
    result = colander.SchemaNode(JSONObject(), missing=None)
    error = colander.SchemaNode(Text(), missing=None)
    params = colander.SchemaNode(JSONObject(), missing=None)
    attempts = colander.SchemaNode(Integer())
    worker = colander.SchemaNode(
        Text(), missing=None, description="host (pid namespace) and process id that last ran it"
    )
    created_by_id = colander.SchemaNode(Integer(), missing=None)
    created_at = colander.SchemaNode(colander.DateTime(), missing=None)
    started_at = colander.SchemaNode(colander.DateTime(), missing=None)
    finished_at = colander.SchemaNode(colander.DateTime(), missing=None)


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress_current": job.progress_current,
        "progress_total": job.progress_total,
        "percent": job.percent,
        "message": job.message,
        "params": job.params,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "worker": job.worker,
        "created_by_id": job.created_by_id,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def list_view(request: Request):
    q = request.validated_query
    return {
        "items": [
            job_json(j) for j in services.recent_jobs(request.dbsession, q["limit"], q["status"])
        ]
    }


def get_view(request: Request):
    return job_json(services.get_job(request.dbsession, int(request.matchdict["id"])))


def includeme(config):
    add_endpoint(
        config,
        "api.jobs",
        "/jobs",
        "GET",
        list_view,
        permission=Permission.JOBS_READ,
        tag="jobs",
        summary="Recent jobs, newest first",
        query=JobQuery(),
        response=JobOutput(),
    )
    add_endpoint(
        config,
        "api.jobs.item",
        "/jobs/{id:\\d+}",
        "GET",
        get_view,
        permission=Permission.JOBS_READ,
        tag="jobs",
        summary="A job's status, progress and result",
        response=JobOutput(),
    )
