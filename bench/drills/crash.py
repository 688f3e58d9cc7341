"""Drill 1: ``kill -9`` of every todoke process in the middle of a load, three times.

    python -m bench.drills.crash [--database-url postgresql://…] [--messages 20000]
                                 [--kills 3] [--workers N]

The carrier simulator runs as a process of its own (``todoke simulator``: the SMSC is another
machine and survives todoke's crashes). ``todoke serve`` (plus ``--workers`` ``todoke worker``
processes on PostgreSQL) takes a load of ``--messages`` messages from a client that retries
each with its Idempotency-Key. Each time another quarter of the messages is accepted, every
todoke process gets SIGKILL and is started again at once. Then the drill waits for every
message to reach a final status and checks:

* lost: messages answered 2xx that are not in the database (must be 0);
* every stored message has a final status, and each was accepted once (the retries with the
  same Idempotency-Key made no second message);
* the SMSC side: the simulator received every message; ``duplicates`` (the same destination
  and text received twice) are at most the in-flight window per crash (the connectors'
  windows, and the submissions answered but not yet recorded), and each is recorded as an
  attempt whose outcome is ``unknown``;
* time to recover: from each kill to the first 2xx answer of the restarted server.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from pathlib import Path

from bench.common import (
    fresh_sqlite_url,
    reset_postgres,
    route_to_simulator,
    simulator_stats,
    start_simulator,
    start_worker,
)
from bench.drills.common import (
    Client,
    Verdict,
    free_tcp_port,
    kill9,
    start_serve,
    statuses,
    stored_ids,
    unknown_attempts,
    wait_final,
    write_result,
)

WINDOW = 50  # per connector (the embedded simulator's connectors use the same)
IN_FLIGHT = 2_000  # the default dispatch_max_in_flight
LEASE_SECONDS = 5  # a killed process's claims come back after this
DELIVERED = "DELIVERED_TO_HANDSET"


class Processes:
    """Every todoke process of the drill: one ``serve``, ``workers`` ``worker``s."""

    def __init__(self, url: str, port: int, workers: int) -> None:
        self.url, self.port, self.workers = url, port, workers
        self.env = {"TODOKE_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS)}
        self.server = start_serve(url, port, **self.env)
        self.procs = [start_worker(url, **self.env) for _ in range(workers)]

    def kill_all_and_restart(self) -> None:
        kill9(self.server.proc, *self.procs)
        self.server.stop()  # closes its log; the process is gone already
        self.server = start_serve(self.url, self.port, **self.env)
        self.procs = [start_worker(self.url, **self.env) for _ in range(self.workers)]

    def stop(self) -> None:
        self.server.stop()
        for p in self.procs:
            p.terminate()
            p.wait(30)


async def _drive(
    processes: Processes, messages: int, kills: int, run_id: str
) -> tuple[Client, list[float]]:
    token = _banner_token(processes.server.output())
    client = Client(processes.server.base, token, run_id, destination="090{n4}9952")
    load = asyncio.create_task(client.run(messages, connections=32))
    recoveries: list[float] = []
    try:
        for k in range(1, kills + 1):
            threshold = messages * k // (kills + 1)
            while len(client.sent.accepted) < threshold and not load.done():
                await asyncio.sleep(0.02)
            before = len(client.sent.accepted)
            killed_at = time.monotonic()
            await asyncio.to_thread(processes.kill_all_and_restart)
            while len(client.sent.accepted) == before and not load.done():
                await asyncio.sleep(0.01)
            recoveries.append(time.monotonic() - killed_at)
        await load
        return client, recoveries
    finally:
        client.stop.set()
        await asyncio.gather(load, return_exceptions=True)


def _banner_token(output: str) -> str:
    import re

    match = re.search(r"token: ([A-Za-z0-9]{32})", output)
    if not match:
        raise RuntimeError(f"no demo token in the banner:\n{output}")
    return match.group(1)


def run(
    database_url: str | None, *, messages: int, kills: int, workers: int, timeout: float
) -> Verdict:
    url = database_url or fresh_sqlite_url()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    if url.startswith("postgres"):
        reset_postgres(url)
    sim, smpp_port = start_simulator()
    processes: Processes | None = None
    try:
        route_to_simulator(url, smpp_port, window=WINDOW)
        processes = Processes(url, free_tcp_port(), workers)
        client, recoveries = asyncio.run(_drive(processes, messages, kills, secrets.token_hex(4)))
        accepted = client.sent.accepted
        stored = stored_ids(url)
        final, waited = wait_final(url, len(stored), timeout)
        by_status = statuses(url)
        stats = simulator_stats(sim)
        unknown = unknown_attempts(url)
    finally:
        if processes is not None:
            processes.stop()
        sim.stop()
    lost = [n for n, mid in accepted.items() if mid not in stored]
    distinct = stats["distinct"]
    duplicates = stats["duplicates"]
    # The in-flight window of each process: the submissions in progress at once
    # (dispatch_max_in_flight); only those can have reached the SMSC unrecorded.
    bound = len(recoveries) * (1 + workers) * IN_FLIGHT
    ok = (
        not lost
        and len(accepted) == messages
        and len(stored) == messages
        and final == len(stored)
        and by_status.get(DELIVERED, 0) == len(stored)
        and distinct >= len(stored)
        and duplicates <= bound
        and duplicates <= unknown
    )
    return Verdict(
        drill=f"crash drill ({backend}, {kills} x kill -9 of {1 + workers} process(es))",
        accepted=len(accepted),
        delivered=by_status.get(DELIVERED, 0),
        lost=len(lost),
        duplicates=duplicates,
        recover_s=max(recoveries, default=0.0),
        ok=ok,
        notes={
            "stored": len(stored),
            "final": final,
            "smsc_distinct": distinct,
            "duplicate_bound": bound,
            "unknown_attempts": unknown,
            "recoveries_s": [round(r, 1) for r in recoveries],
            "final_after_s": round(waited, 1),
            "client_retries": client.sent.errors + sum(client.sent.refused.values()),
            "statuses": by_status,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: 1 on PostgreSQL")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--result-file", type=Path, default=None)
    args = parser.parse_args()
    url = args.database_url
    workers = args.workers
    if workers is None:
        workers = 1 if (url or "").startswith("postgres") else 0
    verdict = run(
        url, messages=args.messages, kills=args.kills, workers=workers, timeout=args.timeout
    )
    write_result(verdict, args.result_file)
    raise SystemExit(0 if verdict.ok else 1)


if __name__ == "__main__":
    main()
