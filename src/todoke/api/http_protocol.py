"""The HTTP/1.1 server protocol of ``todoke serve``: uvicorn's httptools protocol with the
limits it lacks, enforced before anything reaches the application.

* **Slow headers** (slowloris): a connection must deliver a request's complete header block
  within ``header_timeout`` seconds of opening (or of the request's first byte on a kept-alive
  connection); otherwise it is answered 408 and closed. uvicorn itself only times out idle
  kept-alive connections.
* **Slow bodies**: after the headers, each chunk of the body must come within
  ``header_timeout`` seconds of the previous one; otherwise 408 and close.
* **Header size and count**: a request line and headers larger than ``max_header_bytes``, or
  more than ``max_headers`` headers, are answered 431 and the connection is closed.

The deadline is a number on the connection, moved on at each stage of a request; one timer
per connection fires at the deadline it last saw and, if the deadline has moved on since,
sleeps again until the new one. A kept-alive connection that answers a request every few
milliseconds thus costs no timer operations at all, where a timer per stage (three per
request) was a few per cent of the accept path, and far less than a timeout around every
``receive`` of the application.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol with a header deadline and a header size limit (class attributes;
    :func:`guarded_protocol` makes a configured subclass)."""

    header_timeout: float = 30.0
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None  # loop time by which the next stage must arrive
        self._header_bytes = 0
        self._header_count = 0
        self._in_body = False
        self._refusal: tuple[int, str] | None = None

    # --- connection and parser callbacks -----------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:  # already answered; the connection is closing
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        self._in_body = False
        if self._deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_count += 1
        self._count(len(name) + len(value) + 4)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._in_body = True
        self._arm()  # the body's first chunk (disarmed at once when the request is complete)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_body = False
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self._answer(*self._refusal)

    # --- the limits ----------------------------------------------------------------------

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes or self._header_count > self.max_headers:
            self._refusal = (431, "request headers too large")
            # Stops the parser; uvicorn answers through send_400_response, which sends 431.
            raise httptools.HttpParserCallbackError("headers too large")

    def _arm(self) -> None:
        self._deadline = self.loop.time() + self.header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._deadline, self._check)

    def _disarm(self) -> None:
        self._deadline = None

    def _check(self) -> None:
        self._header_timer = None
        deadline = self._deadline
        if deadline is None:
            return  # between requests: the next one arms it again
        if deadline > self.loop.time():  # moved on since: sleep until the new deadline
            self._header_timer = self.loop.call_at(deadline, self._check)
            return
        self._deadline = None
        self._too_slow()

    def _too_slow(self) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and (
            cycle.response_started if self._in_body else not cycle.response_complete
        ):
            self.transport.close()  # a response is under way: no answer of ours fits in
            return
        what = "request body" if self._in_body else "request headers"
        self._refusal = (408, f"{what} not received in time")
        self._answer(*self._refusal)

    def _answer(self, status: int, message: str) -> None:
        body = json.dumps({"error": {"code": _code(status), "message": message}}).encode()
        head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Error"))
        self.transport.write(
            head
            + b"content-type: application/json\r\n"
            + b"content-length: %d\r\n" % len(body)
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()


def _code(status: int) -> str:
    return {408: "request_timeout", 431: "headers_too_large"}.get(status, "error")


def guarded_protocol(
    *, header_timeout: float, max_header_bytes: int, max_headers: int = 100
) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "TodokeHttpProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout": header_timeout,
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
        },
    )
