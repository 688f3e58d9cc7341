"""``make bench``: every benchmark in one table (each figure the median of several runs).

    python -m bench [--database-url postgresql://…] [--quick] [--runs N]

SQLite by default; PostgreSQL with ``--database-url`` or ``TODOKE_DATABASE_URL=postgresql://…``
(its database is emptied). About ten minutes by default; ``--quick`` takes one run of each,
shorter, with a tenth of the memory benchmark's rows (for a smoke test, not for the docs).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from bench import accept, e2e, memory, webhooks, zettai
from bench.common import machine

Row = tuple[str, str]

TARGETS = {
    "single accept at": "BRIEF: p99 < 20 ms",
    "single accept": "≥ 2,000 msg/s (BRIEF: ≥ 5,000)",
    "batch accept": "≥ 10,000 msg/s (BRIEF: ≥ 20,000)",
    "end to end": "≥ 500 msg/s (BRIEF: ≥ 2,000 with webhooks)",
    "webhook": "every event delivered",
    "memory": "< 300 MB",
}


def _target(name: str) -> str:
    return next((t for key, t in TARGETS.items() if name.startswith(key)), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    url = args.database_url
    env_url = os.environ.get("TODOKE_DATABASE_URL", "")
    if url is None and env_url.startswith("postgres"):
        url = env_url
    runs = args.runs or (1 if args.quick else 3)
    quick = args.quick
    started = time.monotonic()
    steps: list[Callable[[], list[Row]]] = [
        lambda: accept.measure(url, runs=runs, duration=3 if quick else 5),
        lambda: e2e.measure(url, runs=runs, messages=2_000 if quick else 5_000, connections=64)[0],
        # The same with delivery in a `todoke worker` process: accept and delivery on two cores.
        lambda: e2e.measure(
            url, runs=runs, messages=2_000 if quick else 5_000, connections=64, workers=1
        )[0],
        lambda: webhooks.table_rows(url, runs, quick),
        lambda: zettai.measure(url, runs=runs, duration=3 if quick else 5),
        lambda: memory.measure(
            url,
            stored=100_000 if quick else 1_000_000,
            queued=10_000 if quick else 100_000,
            duration=10 if quick else 30,
        ),
    ]
    rows: list[Row] = []
    for step in steps:
        got = step()
        for name, value in got:  # as they come, so a failing step leaves the others' figures
            print(f"| {name} | {value} |", flush=True)
        rows.extend(got)
    backend = "PostgreSQL" if (url or "").startswith("postgres") else "SQLite"
    print(f"\ntodoke benchmarks ({backend}); machine: {machine()}")
    print(f"command: python -m bench{' --quick' if quick else ''} (runs: {runs}, median of runs;")
    print(f"took {time.monotonic() - started:.0f} s)\n")
    print("| benchmark | result | target |\n|---|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} | {_target(name)} |")


if __name__ == "__main__":
    main()
