"""Memory benchmark: RSS of ``todoke serve`` with 1,000,000 stored and 100,000 queued messages.

    python -m bench.memory [--database-url postgresql://…] [--stored 1000000]
                           [--queued 100000] [--duration 60]

The database is seeded directly with bulk inserts (SQLite ``executemany`` in one transaction,
PostgreSQL ``COPY``): ``--stored`` messages in final states spread over 30 days, of which
``--queued`` are due now. Then ``todoke serve`` starts on it as it comes (its embedded carrier
simulator included) and its RSS is sampled every half second for ``--duration`` seconds while
it drains the queue and answers an accept load (8 connections, closed loop). The figure is
the peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench.common import (
    fresh_sqlite_url,
    load,
    machine,
    query,
    reset_postgres,
    start_serve,
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DAY_MS = 86_400_000
COLUMNS = (
    "id",
    "account_id",
    "sender_code",
    "to_number",
    "text",
    "encoding",
    "parts",
    "characters",
    "carrier",
    "carrier_explicit",
    "status",
    "status_group",
    "cause",
    "validity_until",
    "attempts",
    "delivered_parts",
    "billable_parts",
    "due_at",
    "created_at",
    "updated_at",
    "sent_at",
    "done_at",
)


def _id(ms: int, n: int) -> str:
    value = (ms & ((1 << 48) - 1)) << 80 | (n * 0x9E3779B97F4A7C15 & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def rows(account_id: int, stored: int, queued: int, now: int) -> Iterator[tuple[Any, ...]]:
    """``stored`` messages; the last ``queued`` of them accepted and due now."""
    start = now - 30 * DAY_MS
    step = max(1, (30 * DAY_MS - 60_000) // max(1, stored))
    for n in range(stored):
        created = start + n * step
        to = f"+8190{n % 10_000:04d}{9950 + n % 40:04d}"
        text = f"お知らせ {n}: ご予約の確認です。"
        if n >= stored - queued:
            yield (
                _id(created, n), account_id, None, to, text, "UCS2", 1, len(text), "docomo",
                False, "PENDING_ACCEPTED", 1, None, now + 2 * DAY_MS, 0, 0, 0, now, created,
                created, None, None,
            )  # fmt: skip
        else:
            yield (
                _id(created, n), account_id, None, to, text, "UCS2", 1, len(text), "docomo",
                False, "DELIVERED_TO_HANDSET", 3, "delivered", created + 2 * DAY_MS, 1, 1, 1,
                None, created, created + 5000, created + 1000, created + 5000,
            )  # fmt: skip


def seed(url: str, stored: int, queued: int) -> tuple[str, float]:
    """Migrate, create an account, bulk-insert the messages; (token, seconds taken)."""
    from todoke.app import Runtime
    from todoke.config import Settings

    async def account() -> tuple[int, str]:
        rt = Runtime(Settings(database_url=url, demo_account=False))
        await rt.start()
        try:
            issued = await rt.services.accounts.create("bench-memory")
            return issued.account.id, issued.token
        finally:
            await rt.stop()

    started = time.monotonic()
    account_id, token = asyncio.run(account())
    now = int(time.time() * 1000)
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split(":///", 1)[1])
        try:
            conn.execute("PRAGMA synchronous=OFF")
            sql = (
                f"INSERT INTO messages ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in COLUMNS)})"
            )
            with conn:
                conn.executemany(sql, rows(account_id, stored, queued, now))
        finally:
            conn.close()
    else:
        import asyncpg

        async def copy() -> None:
            conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
            try:
                await conn.copy_records_to_table(
                    "messages",
                    records=rows(account_id, stored, queued, now),
                    columns=list(COLUMNS),
                )
                await conn.execute("ANALYZE messages")
            finally:
                await conn.close()

        asyncio.run(copy())
    return token, time.monotonic() - started


def measure(
    database_url: str | None, *, stored: int, queued: int, duration: float
) -> list[tuple[str, str]]:
    url = database_url or fresh_sqlite_url()
    if url.startswith("postgres"):
        reset_postgres(url)
    token, seeded_in = seed(url, stored, queued)
    server = start_serve(url)
    samples: list[float] = []
    try:
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(server.rss_mb())
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        body = json.dumps({"to": "090{n4}9951", "text": "memory {n}"}, ensure_ascii=False)
        accepted = load(server.base + "/v1/messages", token, body, connections=8, duration=duration)
        stop.set()
        sampler.join()
        left = query(url, "SELECT count(*) FROM messages WHERE due_at IS NOT NULL")[0][0]
    finally:
        server.stop()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    drained = queued - left
    return [
        (
            f"memory: server RSS, {stored:,} stored and {queued:,} queued ({backend})",
            f"peak {max(samples):.0f} MB, at start {samples[0]:.0f} MB "
            f"(sampled for {duration:.0f} s while it sent {max(0, drained):,} queued messages "
            f"and accepted {accepted['rps']:,.0f}/s; seeded in {seeded_in:.0f} s)",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    rows_ = measure(
        args.database_url, stored=args.stored, queued=args.queued, duration=args.duration
    )
    print(f"\nmachine: {machine()}\n\n| benchmark | result |\n|---|---|")
    for name, value in rows_:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
