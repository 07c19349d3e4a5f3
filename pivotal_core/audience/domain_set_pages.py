"""Domain sets in the staff UI: the sets with their counts and match rate, the uploader
(a file or pasted domains), and a set's page with its match report (a chart and the
numbers), its entries filterable by status, the suggested accounts with "use this
account", and the buttons that create the missing accounts and make lists.

The views call the services the API calls (``audience.domain_sets``); a refused form
shows each error beside its field and dooms the transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.view import view_config
from sqlalchemy.orm import Session

from pivotal_core.api.pagination import keyset_page
from pivotal_core.api.records import request_actor
from pivotal_core.audience import domain_sets
from pivotal_core.audience.api import sort_keys, viewer
from pivotal_core.audience.models import (
    DOMAIN_ITEM_STATUSES,
    ENTITY_TYPES,
    VISIBILITY_SCOPES,
    DomainSet,
)
from pivotal_core.authnz.permissions import Permission
from pivotal_core.errors import PivotalError, ValidationFailed
from pivotal_core.jobs.models import Job
from pivotal_core.web.record_pages import actor_labels, refuse
from pivotal_core.web.templating import add_template_dir

READ = Permission.AUDIENCE_READ
WRITE = Permission.AUDIENCE_WRITE
PAGE = 50
ITEMS_PAGE = 100
SUGGESTIONS_SHOWN = 20
ENTITY_LABELS = {"account": "Accounts", "contact": "Contacts at them"}
STATUS_LABELS = {
    "matched": "Matched",
    "unmatched": "Unmatched",
    "invalid": "Invalid",
    "duplicate": "Duplicates",
}
VIA_LABELS = {
    "primary": "primary domain",
    "secondary": "secondary domain",
    "manual": "chosen by hand",
    "created": "account created",
}


def _set(request: Request) -> DomainSet:
    return domain_sets.get_domain_set(
        request.dbsession, int(request.matchdict["id"]), viewer(request)
    )


def _back(request: Request, domain_set: DomainSet, **query: Any) -> HTTPSeeOther:
    return HTTPSeeOther(
        location=request.route_path("web.domain_set", id=domain_set.id, _query=query)
    )


def _refused(request: Request, domain_set: DomainSet, error: PivotalError) -> HTTPSeeOther:
    """An action refused on the set's page: nothing kept, the reason shown there."""
    request.tm.doom()
    details = "; ".join(f"{k}: {v}" for k, v in error.fields.items())
    request.session.flash(error.message + (f" ({details})" if details else ""), "error")
    return _back(request, domain_set)


# ---------------------------------------------------------------- the sets


@view_config(
    route_name="web.domain_sets", renderer="audience/domain_set_list.jinja2", permission=READ
)
def domain_set_index(request: Request) -> dict[str, Any]:
    q = request.GET.get("q", "").strip()[:200]
    deleted = request.GET.get("deleted") == "only"
    stmt = domain_sets.domain_sets_query(viewer(request), None, q or None, deleted=deleted)
    try:
        page = keyset_page(
            request.dbsession,
            stmt,
            DomainSet.id,
            sort_keys(DomainSet),
            sort="-createdAt",
            default_sort="-createdAt",
            limit=PAGE,
            cursor=request.GET.get("cursor") or None,
        )
    except ValidationFailed:
        return HTTPSeeOther(location=request.route_path("web.domain_sets"))

    def url(**query: Any) -> str:
        query = {"q": q, "deleted": "only" if deleted else None, **query}
        return request.route_path("web.domain_sets", _query={k: v for k, v in query.items() if v})

    return {
        "sets": page.items,
        "reports": {s.id: domain_sets.DomainSetReport.of(s) for s in page.items},
        "owners": actor_labels(request.dbsession, {s.owner_id for s in page.items if s.owner_id}),
        "q": q,
        "deleted": deleted,
        "url": url,
        "next_url": url(cursor=page.next_cursor) if page.next_cursor else None,
        "prev_url": url(cursor=page.prev_cursor) if page.prev_cursor else None,
        "entity_labels": ENTITY_LABELS,
        "can_write": request.has_permission(WRITE),
        "live": any(s.status in ("queued", "processing") for s in page.items),
    }


# ---------------------------------------------------------------- the uploader


def _new_page(request: Request, values: dict[str, Any], errors: dict[str, str]) -> dict:
    return {
        "values": values,
        "errors": errors,
        "entities": [(e, ENTITY_LABELS[e]) for e in reversed(ENTITY_TYPES)],
        "scopes": [(s, s.capitalize()) for s in VISIBILITY_SCOPES],
        "max_entries": domain_sets.MAX_ENTRIES,
    }


@view_config(
    route_name="web.domain_set_new",
    request_method="GET",
    renderer="audience/domain_set_new.jinja2",
    permission=WRITE,
)
def new_domain_set(request: Request) -> dict[str, Any]:
    values = {"entity_type": "account", "visibility_scope": "private"}
    return _new_page(request, values, {})


@view_config(
    route_name="web.domain_set_new",
    request_method="POST",
    renderer="audience/domain_set_new.jinja2",
    permission=WRITE,
)
def upload_domain_set(request: Request):
    """A file or pasted domains, one per line; every problem is shown beside its field."""
    post = request.POST
    values = {
        name: str(post.get(name, "")).strip()[:2000]
        for name in ("name", "description", "entity_type", "visibility_scope", "column")
    }
    upload = post.get("file")
    pasted = str(post.get("domains", ""))
    has_file = bool(getattr(upload, "filename", None))
    settings = request.registry.settings
    try:
        if has_file == bool(pasted.strip()):
            raise ValidationFailed({"file": "choose a file, or paste domains below (not both)"})
        read = None
        if has_file:
            read = domain_sets.read_domain_file(
                settings, upload.file, upload.filename, values["column"] or None
            )
        service_values = {
            "name": values["name"] or (read.filename if read else ""),
            "description": values["description"] or None,
            "entity_type": values["entity_type"],
            "visibility_scope": values["visibility_scope"],
        }
        domain_set = domain_sets.create_domain_set(
            request.dbsession,
            request_actor(request, source="ui"),
            viewer(request),
            service_values,
            settings=settings,
            upload=read,
            domains=None if read else pasted.splitlines(),
            huey=request.huey,
        )
    except PivotalError as exc:
        refuse(request, exc)
        errors = {_field(name): message for name, message in exc.fields.items()}
        return _new_page(
            request, {**values, "domains": pasted[:200_000]}, errors or {"file": exc.message}
        )
    return HTTPSeeOther(location=request.route_path("web.domain_set", id=domain_set.id))


def _field(name: str) -> str:
    """The form's name of a field an error names (the API's camelCase, or the list)."""
    return {"entityType": "entity_type", "visibilityScope": "visibility_scope"}.get(
        name, "domains" if name == "domains" else name
    )


# ---------------------------------------------------------------- a set


def _suggestions(session: Session, domain_set: DomainSet) -> list[Any]:
    return domain_sets.suggestions_page(session, domain_set, None, SUGGESTIONS_SHOWN)


@view_config(
    route_name="web.domain_set", renderer="audience/domain_set_detail.jinja2", permission=READ
)
def domain_set_detail(request: Request) -> dict[str, Any]:
    session = request.dbsession
    domain_set = _set(request)
    status = request.GET.get("status")
    status = status if status in DOMAIN_ITEM_STATUSES else None
    after = request.GET.get("after")
    after_line = int(after) if after and after.isdigit() else None
    ready = domain_set.status == "ready"
    items = (
        domain_sets.item_page(session, domain_set, status, after_line, ITEMS_PAGE) if ready else []
    )
    report = domain_sets.DomainSetReport.of(domain_set)
    job = session.get(Job, domain_set.job_id) if domain_set.job_id else None

    def url(**query: Any) -> str:
        query = {k: v for k, v in {"status": status, **query}.items() if v}
        return request.route_path("web.domain_set", id=domain_set.id, _query=query)

    counts = {
        "matched": report.matched,
        "unmatched": report.unmatched,
        "invalid": report.invalid,
        "duplicate": report.duplicates,
    }
    can_change = ready and request.has_permission(WRITE)
    return {
        "domain_set": domain_set,
        "report": report,
        "counts": counts,
        "chart": [
            {"status": key, "label": STATUS_LABELS[key], "value": value}
            for key, value in counts.items()
        ],
        "status": status,
        "statuses": STATUS_LABELS,
        "items": items,
        "accounts": domain_sets.matched_accounts(session, items),
        "next_url": url(after=items[-1].line_number) if len(items) == ITEMS_PAGE else None,
        "first_url": url() if after_line else None,
        "status_url": url,
        "suggestions": _suggestions(session, domain_set) if ready else [],
        "more_to_suggest": ready
        and bool(
            domain_sets.item_page(
                session, domain_set, "unmatched", domain_set.suggested_through or 0, 1
            )
        ),
        "job": job,
        "live": domain_set.status in ("queued", "processing"),
        "ready": ready,
        "owner": actor_labels(session, {domain_set.owner_id} if domain_set.owner_id else set()),
        "can_change": can_change,
        "can_create_accounts": ready
        and report.unmatched > 0
        and request.has_permission(Permission.ACCOUNTS_WRITE),
        "can_add_domain": request.has_permission(Permission.ACCOUNTS_WRITE),
        "via_labels": VIA_LABELS,
        "entity_labels": ENTITY_LABELS,
    }


# ---------------------------------------------------------------- actions


def _action(request: Request, run: Any, done: str | None = None):
    domain_set = _set(request)
    try:
        result = run(domain_set)
    except PivotalError as exc:
        return _refused(request, domain_set, exc)
    if isinstance(result, HTTPSeeOther):
        return result
    if done:
        request.session.flash(done.format(result=result), "success")
    return _back(request, domain_set)


@view_config(route_name="web.domain_set_match", request_method="POST", permission=WRITE)
def use_account(request: Request):
    post = request.POST
    add_domain = post.get("add_domain") == "1"

    def run(domain_set: DomainSet):
        line, account_id = post.get("line", ""), post.get("account_id", "")
        if not line.isdigit() or not account_id.isdigit():
            raise ValidationFailed({"line": "choose a domain and an account"})
        if add_domain and not request.has_permission(Permission.ACCOUNTS_WRITE):
            raise ValidationFailed(
                {"add_domain": "adding domains to accounts needs accounts:write"}
            )
        item = domain_sets.match_to_account(
            request.dbsession,
            request_actor(request, source="ui"),
            viewer(request),
            domain_set,
            int(line),
            int(account_id),
            add_domain=add_domain,
        )
        return item.domain

    return _action(request, run, "Matched {result}")


@view_config(route_name="web.domain_set_suggest", request_method="POST", permission=WRITE)
def suggest_more(request: Request):
    def run(domain_set: DomainSet):
        domain_sets.check_ready_to_change(domain_set, viewer(request))
        return domain_sets.suggest_accounts(request.dbsession, domain_set)

    return _action(
        request,
        run,
        "Looked at {result[examined]:,} more unmatched domains: {result[suggested]:,} with "
        "suggestions",
    )


@view_config(route_name="web.domain_set_rematch", request_method="POST", permission=WRITE)
def match_again(request: Request):
    def run(domain_set: DomainSet):
        domain_sets.rematch_domain_set(
            request.dbsession, request_actor(request, source="ui"), viewer(request), domain_set
        )
        return domain_set.matched_count

    return _action(request, run, "Matched again: {result:,} matched")


@view_config(
    route_name="web.domain_set_create_accounts",
    request_method="POST",
    permission=Permission.ACCOUNTS_WRITE,
)
def create_accounts(request: Request):
    def run(domain_set: DomainSet):
        result = domain_sets.create_missing_accounts(
            request.dbsession,
            request_actor(request, source="ui"),
            viewer(request),
            domain_set,
            settings=request.registry.settings,
            huey=request.huey,
        )
        if "jobId" in result:
            return (
                f"Creating {result['domains']:,} accounts in the background (job {result['jobId']})"
            )
        return f"Created {result['created']:,} accounts (import batch {result['importBatchId']})"

    return _action(request, run, "{result}")


@view_config(route_name="web.domain_set_to_list", request_method="POST", permission=WRITE)
def make_list(request: Request):
    entity = request.POST.get("entity_type", "account")

    def run(domain_set: DomainSet):
        if entity not in ENTITY_TYPES:
            raise ValidationFailed({"entity_type": f"must be one of {', '.join(ENTITY_TYPES)}"})
        audience_list = domain_sets.domain_set_to_list(
            request.dbsession,
            request_actor(request, source="ui"),
            viewer(request),
            domain_set,
            {"entity_type": entity, "name": request.POST.get("name", "").strip()[:200] or None},
        )
        request.session.flash(
            f"Made the list {audience_list.name} of {audience_list.member_count:,} "
            f"{'accounts' if entity == 'account' else 'contacts'}",
            "success",
        )
        if _has_route(request, "web.list"):
            return HTTPSeeOther(location=request.route_path("web.list", id=audience_list.id))
        return None

    return _action(request, run)


@view_config(route_name="web.domain_set_delete", request_method="POST", permission=WRITE)
def delete_set(request: Request):
    domain_set = _set(request)
    try:
        domain_sets.delete_domain_set(
            request.dbsession, request_actor(request, source="ui"), viewer(request), domain_set
        )
    except PivotalError as exc:
        return _refused(request, domain_set, exc)
    request.session.flash(
        f"Deleted the domain set {domain_set.name}. It can be restored from “Show deleted”.",
        "success",
    )
    return HTTPSeeOther(location=request.route_path("web.domain_sets"))


@view_config(route_name="web.domain_set_restore", request_method="POST", permission=WRITE)
def restore_set(request: Request):
    domain_set = domain_sets.get_domain_set(
        request.dbsession, int(request.matchdict["id"]), viewer(request), include_deleted=True
    )
    try:
        domain_sets.restore_domain_set(
            request.dbsession, request_actor(request, source="ui"), viewer(request), domain_set
        )
    except PivotalError as exc:
        request.session.flash(exc.message, "error")
        return HTTPSeeOther(
            location=request.route_path("web.domain_sets", _query={"deleted": "only"})
        )
    request.session.flash(f"Restored the domain set {domain_set.name}.", "success")
    return HTTPSeeOther(location=request.route_path("web.domain_set", id=domain_set.id))


def _has_route(request: Request, name: str) -> bool:
    from pyramid.interfaces import IRoutesMapper

    return request.registry.getUtility(IRoutesMapper).get_route(name) is not None


def includeme(config) -> None:
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    item = "/domain-sets/{id:\\d+}"
    config.add_route("web.domain_sets", "/domain-sets")
    config.add_route("web.domain_set_new", "/domain-sets/new")
    config.add_route("web.domain_set", item)
    config.add_route("web.domain_set_match", item + "/match")
    config.add_route("web.domain_set_suggest", item + "/suggest")
    config.add_route("web.domain_set_rematch", item + "/rematch")
    config.add_route("web.domain_set_create_accounts", item + "/create-accounts")
    config.add_route("web.domain_set_to_list", item + "/to-list")
    config.add_route("web.domain_set_delete", item + "/delete")
    config.add_route("web.domain_set_restore", item + "/restore")
    config.scan(".domain_set_pages")
