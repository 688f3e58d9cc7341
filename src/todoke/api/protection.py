"""The per-IP rate limit of every route of every API, and the security headers of HTML pages.

:func:`ip_rate_hook` is an app-level Litestar ``before_request`` hook: it runs for every
matched route, before authentication, dependencies and body parsing, and raises
:class:`~todoke.errors.RateLimited` above ``ip_rate_limit`` requests per second per client
address. A coroutine hook (not a middleware, not a guard) because it costs one call per
request and adds no ASGI layer: Litestar runs a plain-function guard in a worker thread and
copies the route handler for every guard call, which cost about a tenth of the accept path.

How the refusal reaches each API's own answers: the hook runs inside the matched route, and
Litestar handles an exception raised there with the handlers *resolved for that route*:
app-level handlers overridden by the router's and the controller's. So a façade that registers
router-level exception handlers (``Router(..., exception_handlers={RateLimited: ...})``)
answers a rate-limited request in its own terms (503 and its code table), and ``/v1`` answers
429 with ``Retry-After`` (``test_rate_limit_refusals_reach_router_level_handlers`` holds this).
A façade needs nothing else, as long as no router or controller sets a ``before_request`` of
its own (the closest layer's hook replaces the app's). Requests that match no route are
answered 404 without work.

Header limits and slow clients are handled before the application, by the server protocol
(``api/http_protocol.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request

from todoke.api.auth import scope_client_ip
from todoke.services.protection import Protection

BeforeRequest = Callable[[Request[Any, Any, Any]], Awaitable[None]]


def ip_rate_hook(protection: Protection) -> BeforeRequest:
    """The app-level ``before_request`` hook that applies ``protection``'s per-IP limit."""

    async def hook(request: Request[Any, Any, Any]) -> None:
        if protection.policy.ip_rate_limit > 0:
            protection.take_request(scope_client_ip(request.scope, protection))

    return hook


def security_headers(*, hsts: bool = False, csp: str | None = None) -> dict[str, str]:
    """Headers for HTML pages (the portal): no framing, no sniffing, no referrer leaks, a
    strict Content-Security-Policy; HSTS when the site is served over HTTPS only."""
    headers: dict[str, str] = {
        "Content-Security-Policy": csp
        or (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers
