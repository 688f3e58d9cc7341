"""The reference: a bare ASGI app that reads the same POST and answers 202 without storing it.

Served by the same server (uvicorn + httptools + uvloop) as todoke, so the benchmark table can
show todoke's accept as a fraction of what Python HTTP does on the machine.
"""

from __future__ import annotations

from typing import Any

_BODY = b'{"id":"ref","status":"accepted"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
