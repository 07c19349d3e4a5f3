"""The shell's own pages: sign-in, sign-out, dashboard, global search, 403 and 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.session import JSONSerializer, SignedCookieSessionFactory
from pyramid.view import forbidden_view_config, notfound_view_config, view_config
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import field_changes
from pivotal_core.authnz import services as auth_services
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts.models import Contact
from pivotal_core.errors import PivotalError
from pivotal_core.jobs.models import Job
from pivotal_core.users.models import User
from pivotal_core.users.services import search_users
from pivotal_core.web.navigation import navigation
from pivotal_core.web.session import clear_session_cookie, renew_if_half_spent, set_session_cookie


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in would help phishing."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@view_config(
    route_name="web.login",
    request_method="GET",
    renderer="web/login.jinja2",
    permission=NO_PERMISSION_REQUIRED,
)
def login_form(request: Request) -> dict[str, Any]:
    return {"next": safe_next(request.GET.get("next")), "email": "", "error": None}


@view_config(
    route_name="web.login",
    request_method="POST",
    renderer="web/login.jinja2",
    permission=NO_PERMISSION_REQUIRED,
)
def login_submit(request: Request):
    from pivotal_core.authnz.api import client_address

    email = request.POST.get("email", "")[:254]
    password = request.POST.get("password", "")[:1000]
    target = safe_next(request.POST.get("next"))
    try:
        pair = auth_services.login(
            request.dbsession,
            request.registry["pivotal.token_config"],
            auth_services.Throttle.from_settings(request.registry.settings),
            email,
            password,
            client_address(request),
            bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
        )
    except PivotalError as exc:
        # Answered, not raised: the failed attempt must be committed for throttling.
        request.response.status_int = exc.status
        return {"next": target, "email": email, "error": exc.message}
    response = HTTPSeeOther(location=target)
    set_session_cookie(request, response, pair.user)
    request.session.flash(f"Signed in as {pair.user.email}", "success")
    return response


@view_config(route_name="web.logout", request_method="POST", permission=Permission.ME)
def logout(request: Request):
    auth_services.logout(request.dbsession, request.identity.user)
    response = HTTPSeeOther(location=request.route_url("web.login"))
    clear_session_cookie(response)
    return response


@view_config(route_name="web.dashboard", renderer="web/dashboard.jinja2", permission=Permission.ME)
def dashboard(request: Request) -> dict[str, Any]:
    session = request.dbsession
    allowed = request.identity.permissions

    def count(model, *where) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    counts = []
    if Permission.ACCOUNTS_READ in allowed:
        counts.append(("Accounts", count(Account), "web.accounts"))
    if Permission.CONTACTS_READ in allowed:
        counts.append(("Contacts", count(Contact), "web.contacts"))
    if Permission.JOBS_READ in allowed:
        counts.append(
            ("Running jobs", count(Job, Job.status.in_(("queued", "running"))), "web.jobs")
        )
    if Permission.USERS_READ in allowed:
        counts.append(("Users", count(User, User.is_active.is_(True)), "web.users"))
    activity: list[dict[str, Any]] = []
    if Permission.AUDIT_READ in allowed:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity.in_(("account", "contact")))
            .order_by(AuditEvent.id.desc())
            .limit(300)
        )
        activity = group_changes(events, limit=15)
    return {"counts": counts, "activity": activity}


def group_changes(events, limit: int) -> list[dict[str, Any]]:
    """One line per change of a record: events of one request (or job) on one record are
    the fields of a single change."""
    groups: list[dict[str, Any]] = []
    for event in events:
        # Without a request or job id, the events of one write share their timestamp.
        origin = event.request_id or event.job_id or event.created_at
        key = (event.entity, event.entity_id, event.action, origin)
        names = [name for name, _, _ in field_changes(event)]
        if groups and groups[-1]["key"] == key:
            groups[-1]["fields"].extend(names)
            continue
        if len(groups) == limit:
            break
        groups.append({"key": key, "event": event, "fields": names})
    return groups


@view_config(
    route_name="web.search", renderer="web/search_results.jinja2", permission=Permission.ME
)
def global_search(request: Request) -> dict[str, Any]:
    """Accounts, contacts and users matching ``q``, as the top bar's dropdown."""
    from pivotal_core.accounts.api import search_accounts
    from pivotal_core.contacts.api import search_contacts

    q = request.GET.get("q", "").strip()[:100]
    allowed = request.identity.permissions
    groups: list[tuple[str, list[tuple[str, str, str]]]] = []
    if len(q) >= 2:
        session = request.dbsession
        if Permission.ACCOUNTS_READ in allowed:
            rows = session.scalars(
                select(Account).where(search_accounts(q)).order_by(Account.name).limit(6)
            )
            groups.append(
                (
                    "Accounts",
                    [
                        (a.name, a.domain or "", request.route_path("web.account", id=a.id))
                        for a in rows
                    ],
                )
            )
        if Permission.CONTACTS_READ in allowed:
            rows = session.scalars(
                select(Contact).where(search_contacts(q)).order_by(Contact.id).limit(6)
            )
            groups.append(
                (
                    "Contacts",
                    [
                        (
                            c.full_name or c.email or f"Contact {c.id}",
                            c.email or "",
                            request.route_path("web.contact", id=c.id),
                        )
                        for c in rows
                    ],
                )
            )
        if Permission.USERS_READ in allowed:
            rows = session.scalars(select(User).where(search_users(q)).limit(4))
            groups.append(
                (
                    "Users",
                    [
                        (u.full_name or u.email, u.email, request.route_path("web.user", id=u.id))
                        for u in rows
                    ],
                )
            )
    return {"q": q, "groups": [(name, items) for name, items in groups if items]}


@forbidden_view_config(renderer="web/error.jinja2")
def forbidden(exc: HTTPForbidden, request: Request):
    if request.identity is None:
        if request.headers.get("HX-Request"):
            request.response.status_int = 401
            request.response.headers["HX-Redirect"] = request.route_path("web.login")
            return {"status": 401, "title": "Signed out", "message": "Sign in again."}
        return HTTPFound(location=request.route_path("web.login", _query={"next": request.path_qs}))
    request.response.status_int = 403
    return {
        "status": 403,
        "title": "Not allowed",
        "message": "Your role does not give access to this page.",
    }


@notfound_view_config(renderer="web/error.jinja2")
def not_found(exc: HTTPNotFound, request: Request) -> dict[str, Any]:
    request.response.status_int = 404
    return {"status": 404, "title": "Not found", "message": "There is no such page or record."}


def template_globals(event: Any) -> None:
    """What every template of the shell may use."""
    request = event.get("request")
    if request is None or not str(event.get("renderer_name", "")).endswith(".jinja2"):
        return
    event["identity"] = request.identity
    event["nav"] = navigation(request) if request.identity is not None else []
    event["flashes"] = {
        queue: request.session.pop_flash(queue) for queue in ("success", "info", "error")
    }
    event["csrf_token"] = _csrf(request)


def _csrf(request: Request) -> str:
    from pyramid.csrf import get_csrf_token

    return get_csrf_token(request)


def renew_session(event: Any) -> None:
    request = event.request
    if request.path_info.startswith(("/api/", "/static/")):
        return
    renew_if_half_spent(request, event.response)


def includeme(config):
    settings = config.get_settings()
    config.set_session_factory(
        SignedCookieSessionFactory(
            settings["auth.secret"],
            cookie_name="pivotal_session",
            httponly=True,
            samesite="Lax",
            serializer=JSONSerializer(),
            salt="pivotal-session",
        )
    )
    config.add_route("web.login", "/login")
    config.add_route("web.logout", "/logout")
    config.add_route("web.dashboard", "/")
    config.add_route("web.search", "/search")
    config.add_route("web.table_preferences", "/preferences/tables/{name}")
    config.add_subscriber(template_globals, "pyramid.events.BeforeRender")
    config.add_subscriber(renew_session, "pyramid.events.NewResponse")
    config.scan(".pages")


@view_config(route_name="web.table_preferences", request_method="POST", permission=Permission.ME)
def save_table_preferences(request: Request):
    """Remember a table's columns, density and page size for the current user."""
    from pivotal_core.web.tables import PAGE_SIZES

    name = request.matchdict["name"]
    user = request.identity.user
    columns = [c[:60] for c in request.POST.getall("columns")][:50]
    density = request.POST.get("density", "comfortable")
    prefs = dict(user.preferences or {})
    tables = dict(prefs.get("tables") or {})
    entry = dict(tables.get(name) or {})
    if columns:
        entry["columns"] = columns
    if density in ("comfortable", "compact"):
        entry["density"] = density
    size = request.POST.get("size", "")
    if size.isdigit() and int(size) in PAGE_SIZES:
        entry["size"] = int(size)
    tables[name[:60]] = entry
    prefs["tables"] = tables
    user.preferences = prefs
    if request.headers.get("HX-Request"):
        return Response(status=204)
    return HTTPSeeOther(location=safe_next(request.POST.get("came_from")))


@view_config(context=PivotalError, renderer="web/error.jinja2")
def pivotal_error_page(exc: PivotalError, request: Request) -> dict[str, Any]:
    """A user-caused error outside the API (a bad cursor in a link, a stale record)."""
    request.response.status_int = exc.status
    details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    return {
        "status": exc.status,
        "title": "That did not work",
        "message": exc.message + (f" ({details})" if details else ""),
    }
