"""Drill 2: the SMSC disconnects, then restarts, under load.

    python -m bench.drills.smsc [--database-url postgresql://…] [--messages 20000]
                                [--down 5] [--rate 400]

``todoke serve`` sends to the carrier simulator running as its own process. While a client
posts ``--messages`` messages at ``--rate`` per second, the simulator first drops every
connection without unbind (``POST /disconnect``, at a fifth of the load), and later (at a
third) stops listening for ``--down`` seconds and comes back (``POST /restart``). Nothing is
done on todoke's side. The drill checks that every accepted message ends DELIVERED, none lost,
and that sending resumes by itself: time to recover is from the SMSC listening again to the
first submit_sm it receives, and the submit rate in the three seconds after is compared with
the three seconds before the restart.
Duplicates (the same message received twice: a submit_sm whose answer was lost with the
connection and resent) are counted by the simulator.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time

import httpx

from bench.common import (
    Server,
    fresh_sqlite_url,
    reset_postgres,
    route_to_simulator,
    simulator_stats,
    start_simulator,
)
from bench.drills.common import (
    Client,
    Verdict,
    free_tcp_port,
    outage_drill_main,
    start_serve,
    statuses,
    stored_ids,
    unknown_attempts,
    wait_final,
)

DELIVERED = "DELIVERED_TO_HANDSET"
RATE_WINDOW = 3.0  # seconds over which the submit rate is measured, before and after


async def _submits(sim: Server) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        stats = (await http.get(sim.base + "/stats")).json()
    return int(stats["submits"])


async def _rate(sim: Server, seconds: float) -> float:
    before = await _submits(sim)
    await asyncio.sleep(seconds)
    return (await _submits(sim) - before) / seconds


async def _drive(
    server: Server, sim: Server, messages: int, rate: float, down: float
) -> tuple[Client, float, float, float]:
    token = re.search(r"token: ([A-Za-z0-9]{32})", server.output())
    if token is None:
        raise RuntimeError(f"no demo token in the banner:\n{server.output()}")
    client = Client(server.base, token.group(1), secrets.token_hex(4), destination="090{n4}9953")
    load = asyncio.create_task(client.run(messages, connections=32, rate=rate))
    async with httpx.AsyncClient(timeout=10) as http:
        while len(client.sent.accepted) < messages // 5:
            await asyncio.sleep(0.05)
        await http.post(sim.base + "/disconnect")
        while len(client.sent.accepted) < messages // 3:
            await asyncio.sleep(0.05)
        # Short windows, so that the restart comes while the client still sends: the messages
        # accepted while the SMSC is down are what must flow when it is back.
        rate_before = await _rate(sim, RATE_WINDOW)
        await http.post(sim.base + "/restart", params={"down": down})
        await asyncio.sleep(down)
        # The simulator listens again about now: wait for its first submit_sm.
        up = time.monotonic()
        start = await _submits(sim)
        while await _submits(sim) == start and time.monotonic() - up < 120:
            await asyncio.sleep(0.05)
        recover = time.monotonic() - up
        rate_after = await _rate(sim, RATE_WINDOW)
    await load
    return client, recover, rate_before, rate_after


def run(
    database_url: str | None, *, messages: int, rate: float, down: float, timeout: float
) -> Verdict:
    url = database_url or fresh_sqlite_url()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    if url.startswith("postgres"):
        reset_postgres(url)
    sim, smpp_port = start_simulator()
    server: Server | None = None
    try:
        route_to_simulator(url, smpp_port)
        server = start_serve(url, free_tcp_port())
        client, recover, before, after = asyncio.run(_drive(server, sim, messages, rate, down))
        stored = stored_ids(url)
        final, waited = wait_final(url, len(stored), timeout)
        by_status = statuses(url)
        stats = simulator_stats(sim)
        unknown = unknown_attempts(url)
    finally:
        if server is not None:
            server.stop()
        sim.stop()
    accepted = client.sent.accepted
    lost = [n for n, mid in accepted.items() if mid not in stored]
    delivered = by_status.get(DELIVERED, 0)
    ok = (
        not lost
        and len(accepted) == messages
        and final == len(stored) == messages
        and delivered == messages
        and stats["distinct"] >= messages
        and stats["duplicates"] <= unknown
        and after >= 0.5 * before
    )
    return Verdict(
        drill=f"SMSC drill ({backend}, disconnect then {down:g} s restart)",
        accepted=len(accepted),
        delivered=delivered,
        lost=len(lost),
        duplicates=stats["duplicates"],
        recover_s=recover,
        ok=ok,
        notes={
            "submits_per_s_before": round(before),
            "submits_per_s_after": round(after),
            "smsc_distinct": stats["distinct"],
            "binds": stats["binds"],
            "unknown_attempts": unknown,
            "final_after_s": round(waited, 1),
        },
    )


def main() -> None:
    outage_drill_main(run, messages=20_000, rate=300.0, down=5.0, what="the SMSC")


if __name__ == "__main__":
    main()
