"""Exports of a list's members and of a segment's current members from the staff UI: the
export of ``POST /api/v1/lists/{id}/export`` behind the cookie and a CSRF-checked form
(``web.list_export``, ``web.segment_export``; the list page's Export button posts here).
The form may send ``format`` (csv, json) and ``columns`` (one field per column)."""

from __future__ import annotations

from collections.abc import Callable

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response

from pivotal_core.audience import bulk
from pivotal_core.audience.api import viewer
from pivotal_core.audience.bulk_api import export_response
from pivotal_core.audience.exports import export_selection
from pivotal_core.audience.models import AudienceList, Segment
from pivotal_core.audience.services import get_shared
from pivotal_core.authnz.permissions import Permission
from pivotal_core.errors import PivotalError

ROUTES = {
    AudienceList: ("web.list_export", "web.list"),
    Segment: ("web.segment_export", "web.segment"),
}


def audience_export_page(model: type) -> Callable[[Request], Response | HTTPSeeOther]:
    _, detail_route = ROUTES[model]

    def view(request: Request) -> Response | HTTPSeeOther:
        item = get_shared(request.dbsession, model, int(request.matchdict["id"]), viewer(request))
        columns = [name for name in request.POST.getall("columns") if name] or None
        try:
            export = export_selection(
                request.dbsession,
                bulk.record_type(request.registry, item.entity_type),
                bulk.Selection.members_of(item),
                viewer=viewer(request),
                permissions=request.identity.permissions,
                columns=columns,
                fmt=request.POST.get("format") or "csv",
                filename=item.name,
            )
        except PivotalError as exc:
            request.tm.doom()
            details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            request.session.flash(details or exc.message, "error")
            return HTTPSeeOther(location=request.route_path(detail_route, id=item.id))
        return export_response(request, export)

    view.__name__ = f"export_{model.__tablename__}_page"
    return view


def includeme(config: Configurator) -> None:
    for model, (route, _) in ROUTES.items():
        plural = model.__tablename__
        config.add_route(route, f"/{plural}/{{id:\\d+}}/export")
        config.add_view(
            audience_export_page(model),
            route_name=route,
            request_method="POST",
            permission=Permission.AUDIENCE_READ,
        )
