"""Errors users can cause, each mapped to one HTTP status and the API error shape."""

from __future__ import annotations

from collections.abc import Mapping


class PivotalError(Exception):
    """Base of user-facing errors: ``code`` and ``status`` pick the HTTP answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


class ValidationFailed(PivotalError):
    status = 400
    code = "validation_failed"

    def __init__(self, fields: Mapping[str, str], message: str | None = None) -> None:
        fields = dict(fields)
        if message is None:
            names = ", ".join(sorted(fields))
            message = f"Invalid input: {names}" if names else "Invalid input"
        super().__init__(message, fields)


class Conflict(PivotalError):
    status = 409
    code = "conflict"


class Unprocessable(PivotalError):
    status = 422
    code = "unprocessable"


class NotFound(PivotalError):
    status = 404
    code = "not_found"


class Unauthorized(PivotalError):
    status = 401
    code = "unauthorized"


class Forbidden(PivotalError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(PivotalError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(PivotalError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
