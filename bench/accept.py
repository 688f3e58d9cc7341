"""Accept benchmark: single and batch POSTs over real HTTP, with the bare-ASGI reference.

    python -m bench.accept [--database-url postgresql://…] [--runs 3] [--duration 8]

Prints one table; every figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.common import (
    fresh_sqlite_url,
    load,
    machine,
    median_of,
    reset_postgres,
    start_reference,
    start_todoke,
)

# A destination per request ({n4}: the request counter's last four digits), so that the
# flooding filter (20 messages per number and hour) lets every message through to the queue.
SINGLE = json.dumps({"to": "090-{n4}-5678", "text": "認証コードは {n} です"}, ensure_ascii=False)
BATCH_SIZE = 500
BATCH = json.dumps(
    {
        "messages": [
            {"to": f"090-{{n4}}-{i:04d}", "text": f"お知らせ {{n}}-{i}"} for i in range(BATCH_SIZE)
        ]
    },
    ensure_ascii=False,
)


def measure(database_url: str | None, runs: int, duration: float) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    ref = start_reference()
    try:
        r = [
            load(ref.base + "/v1/messages", "x", SINGLE, connections=64, duration=duration)
            for _ in range(runs)
        ]
        ref_rps = median_of(r, "rps")
        rows.append(("reference: bare ASGI POST → 202 (no storage)", f"{ref_rps:,.0f} req/s"))
    finally:
        ref.stop()

    url = database_url or fresh_sqlite_url()
    if url.startswith("postgres"):
        reset_postgres(url)
    # The accept path alone: with dispatch on, the same process would also be sending every
    # accepted message to the simulator (that is bench/e2e.py's figure).
    server, token = start_todoke(url, TODOKE_DISPATCH_ENABLED="false")
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    try:
        endpoint = server.base + "/v1/messages"
        single: list[dict[str, Any]] = [
            load(endpoint, token, SINGLE, connections=64, duration=duration) for _ in range(runs)
        ]
        rps = median_of(single, "rps")
        rows.append(
            (
                f"single accept, durable ({backend}), 64 connections",
                f"{rps:,.0f} msg/s; p50 {median_of(single, 'p50_ms'):.1f} ms, "
                f"p99 {median_of(single, 'p99_ms'):.1f} ms; {rps / ref_rps:.0%} of reference",
            )
        )
        paced = [
            load(endpoint, token, SINGLE, connections=128, duration=duration, rate=1000)
            for _ in range(runs)
        ]
        rows.append(
            (
                f"single accept at 1,000/s offered ({backend})",
                f"p50 {median_of(paced, 'p50_ms'):.1f} ms, p99 {median_of(paced, 'p99_ms'):.1f} ms",
            )
        )
        batch = [
            load(endpoint + "/batch", token, BATCH, connections=4, duration=duration)
            for _ in range(runs)
        ]
        rows.append(
            (
                f"batch accept ({BATCH_SIZE}/request, {backend})",
                f"{median_of(batch, 'rps') * BATCH_SIZE:,.0f} msg/s; "
                f"p50 {median_of(batch, 'p50_ms'):.0f} ms per request",
            )
        )
        rows.append((f"server RSS after the runs ({backend})", f"{server.rss_mb():.0f} MB"))
        bad = [r["statuses"] for r in single + paced + batch if r["ok"] != r["requests"]]
        if bad:
            rows.append(("non-2xx answers", json.dumps(bad)))
    finally:
        server.stop()
    return rows


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}\nmachine: {machine()}\n")
    print("| benchmark | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    print_table("accept", measure(args.database_url, args.runs, args.duration))


if __name__ == "__main__":
    main()
