"""The error answers of ``/v1`` in its OpenAPI document.

Litestar documents a 400 of its own shape (``{status_code, detail, extra}``) for every handler
with parameters, while every ``/v1`` error is ``{"error": {"code", "message", "field"?}}``
(``api/errors.py``). :func:`document_errors` gives every route the error answers it can
give, in the real shape, so that a client generated from the document (and the schemathesis
fuzz run in ``tests/e2e/test_fuzz_v1.py``) sees what the server sends. A response a handler
declares itself is kept.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    field: str | None = None
    character: str | None = None


class ErrorBody(msgspec.Struct):
    """Every ``/v1`` error answer."""

    error: ErrorDetail


_ANSWERS = {
    400: "Invalid input: the field and a stable code are named",
    401: "Missing or wrong credentials",
    403: "Not allowed: IP allowlist (forbidden) or a blocked address (ip_blocked)",
    404: "Not found for this account",
    405: "Method not allowed",
    408: "The request body came too slowly",
    409: "Conflicts with stored state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Idempotency-Key reused with a different request",
    429: "Rate limited (Retry-After) or the quota is used up",
    431: "Request headers too large",
    500: "Internal error (no details are given)",
    503: "A dependency is unavailable or a maintenance window refuses the send (Retry-After)",
}


def document_errors(app: Litestar, prefix: str = "/v1") -> None:
    """Declare the error answers on the HTTP routes of ``app`` under ``prefix`` (before the
    document is built). The façades answer in their own formats and are left alone."""
    for route in app.routes:
        if not route.path.startswith(prefix):
            continue
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            declared: dict[int, ResponseSpec] = dict(handler.responses or {})
            for status, description in _ANSWERS.items():
                declared.setdefault(
                    status,
                    ResponseSpec(ErrorBody, description=description, generate_examples=False),
                )
            handler.responses = declared


def error_or(container: Any, description: str) -> ResponseSpec:
    """A response that is either ``container`` or an error (a batch's 422, say)."""
    return ResponseSpec(
        container | ErrorBody,
        description=description,
        generate_examples=False,
    )
