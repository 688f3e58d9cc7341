"""The simulator's control endpoint: its counters and its drills over HTTP (a bare ASGI app).

``todoke simulator --control-port N`` serves it on loopback next to the SMSC, so that the
reliability drills and benchmarks, which run the simulator as a process of its own, can read
what the SMSC side received and make it misbehave::

    GET  /stats                          counters as JSON (see ``stats_json``)
    POST /disconnect                     drop every client connection (no unbind)
    POST /restart?down=SECONDS           stop listening, drop clients, listen again later
    POST /maintenance?carrier=au&on=1    start (on=1) or end (on=0) maintenance; no carrier: all

No framework: this package knows no HTTP framework, and four routes do not need one.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from todoke.domain.carrier import Carrier

if TYPE_CHECKING:
    from todoke.carriers.simulator.server import CarrierSimulator

_JSON = [(b"content-type", b"application/json")]


def stats_json(sim: CarrierSimulator) -> dict[str, Any]:
    """The simulator's counters as plain JSON values.

    ``messages`` counts complete messages received (resubmissions included) and
    ``duplicates`` those among them whose (destination, text) had been received before, so
    ``messages - duplicates`` is the number of distinct messages the SMSC got.
    """
    s = sim.stats
    return {
        "binds": s.binds,
        "submits": s.submits,
        "parts_accepted": s.parts_accepted,
        "messages": s.messages,
        "duplicates": s.duplicate_count,
        "distinct": s.messages - s.duplicate_count,
        "throttled": s.throttled,
        "maintenance_refusals": s.maintenance_refusals,
        "refused": {f"0x{k:02X}": v for k, v in sorted(s.refused.items())},
        "receipts_sent": s.receipts_sent,
        "receipts_resent": s.receipts_resent,
        "receipts_acked": s.receipts_acked,
        "receipts_abandoned": s.receipts_abandoned,
        "mo_sent": s.mo_sent,
        "mo_acked": s.mo_acked,
        "pending_deliveries": sim.pending_deliveries,
        "connections": sim.connection_count,
        "by_outcome": {c.value: n for c, n in sorted(s.by_outcome.items())},
        "by_carrier": {c.value: n for c, n in sorted(s.by_carrier.items())},
    }


class ControlApp:
    """ASGI application over one running :class:`CarrierSimulator`."""

    def __init__(self, sim: CarrierSimulator) -> None:
        self._sim = sim
        self._restarts: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        more = True
        while more:  # the body is not used: parameters are in the query string
            message = await receive()
            more = message.get("more_body", False)
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            status, body = self._route(scope["method"], scope["path"], query)
        except ValueError as exc:
            status, body = 400, {"error": str(exc)}
        payload = json.dumps(body).encode()
        headers = [*_JSON, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        sim = self._sim
        if method == "GET" and path == "/stats":
            return 200, stats_json(sim)
        if method != "POST":
            return (405 if path in _POSTS else 404), {"error": "not found"}
        if path == "/disconnect":
            dropped = sim.connection_count
            sim.disconnect_all()
            return 200, {"dropped": dropped}
        if path == "/restart":
            down = float(query.get("down", "2"))
            if not 0 <= down <= 3600:
                raise ValueError("down must be within 0..3600 seconds")
            task = asyncio.get_running_loop().create_task(sim.restart(down_for=down))
            self._restarts.add(task)
            task.add_done_callback(self._restarts.discard)
            return 202, {"down": down}
        if path == "/maintenance":
            name = query.get("carrier")
            carrier = Carrier(name) if name else None  # ValueError for an unknown name
            on = query.get("on", "1") not in ("0", "false", "off")
            sim.set_maintenance(carrier, on)
            return 200, {"carrier": name, "on": on}
        return 404, {"error": "not found"}


_POSTS = frozenset({"/disconnect", "/restart", "/maintenance"})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
