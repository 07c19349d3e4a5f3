"""Every registered route, for every role: 401 without a token, 403 without the permission,
and through to the view with it. A route added without a permission fails here."""

from __future__ import annotations

import re

import pytest
from pyramid.security import NO_PERMISSION_REQUIRED

from pivotal_core.api.endpoints import endpoints_of
from pivotal_core.authnz.permissions import Role
from pivotal_core.authnz.policy import UNDECLARED_PERMISSION

# Routes anyone may call; every other route must declare a permission.
PUBLIC_ROUTES = {
    ("api.health", "GET"),
    ("api.openapi", "GET"),
    ("api.auth.login", "POST"),
    ("api.auth.refresh", "POST"),
    ("web.login", "GET"),
    ("web.login", "POST"),
}


def is_public(name: str, method: str) -> bool:
    # Static assets (styles, scripts, fonts) are public: the sign-in page needs them.
    return (name, method) in PUBLIC_ROUTES or name.startswith("__static/")


def registered_views(app):
    """(route name, pattern, method, permission) of every view attached to a route."""
    introspector = app.registry.introspector
    found = []
    for route_intr in introspector.get_category("routes") or []:
        route = route_intr["introspectable"]
        for related in route_intr["related"]:
            if related.category_name != "views":
                continue
            methods = related["request_methods"]
            methods = [methods] if isinstance(methods, str) else list(methods or ["GET"])
            permission = None
            for perm in introspector.related(related):
                if perm.category_name == "permissions":
                    permission = perm["value"]
            for method in methods:
                found.append((route["name"], route["pattern"], method, permission))
    return found


def concrete(pattern: str) -> str:
    path = re.sub(r"\{[^}]+\}", "1", pattern).replace("*subpath", "x")
    return path if path.startswith("/") else "/" + path


def test_every_route_declares_a_permission_or_is_public(app):
    views = registered_views(app)
    assert len(views) >= 25
    for name, pattern, method, permission in views:
        if is_public(name, method):
            assert permission == NO_PERMISSION_REQUIRED
            continue
        assert permission not in (None, NO_PERMISSION_REQUIRED, UNDECLARED_PERMISSION), (
            f"{method} {pattern} ({name}) declares no permission"
        )


def test_every_api_route_is_in_the_endpoint_registry(app):
    registered = {(e.route_name, e.method) for e in endpoints_of(app.registry)}
    for name, pattern, method, _ in registered_views(app):
        if pattern.startswith("/api/"):
            assert (name, method) in registered, f"{method} {pattern} bypasses add_endpoint"


def test_unauthenticated_requests_are_refused(app, anonymous):
    """The API answers 401; the staff UI sends the browser to the sign-in page."""
    for name, pattern, method, _ in registered_views(app):
        if is_public(name, method):
            continue
        res = getattr(anonymous, method.lower())(concrete(pattern))
        if pattern.startswith("/api/"):
            assert res.status_int == 401, f"{method} {pattern}: {res.status_int}"
            assert res.json["error"]["code"] == "unauthorized"
            assert res.headers["WWW-Authenticate"].startswith("Bearer")
        elif method == "GET":
            assert res.status_int == 302, f"{method} {pattern}: {res.status_int}"
            assert res.headers["Location"].split("?")[0].endswith("/login")
        else:
            # No session cookie and no CSRF token: refused either way, never performed.
            assert res.status_int in (302, 400), f"{method} {pattern}: {res.status_int}"


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_gets_403_exactly_where_it_lacks_the_permission(app, login, role):
    client = login(role)
    granted = app.registry["pivotal.role_permissions"][role]
    checked = 0
    for name, pattern, method, permission in registered_views(app):
        if is_public(name, method) or name in ("api.auth.logout", "web.logout"):
            continue  # logout would void the token the rest of the walk uses
        res = getattr(client, method.lower())(concrete(pattern))
        if permission in granted:
            assert res.status_int not in (401, 403), f"{role} {method} {pattern}: {res.status_int}"
            assert res.status_int < 500, f"{role} {method} {pattern}: {res.text}"
        else:
            assert res.status_int == 403, f"{role} {method} {pattern}: {res.status_int}"
            if pattern.startswith("/api/"):
                assert res.json["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 20


def test_public_routes_answer_without_a_token(anonymous):
    assert anonymous.get("/api/v1/health").json == {"status": "ok"}
    assert anonymous.get("/api/v1/openapi.json").json["openapi"] == "3.1.0"
    assert (
        anonymous.post("/api/v1/auth/login", {"email": "x@example.com", "password": "p"}).status_int
        == 401
    )
