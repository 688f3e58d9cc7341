"""Request hygiene of the real HTTP server (uvicorn with todoke's protocol) over loopback
sockets: slow headers and bodies are cut with 408, oversized or too many headers get 431, and
normal requests (with bodies, kept alive) work.
Also the security headers helper for HTML pages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from todoke.api.http_protocol import guarded_protocol
from todoke.api.protection import security_headers


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while True:  # read the whole body first, like the API does
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            break
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.asynccontextmanager
async def serving(
    header_timeout: float, max_header_bytes: int, max_headers: int = 100
) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app,
        http=guarded_protocol(
            header_timeout=header_timeout,
            max_header_bytes=max_header_bytes,
            max_headers=max_headers,
        ),
        lifespan="off",
        log_level="critical",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()


async def test_slow_headers_get_408_and_the_connection_closes() -> None:
    async with serving(header_timeout=0.3, max_header_bytes=8192) as port:
        # The request starts but its header block never ends (slowloris).
        answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert json.loads(body)["error"]["code"] == "request_timeout"
        # A connection that sends nothing at all is closed the same way.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.read(), timeout=30)).startswith(b"HTTP/1.1 408")
        writer.close()


async def test_oversized_headers_get_431() -> None:
    async with serving(header_timeout=30, max_header_bytes=4096) as port:
        big = b"X-Big: " + b"a" * 8000 + b"\r\n"
        answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431")
        assert json.loads(body)["error"]["code"] == "headers_too_large"


async def test_too_many_headers_get_431() -> None:
    async with serving(header_timeout=30, max_header_bytes=8192, max_headers=20) as port:
        many = b"".join(b"X-H%d: 1\r\n" % i for i in range(30))
        answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431")


async def test_slow_body_gets_408() -> None:
    async with serving(header_timeout=0.3, max_header_bytes=8192) as port:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        answer = await _exchange(port, head + b'{"to": "0901')  # the rest never comes
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 408")
        assert "body" in json.loads(body)["error"]["message"]


async def test_normal_requests_and_keep_alive_work() -> None:
    async with serving(header_timeout=0.5, max_header_bytes=8192) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in (  # two requests on one connection, one with a body
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
            ):
                writer.write(request)
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
                assert head.startswith(b"HTTP/1.1 200")
                assert await asyncio.wait_for(reader.readexactly(2), timeout=30) == b"ok"
        finally:
            writer.close()


def test_security_headers_for_pages() -> None:
    headers = security_headers()
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers
    assert "max-age" in security_headers(hsts=True)["Strict-Transport-Security"]
