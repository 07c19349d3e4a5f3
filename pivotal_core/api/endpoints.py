"""The API's route and schema registry: every ``/api/v1`` view is added through
:func:`add_endpoint`, which wires validation and records what the OpenAPI document needs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from pivotal_core.api.validation import deserialize, parse_query
from pivotal_core.errors import ValidationFailed

API_PREFIX = "/api/v1"
REGISTRY_KEY = "pivotal.api_endpoints"


@dataclass(frozen=True)
class Endpoint:
    route_name: str
    pattern: str
    method: str
    permission: str | None
    summary: str
    tag: str
    body: colander.SchemaNode | None
    query: colander.SchemaNode | None
    response: colander.SchemaNode | None
    status: int
    public: bool


def json_body(request: Request) -> Any:
    """The parsed JSON body, or a 400 that says what is wrong with it."""
    if not request.body:
        raise ValidationFailed({"body": "a JSON body is required"}, "Request body is empty")
    try:
        return json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed({"body": f"is not valid JSON: {exc}"}, "Malformed JSON") from exc


def add_endpoint(
    config: Configurator,
    route_name: str,
    pattern: str,
    method: str,
    view: Callable[[Request], Any],
    *,
    permission: str | None,
    summary: str,
    tag: str,
    body: colander.SchemaNode | None = None,
    query: colander.SchemaNode | None = None,
    response: colander.SchemaNode | None = None,
    status: int = 200,
    public: bool = False,
) -> None:
    """Add one JSON endpoint. ``permission=None`` requires ``public=True``: nothing is open
    by accident."""
    if permission is None and not public:
        raise ValueError(f"endpoint {route_name} {method} needs a permission or public=True")
    full_pattern = API_PREFIX + pattern
    endpoints: list[Endpoint] = config.registry.setdefault(REGISTRY_KEY, [])
    if not any(e.route_name == route_name for e in endpoints):
        config.add_route(route_name, full_pattern)
    partial = method == "PATCH"

    def endpoint_view(request: Request) -> Any:
        if body is not None:
            request.validated = deserialize(body, json_body(request), partial=partial)
        elif request.body and method in {"POST", "PUT", "PATCH"}:
            json_body(request)  # refuse malformed JSON even where no fields are read
        if query is not None:
            request.validated_query = parse_query(query, request.GET)
        result = view(request)
        if status != 200 and not hasattr(result, "status_int"):
            request.response.status_int = status
        return result

    endpoint_view.__name__ = getattr(view, "__name__", route_name)
    endpoint_view.__doc__ = view.__doc__
    config.add_view(
        endpoint_view,
        route_name=route_name,
        request_method=method,
        renderer="json",
        permission=permission if permission is not None else NO_PERMISSION_REQUIRED,
        # The API authenticates with bearer tokens only (never the UI's cookie), so a
        # forged cross-site request carries no credentials: no CSRF token needed.
        require_csrf=False,
    )
    endpoints.append(
        Endpoint(
            route_name=route_name,
            pattern=full_pattern,
            method=method,
            permission=permission,
            summary=summary,
            tag=tag,
            body=body,
            query=query,
            response=response,
            status=status,
            public=public,
        )
    )


def endpoints_of(registry: Any) -> list[Endpoint]:
    return list(registry.get(REGISTRY_KEY, []))
