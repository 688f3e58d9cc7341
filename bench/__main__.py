"""``make bench``: every benchmark, one table each (SQLite; PostgreSQL too when
``TODOKE_BENCH_POSTGRES_URL`` is set)."""

from __future__ import annotations

import os

from bench import accept, webhooks, zettai


def main() -> None:
    accept.print_table("accept (SQLite)", accept.measure(None, runs=3, duration=8))
    accept.print_table("絶対リーチ! façade (SQLite)", zettai.measure(None, runs=3, duration=8))
    pg = os.environ.get("TODOKE_BENCH_POSTGRES_URL")
    if pg:
        accept.print_table("accept (PostgreSQL)", accept.measure(pg, runs=3, duration=8))
    webhooks.print_table("webhooks (SQLite)", webhooks.measure(None, 10_000, 4, 5.0), 10_000, 5.0)
    if pg:
        result = webhooks.measure(pg, 10_000, 4, 5.0)
        webhooks.print_table("webhooks (PostgreSQL)", result, 10_000, 5.0)


if __name__ == "__main__":
    main()
