"""Jobs in the staff UI: recent background work with live progress, and one job's details."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pyramid.request import Request
from pyramid.view import view_config
from sqlalchemy import select

from pivotal_core.authnz.permissions import Permission
from pivotal_core.jobs import services
from pivotal_core.jobs.models import JOB_STATES, Job
from pivotal_core.users.models import User
from pivotal_core.web.templating import add_template_dir

ACTIVE_STATES = ("queued", "running")
LIST_LIMIT = 50


def _owners(request: Request, jobs: Iterable[Job]) -> dict[int, User]:
    """The users who started ``jobs``, by id, in one query."""
    ids = {job.created_by_id for job in jobs if job.created_by_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in request.dbsession.scalars(select(User).where(User.id.in_(ids)))}


def _listing(request: Request) -> dict[str, Any]:
    status = request.GET.get("status")
    status = status if status in JOB_STATES else None
    jobs = services.recent_jobs(request.dbsession, LIST_LIMIT, status)
    query = {"status": status} if status else {}
    return {
        "jobs": jobs,
        "owners": _owners(request, jobs),
        "status": status,
        "states": JOB_STATES,
        "live": any(job.status in ACTIVE_STATES for job in jobs),
        "rows_url": request.route_path("web.jobs_rows", _query=query),
    }


@view_config(route_name="web.jobs", renderer="jobs/list.jinja2", permission=Permission.JOBS_READ)
def job_list(request: Request) -> dict[str, Any]:
    return _listing(request)


@view_config(
    route_name="web.jobs_rows", renderer="jobs/rows.jinja2", permission=Permission.JOBS_READ
)
def job_rows(request: Request) -> dict[str, Any]:
    """The table body alone, polled by htmx while a listed job is queued or running."""
    return _listing(request)


@view_config(route_name="web.job", renderer="jobs/detail.jinja2", permission=Permission.JOBS_READ)
def job_detail(request: Request) -> dict[str, Any]:
    job = services.get_job(request.dbsession, int(request.matchdict["id"]))
    return {"job": job, "owners": _owners(request, [job]), "live": job.status in ACTIVE_STATES}


def includeme(config):
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    config.add_route("web.jobs", "/jobs")
    config.add_route("web.jobs_rows", "/jobs/rows")
    config.add_route("web.job", "/jobs/{id:\\d+}")
    config.scan(".pages")
