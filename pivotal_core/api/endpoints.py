"""The API's route and schema registry: every ``/api/v1`` view is added through
:func:`add_endpoint`, which wires validation and records what the OpenAPI document needs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.security import NO_PERMISSION_REQUIRED

from pivotal_core.api.validation import FileUpload, deserialize, deserialize_form, parse_query
from pivotal_core.errors import PayloadTooLarge, ValidationFailed

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
    # A multipart/form-data body (file uploads) instead of JSON, and its size limit.
    form: colander.SchemaNode | None = None
    max_body: Callable[[Request], int] | None = None
    # Media types of a success body that is not JSON (a CSV download).
    produces: tuple[str, ...] = ()


def json_body(request: Request) -> Any:
    """The parsed JSON body, or a 400 that says what is wrong with it."""
    if not request.body:
        raise ValidationFailed({"body": "a JSON body is required"}, "Request body is empty")
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed({"body": f"is not valid JSON: {exc}"}, "Malformed JSON") from exc
    except RecursionError as exc:  # the parser's own limit: about a thousand levels
        raise ValidationFailed({"body": "is nested too deeply"}, "Malformed JSON") from exc
    if _SURROGATE_ESCAPE.search(request.body):
        # JSON may escape half of a surrogate pair alone ("\ud800"): Python accepts it,
        # no database or file can store it. Refuse it where it is, before any service.
        path = _lone_surrogate(data, "")
        if path is not None:
            raise ValidationFailed(
                {path or "body": "holds an unpaired UTF-16 surrogate escape: not valid text"},
                "Invalid text",
            )
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path (``a.b[2]``) of the first string holding a lone surrogate, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
            inner = f"{path}.{shown}" if path else shown
            if _lone_surrogate(key, inner) is not None:
                return inner
            found = _lone_surrogate(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


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
    form: colander.SchemaNode | None = None,
    max_body: Callable[[Request], int] | None = None,
    produces: tuple[str, ...] = (),
) -> None:
    """Add one JSON endpoint. ``permission=None`` requires ``public=True``: nothing is open
    by accident.

    ``form``: the fields of a ``multipart/form-data`` body (with files), validated into
    ``request.validated`` like a JSON ``body``. ``max_body(request)``: the most bytes the
    body may have; a longer one is refused with 413 before it is read. ``produces``: the
    media types of a success body the view answers itself instead of JSON (``text/csv``).
    """
    if permission is None and not public:
        raise ValueError(f"endpoint {route_name} {method} needs a permission or public=True")
    full_pattern = API_PREFIX + pattern
    endpoints: list[Endpoint] = config.registry.setdefault(REGISTRY_KEY, [])
    if not any(e.route_name == route_name for e in endpoints):
        config.add_route(route_name, full_pattern)
    partial = method == "PATCH"

    def endpoint_view(request: Request) -> Any:
        if max_body is not None:
            limit = max_body(request)
            if (request.content_length or 0) > limit:
                message = f"The request is larger than the {limit:,} bytes allowed"
                parts = form.children if form is not None else []
                files = [c.name for c in parts if isinstance(c.typ, FileUpload)]
                raise PayloadTooLarge(message, dict.fromkeys(files or ["body"], message))
        if body is not None:
            request.validated = deserialize(body, json_body(request), partial=partial)
        elif form is not None:
            request.validated = deserialize_form(form, request)
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
            form=form,
            max_body=max_body,
            produces=produces,
        )
    )


def endpoints_of(registry: Any) -> list[Endpoint]:
    return list(registry.get(REGISTRY_KEY, []))
