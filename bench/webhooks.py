"""Webhook delivery benchmark: events/s delivered to a loopback receiver in another process.

    python -m bench.webhooks [--database-url postgresql://…] [--events 20000] [--chain 4]

The outbox is filled first (``--events`` events, in chains of ``--chain`` like the status
events of a message), then the webhook worker of one process delivers them, signed
(Standard Webhooks), to a receiver that verifies each signature in its own process. Prints the
delivery rate from the first to the last 2xx, and the rate while the receiver is down for a
while and comes back (every event still arrives).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import sqlalchemy as sa

from bench.common import ROOT, free_port, fresh_sqlite_url, machine, reset_postgres

_RECEIVER = """
import asyncio, sys
from todoke.webhook_receiver import WebhookReceiver
async def main():
    r = WebhookReceiver(secret=sys.argv[2], port=int(sys.argv[1]))
    await r.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _start_receiver(port: int, secret: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER, str(port), secret],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "ready"
    return proc


async def _run(database_url: str, events: int, chain: int, outage: float) -> dict[str, Any]:
    from todoke.app import Runtime
    from todoke.config import Settings
    from todoke.logging import configure
    from todoke.outcomes import WebhookEngine
    from todoke.services.messages import now_ms
    from todoke.services.webhook_types import NewEvent
    from todoke.store.tables import webhook_deliveries

    configure("warning", "console")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        demo_account=False,
        webhooks_allow_private=True,
        webhooks_retry_base_seconds=0.5,
        webhooks_retry_max_seconds=2.0,
    )
    rt = Runtime(settings)
    await rt.start()
    port = free_port()
    issued = await rt.services.accounts.create("bench", sms_code="77700")
    assert rt.services.webhooks is not None
    ep = await rt.services.webhooks.create(issued.account.id, f"http://127.0.0.1:{port}/hook")
    receiver = _start_receiver(port, ep.secret)

    async def fill(n: int) -> None:
        at = now_ms()
        batch = [
            NewEvent(
                account_id=issued.account.id,
                type="link.clicked",
                data={"n": i, "url": "https://example.com/campaign"},
                at=at,
                chain=f"c{i // chain}",
            )
            for i in range(n)
        ]
        for i in range(0, n, 2000):
            await rt.outcomes.webhooks.store.emit(batch[i : i + 2000])

    async def delivered() -> int:
        async with rt.db.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(webhook_deliveries)
                        .where(webhook_deliveries.c.state == "delivered")
                    )
                ).scalar()
                or 0
            )

    results: dict[str, Any] = {}
    engine = WebhookEngine(settings, rt.outcomes)
    try:
        await fill(events)
        started = time.monotonic()
        engine.start()
        while await delivered() < events:
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - started
        results["steady"] = events / elapsed
        # The receiver goes down while events keep coming, then comes back.
        receiver.terminate()
        receiver.wait()
        started = time.monotonic()
        await fill(events // 4)
        await asyncio.sleep(outage)
        receiver = _start_receiver(port, ep.secret)
        while await delivered() < events + events // 4:
            await asyncio.sleep(0.2)
        results["after_outage_s"] = time.monotonic() - started - outage
        results["rss_mb"] = _rss_mb()
    finally:
        await engine.stop()
        receiver.terminate()
        receiver.wait()
        await rt.stop()
    return results


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(database_url: str | None, events: int, chain: int, outage: float) -> dict[str, Any]:
    if database_url:
        reset_postgres(database_url)
    return asyncio.run(_run(database_url or fresh_sqlite_url(), events, chain, outage))


def table_rows(database_url: str | None, runs: int, quick: bool) -> list[tuple[str, str]]:
    """``make bench``'s rows: medians of ``runs`` runs (10,000 events; 2,000 with ``quick``)."""
    events = 2_000 if quick else 10_000
    results = [measure(database_url, events, 4, 5.0) for _ in range(runs)]
    backend = "PostgreSQL" if (database_url or "").startswith("postgres") else "SQLite"
    steady = statistics.median(r["steady"] for r in results)
    after = statistics.median(r["after_outage_s"] for r in results)
    return [
        (
            f"webhook delivery ({backend}, signed, chains of 4, {events:,} events)",
            f"{steady:,.0f} events/s; receiver down 5 s with {events // 4:,} events: "
            f"all delivered {after:.1f} s after it came back",
        )
    ]


def print_table(title: str, r: dict[str, Any], events: int, outage: float) -> None:
    print(f"\n{title}\nmachine: {machine()}\n")
    print("| benchmark | figure |\n|---|---|")
    rate = f"{r['steady']:,.0f} events/s"
    print(f"| delivered to a loopback receiver, signed, {events} events | {rate} |")
    print(
        f"| receiver down {outage:g} s, {events // 4} events meanwhile: all delivered "
        f"after it came back | in {r['after_outage_s']:.1f} s |"
    )
    print(f"| process RSS after | {r['rss_mb']:.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--chain", type=int, default=4)
    parser.add_argument("--outage", type=float, default=5.0)
    args = parser.parse_args()
    result = measure(args.database_url, args.events, args.chain, args.outage)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print_table(f"webhooks ({backend})", result, args.events, args.outage)


if __name__ == "__main__":
    main()
