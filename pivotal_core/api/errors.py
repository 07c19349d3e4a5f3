"""One JSON error shape for the API: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging
from typing import Any

from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound
from pyramid.request import Request
from pyramid.view import exception_view_config
from sqlalchemy.exc import IntegrityError

from pivotal_core.errors import PivotalError, TooManyRequests

log = logging.getLogger(__name__)
API_PATHS = r"^/api/"


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(request: Request, exc: PivotalError) -> dict[str, Any]:
    """Answer with ``exc`` without raising (so the transaction still commits)."""
    request.response.status_int = exc.status
    if isinstance(exc, TooManyRequests):
        request.response.headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        request.response.headers["WWW-Authenticate"] = 'Bearer realm="pivotal"'
    return exc.as_dict()


@exception_view_config(PivotalError, renderer="json", path_info=API_PATHS)
def pivotal_error(exc: PivotalError, request: Request) -> dict[str, Any]:
    return error_response(request, exc)


@exception_view_config(HTTPForbidden, renderer="json", path_info=API_PATHS)
def forbidden(exc: HTTPForbidden, request: Request) -> dict[str, Any]:
    if request.identity is None:
        request.response.status_int = 401
        reason = request.environ.get("pivotal.auth_error")
        request.response.headers["WWW-Authenticate"] = (
            f'Bearer realm="pivotal", error="invalid_token", error_description="{reason}"'
            if reason
            else 'Bearer realm="pivotal"'
        )
        message = f"Authentication failed: {reason}" if reason else "Authentication required"
        return error_body("unauthorized", message)
    request.response.status_int = 403
    return error_body("forbidden", "Your role does not allow this action")


@exception_view_config(HTTPNotFound, renderer="json", path_info=API_PATHS)
def not_found(exc: HTTPNotFound, request: Request) -> dict[str, Any]:
    request.response.status_int = 404
    if exc.__class__.__name__ == "PredicateMismatch":
        request.response.status_int = 405
        return error_body("method_not_allowed", f"{request.method} is not allowed here")
    return error_body("not_found", "No such resource")


@exception_view_config(IntegrityError, renderer="json", path_info=API_PATHS)
def integrity_error(exc: IntegrityError, request: Request) -> dict[str, Any]:
    # Two writers raced past the service's check; the database constraint decided.
    log.info("integrity error mapped to 409: %s", exc.orig)
    request.response.status_int = 409
    return error_body("conflict", "The change conflicts with an existing record; retry it")


@exception_view_config(Exception, renderer="json", path_info=API_PATHS)
def server_error(exc: Exception, request: Request) -> dict[str, Any]:
    log.exception("unhandled error in %s %s", request.method, request.path)
    request.response.status_int = 500
    return error_body("server_error", f"Internal error (request {request.request_id})")
