"""Request hygiene and the per-IP rate limit, applied to every route of every API.

:class:`ProtectionMiddleware` runs before any handler of any API (``/v1`` and the façades):

* header limits: more than ``max_headers`` headers or ``max_header_bytes`` of them: 431;
* the per-IP rate limit (``ip_rate_limit`` requests/s): :class:`~todoke.errors.RateLimited`;
* slow bodies: a client that takes more than ``slow_client_timeout`` seconds between two
  chunks of its body gets 408 (slow *headers* are cut by the server protocol,
  ``api/http_protocol.py``).

How the errors reach each API's own answers: Litestar runs app-level middleware inside the
matched route's stack and, once a route is matched, handles an exception raised anywhere in
that stack with the handlers *resolved for that route*: app-level handlers overridden by the
router's and the controller's. So a façade that registers router-level exception handlers
(``Router(..., exception_handlers={RateLimited: ...})``) answers a rate-limited request in its
own terms (503 and its code table), and ``/v1`` answers 429 with ``Retry-After``
(``tests/integration/test_protection_http.py`` holds this). A façade needs nothing else.
Requests that match no route never reach middleware; they are answered 404 without work.

:func:`security_headers` is the header set for HTML pages (the portal).
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from todoke.api.auth import scope_client_ip
from todoke.config import Settings
from todoke.services.protection import Protection


class ProtectionMiddleware:
    """ASGI middleware: header limits, the per-IP rate limit, slow-body timeouts."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        protection: Protection | None,
        max_headers: int = 100,
        max_header_bytes: int = 16 * 1024,
        body_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.protection = protection
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        headers = list(scope["headers"])
        if len(headers) > self.max_headers or (
            sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes
        ):
            raise HTTPException(status_code=431, detail="request headers too large")
        if self.protection is not None:
            self.protection.take_request(scope_client_ip(scope, self.protection))
        await self.app(scope, _timed(receive, self.body_timeout), send)


def _timed(receive: Receive, timeout: float) -> Receive:
    """``receive`` that refuses a body whose next chunk does not come within ``timeout``."""
    done = False

    async def receive_in_time() -> ReceiveMessage:
        nonlocal done
        if done:  # the body is complete: later calls wait for a disconnect, untimed
            return await receive()
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            raise HTTPException(
                status_code=408, detail=f"no request data for {timeout:g} seconds"
            ) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            done = True
        return message

    return receive_in_time


def protection_middleware(settings: Settings, protection: Protection | None) -> DefineMiddleware:
    """The middleware as ``create_app`` installs it, configured from the settings."""
    return DefineMiddleware(
        ProtectionMiddleware,
        protection=protection,
        max_headers=settings.max_headers,
        max_header_bytes=settings.max_header_bytes,
        body_timeout=settings.slow_client_timeout,
    )


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
