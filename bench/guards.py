"""Cost of the protections on the accept path, in process (no HTTP, no fsync):

    python -m bench.guards [--duration 5] [--concurrency 64]

Runs ``MessageService.send`` from many tasks against a SQLite file with ``synchronous=OFF``
(so the figure is CPU, not the disk), once without the protections and once with them
(account rate limit taken, blocklist lookup, flooding-filter history, quota counters), each
message to its own number. Prints messages/s and the process's CPU time per message (the
figure that holds on a shared machine, where wall-clock rates swing with the neighbours' load).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine
from todoke.app import Runtime
from todoke.config import Settings
from todoke.services.messages import SendRequest


async def _run(guards: bool, quota: bool, duration: float, concurrency: int) -> tuple[float, float]:
    """(messages/s, CPU microseconds per message of the whole process)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            sqlite_synchronous="OFF",
            demo_account=False,
            send_rate_limit=1_000_000,
            daily_quota=1_000_000_000 if quota else 0,
        )
        rt = Runtime(settings)
        await rt.start()
        try:
            account = (await rt.services.accounts.create("bench")).account
            messages = rt.services.messages
            if not guards:
                messages.protection = None
            counter = 0
            stop_at = time.perf_counter() + duration

            async def worker() -> int:
                nonlocal counter
                done = 0
                while time.perf_counter() < stop_at:
                    counter += 1
                    number = f"090{counter % 100_000_000:08d}"
                    await messages.send(account, [SendRequest(to=number, text=f"code {counter}")])
                    done += 1
                return done

            started, cpu = time.perf_counter(), time.process_time()
            totals: list[Any] = await asyncio.gather(*[worker() for _ in range(concurrency)])
            sent = sum(totals)
            rate = sent / (time.perf_counter() - started)
            return rate, (time.process_time() - cpu) / sent * 1e6
        finally:
            await rt.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    runs = {
        "without protections": (False, False),
        "with protections (defaults)": (True, False),
        "with protections and a daily quota": (True, True),
    }
    results = {
        name: asyncio.run(_run(g, q, args.duration, args.concurrency))
        for name, (g, q) in runs.items()
    }
    base_cpu = results["without protections"][1]
    print(f"\naccept path with and without the protections\nmachine: {machine()}\n")
    print("| accept path (in process, SQLite synchronous=OFF) | messages/s | CPU per message |")
    print("|---|---|---|")
    for name, (rate, cpu) in results.items():
        print(f"| {name} | {rate:,.0f} | {cpu:,.0f} µs ({cpu / base_cpu:.0%}) |")


if __name__ == "__main__":
    main()
