"""The one place where todoke's error tree becomes ``/v1`` HTTP answers.

Every answer is ``{"error": {"code", "message", "field"?}}``. Bad input is 4xx, never 500; an
unexpected exception is a 500 whose body says nothing about the internals (it is logged).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from todoke import errors
from todoke.store.database import is_connection_error

log = structlog.get_logger(__name__)

_STATUS: list[tuple[type[errors.TodokeError], int]] = [
    (errors.InvalidInput, 400),
    (errors.Unauthenticated, 401),
    (errors.IpBlocked, 403),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.IdempotencyKeyReused, 422),
    (errors.Conflict, 409),
    (errors.RateLimited, 429),
    (errors.QuotaExceeded, 429),
    (errors.ServiceUnavailable, 503),
    (errors.MaintenanceRefused, 503),
]

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "headers_too_large",
}

_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_]+)")


def status_for(exc: errors.TodokeError) -> int:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def encode_error(exc: errors.TodokeError) -> tuple[int, bytes]:
    """Status and body of a todoke error (also used for stored idempotent answers)."""
    field = getattr(exc, "field", None)
    extra: dict[str, Any] = {}
    character = getattr(exc, "character", None)
    if character:
        extra["character"] = character
    return status_for(exc), msgspec.json.encode(error_body(exc.code, exc.message, field, **extra))


def error_headers(exc: errors.TodokeError) -> dict[str, str]:
    """The headers that go with a todoke error's answer (``Retry-After`` where it helps)."""
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(max(1, round(exc.retry_after)))}
    if isinstance(exc, errors.ServiceUnavailable):
        return {"Retry-After": "1"}
    return {}


def todoke_error_handler(_request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, errors.TodokeError)
    status, body = encode_error(exc)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=error_headers(exc))


def validation_error_handler(_request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, ValidationException)
    detail = str(exc.detail or "invalid request")
    field = None
    messages: list[str] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            messages.append(str(item.get("message", "")))
            key = item.get("key")
            if key and key != "body" and field is None:
                field = str(key)
    text = "; ".join(m for m in messages if m) or detail
    match = _FIELD.search(text)
    if match and field is None:
        field = match.group(1)
    body = error_body("invalid_input", text, field)
    return Response(msgspec.json.encode(body), status_code=400, media_type=MediaType.JSON)


def http_error_handler(_request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= 500:
        log.error("http.error", status=status, detail=str(exc.detail)[:200])
        body = error_body("internal_error", "internal error")
    else:
        body = error_body(_HTTP_CODES.get(status, "error"), str(exc.detail))
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type=MediaType.JSON,
        headers=exc.headers,
    )


def unexpected_error(path: str, exc: Exception) -> errors.TodokeError | bytes:
    """What an exception outside todoke's error tree becomes (logged here): the database
    gone away under a request is "try again" (503, as while it is down); anything else is
    the body of a 500 that says nothing about the internals."""
    if is_connection_error(exc):
        log.warning("http.db_unreachable", path=path, error=type(exc).__name__)
        return errors.ServiceUnavailable("database unreachable")
    log.exception("http.unhandled", path=path, error=type(exc).__name__)
    return msgspec.json.encode(error_body("internal_error", "internal error"))


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    answer = unexpected_error(request.url.path, exc)
    if isinstance(answer, errors.TodokeError):
        return todoke_error_handler(request, answer)
    return Response(answer, status_code=500, media_type=MediaType.JSON)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    errors.TodokeError: todoke_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
