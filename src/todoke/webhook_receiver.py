"""A webhook receiver on loopback: the fake at the network edge for tests, benchmarks and trials.

A small HTTP/1.1 server (asyncio + h11, keep-alive) that records every request, verifies
Standard Webhooks signatures with the reference ``standardwebhooks`` verifier when it knows the
secret, and answers with a configurable status (and delay). It can be stopped and started again
on the same port, like a customer's server that goes down for a while::

    receiver = WebhookReceiver(secret=endpoint.secret)
    url = await receiver.start()          # http://127.0.0.1:PORT/hook
    ...
    await receiver.stop(); await receiver.start()   # down, then back on the same port
    receiver.received                     # every request, in arrival order

``todoke webhooks listen`` runs one and prints what arrives.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

_MAX_BODY = 4 * 1024 * 1024


@dataclass(slots=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool | None = None  # None: no secret to check with
    payload: Any = None  # the parsed JSON body, when it is JSON
    answered: int = 0

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def basic_auth(self) -> tuple[str, str] | None:
        """The (user, password) of an ``Authorization: Basic`` header."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        decoded = base64.b64decode(value[6:]).decode("utf-8")
        user, _, password = decoded.partition(":")
        return user, password


@dataclass(slots=True)
class WebhookReceiver:
    """Records requests; answers ``status`` after ``delay`` seconds."""

    secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/hook"
    status: int = 204
    delay: float = 0.0
    on_request: Callable[[Received], None] | None = None
    received: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _conns: set[asyncio.Task[None]] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    async def start(self) -> str:
        """Listen (on the same port as before, after a ``stop``); returns the hook URL."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.url

    async def stop(self) -> None:
        """Stop listening and drop open connections (a server going down)."""
        if self._server is not None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until ``count`` requests were answered 2xx (or the timeout); return those."""
        deadline = time.monotonic() + timeout
        while True:
            ok = self.accepted()
            if len(ok) >= count or time.monotonic() >= deadline:
                return ok
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(0.01, deadline - time.monotonic()))

    def accepted(self) -> list[Received]:
        """Requests answered with a 2xx, in arrival order."""
        return [r for r in self.received if 200 <= r.answered < 300]

    # --- the HTTP side -------------------------------------------------------------------

    def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    return
                status = await self._handle(request, body)
                reason = b"OK" if status < 300 else b"ERROR"
                body_out = b"" if status in (204, 304) else b"ok"
                headers = [("content-length", str(len(body_out))), ("content-type", "text/plain")]
                if 300 <= status < 400:
                    headers.append(("location", "http://127.0.0.1:9/elsewhere"))
                writer.write(
                    conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
                )
                if body_out:
                    writer.write(conn.send(h11.Data(data=body_out)))
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(
        conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request: h11.Request | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and request is None:
                    return None, b""
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > _MAX_BODY:
                    raise h11.RemoteProtocolError("body too large")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return request, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    async def _handle(self, request: h11.Request, body: bytes) -> int:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        record = Received(
            method=request.method.decode("ascii"),
            path=request.target.decode("latin-1"),
            headers=headers,
            body=body,
            at=time.monotonic(),
        )
        if headers.get("content-type", "").startswith("application/json"):
            with contextlib.suppress(ValueError):
                record.payload = json.loads(body)
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                record.verified = True
            except WebhookVerificationError:
                record.verified = False
        if self.delay:
            await asyncio.sleep(self.delay)
        record.answered = self.status
        self.received.append(record)
        if self.on_request is not None:
            self.on_request(record)
        self._arrived.set()
        return self.status
