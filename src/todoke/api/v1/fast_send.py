"""``POST /v1/messages`` without the framework's request cycle: the accept hot path.

A durable single accept is todoke's hottest request, and Litestar's generic request cycle
(routing, the kwargs and signature models, dependency injection, the response object) cost
about a third of its CPU (docs/performance.md). :class:`FastSend` sits in front of the
Litestar application and answers that one request itself, with the same parts the Litestar
handler uses: the same body struct (``SendMessageIn``), the same authentication rules
(blocked address, bearer token, IP allowlist), the same per-IP limit, the same composer and
the same answers and error bodies.

It only answers what it can answer exactly as the framework would, and passes everything
else on *before anything has happened*: a body that does not decode strictly into
``SendMessageIn`` (Litestar converts leniently and words the validation error), a missing or
refused credential, a blocked or rate-limited address, an oversized body, a path or method
other than ``POST /v1/messages``. The request is then replayed to Litestar as it came (the
body already read is handed on), which answers it in full, counts the authentication failure,
and so on. Once the per-IP limit has admitted the request it is the fast path's to finish:
errors are answered through the same functions as the Litestar exception handlers.

The route stays declared in the Litestar application, so the OpenAPI document is unchanged.
``tests/integration/test_fast_send.py`` holds the two paths to the same answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from todoke.api.auth import scope_client_ip
from todoke.api.errors import encode_error, error_headers, unexpected_error
from todoke.api.v1.messages import draft_of, idempotency_of, render_single
from todoke.api.v1.schemas import SendMessageIn
from todoke.domain.message import Account
from todoke.errors import TodokeError
from todoke.services.container import Services
from todoke.services.ports import Replay

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # the Litestar application

PATH = "/v1/messages"
_DECODER = msgspec.json.Decoder(SendMessageIn)
_JSON = (b"content-type", b"application/json")
_REPLAYED = (b"idempotent-replayed", b"true")


class _PassOn(Exception):
    """The request is not the fast path's to answer: Litestar answers it."""


class FastSend:
    """ASGI application: ``POST /v1/messages`` answered directly, the rest by ``app``."""

    def __init__(self, app: ASGIApp, services: Services, max_body_bytes: int) -> None:
        self.app = app
        self.services = services
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        try:
            body = await self._read_body(receive, received)
            if body is None:  # the client went away before the body was complete
                return
            answer = await self._accept(scope, body)
        except _PassOn:
            await self.app(scope, _replay(received, receive), send)
            return
        status, headers, payload = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _read_body(self, receive: Receive, received: list[Message]) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _PassOn  # Litestar answers 413
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _accept(self, scope: Scope, body: bytes) -> tuple[int, list[Any], bytes]:
        try:
            item = _DECODER.decode(body)
        except Exception as exc:  # decode errors and the struct's own checks
            raise _PassOn from exc
        authorization = idempotency_key = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key" and idempotency_key is None:
                idempotency_key = value.decode("latin-1")
        services = self.services
        account, ip = await self._authenticate(scope, authorization)
        protection = services.protection
        if protection is not None and ip is not None:
            try:
                protection.take_request(ip)
            except TodokeError as exc:
                raise _PassOn from exc
            await protection.auth_succeeded(ip)
        # Admitted: from here on the request is answered here, whatever happens.
        try:
            idem = idempotency_of(
                idempotency_key, PATH, body, services.idempotency_ttl_ms, render_single
            )
            results = await services.composer.send(account, [draft_of(item)], idempotency=idem)
            if isinstance(results, Replay):
                return results.status_code, [_JSON, _length(results.body), _REPLAYED], results.body
            first = results[0]
            if isinstance(first, Exception):
                raise first
            status, payload = render_single(results)
            return status, [_JSON, _length(payload)], payload
        except TodokeError as exc:
            return _error(exc)
        except Exception as exc:
            answer = unexpected_error(PATH, exc)
            if isinstance(answer, TodokeError):
                return _error(answer)
            return 500, [_JSON, _length(answer)], answer

    async def _authenticate(
        self, scope: Scope, authorization: str | None
    ) -> tuple[Account, str | None]:
        """The account of the bearer token, checked as ``guarded_auth`` checks it but without
        its side effects: any refusal passes the request on, and Litestar refuses it in full
        (counting the failure against the address)."""
        if not authorization:
            raise _PassOn
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _PassOn
        protection = self.services.protection
        ip = None
        try:
            if protection is not None:
                ip = scope_client_ip(scope, protection)
                protection.check_blocked(ip)
            account = await self.services.accounts.authenticate(token)
            if protection is not None and ip is not None:
                await protection.check_allowlist(account, ip)
        except Exception as exc:
            raise _PassOn from exc
        return account, ip


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())


def _error(exc: TodokeError) -> tuple[int, list[Any], bytes]:
    status, payload = encode_error(exc)
    headers = [_JSON, _length(payload)]
    headers += [(k.lower().encode(), v.encode()) for k, v in error_headers(exc).items()]
    return status, headers, payload


def _replay(received: list[Message], receive: Receive) -> Receive:
    """``receive`` that first hands out what the fast path already read."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
