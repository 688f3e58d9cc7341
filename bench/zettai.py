"""絶対リーチ! façade benchmark: mt.json next to /v1 on the same server, and short-link clicks.

    python -m bench.zettai [--database-url postgresql://…] [--runs 3] [--duration 8]

Prints one table; every figure is the median of ``--runs`` runs. mt.json is the same durable
accept as /v1 behind a form-encoded façade; a click is a redirect plus a durable click row.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import httpx

from bench.accept import SINGLE, print_table
from bench.common import fresh_sqlite_url, load, median_of, reset_postgres, start_todoke


def measure(database_url: str | None, runs: int, duration: float) -> list[tuple[str, str]]:
    url = database_url or fresh_sqlite_url()
    if url.startswith("postgres"):
        reset_postgres(url)
    # The accept path alone: with dispatch on, the same process would also be sending every
    # accepted message to the simulator (that is bench/e2e.py's figure).
    server, token = start_todoke(url, TODOKE_DISPATCH_ENABLED="false")
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    rows: list[tuple[str, str]] = []
    try:
        found = re.search(r"clientId (\d+), smsCode (\w+)", server.output())
        assert found, "no demo account in the banner"
        client_id, sms_code = found.groups()
        form = (
            f"token={token}&clientId={client_id}&smsCode={sms_code}"
            "&message=%E8%AA%8D%E8%A8%BC%E3%82%B3%E3%83%BC%E3%83%89%20{n}&phoneNumber=090{n4}5678"
        )
        native = [
            load(server.base + "/v1/messages", token, SINGLE, connections=64, duration=duration)
            for _ in range(runs)
        ]
        facade = [
            load(server.base + "/p5/api/mt.json", token, form, connections=64, duration=duration)
            for _ in range(runs)
        ]
        v1, mt = median_of(native, "rps"), median_of(facade, "rps")
        rows.append((f"/v1/messages single accept ({backend})", f"{v1:,.0f} msg/s"))
        rows.append(
            (
                f"mt.json single accept ({backend})",
                f"{mt:,.0f} msg/s; p99 {median_of(facade, 'p99_ms'):.1f} ms; {mt / v1:.0%} of /v1",
            )
        )
        created = httpx.post(
            server.base + "/v1/links",
            json={"longUrl": "https://example.com/"},
            headers={"Authorization": f"Bearer {token}"},
        )
        code = created.json()["code"]
        clicks = [
            load(server.base + f"/s/{code}", token, "", connections=64, duration=duration)
            for _ in range(runs)
        ]
        for r in clicks:  # a click answers 302, which the load generator does not count as ok
            r["clicks_per_s"] = r["statuses"].get("302", 0) / r["seconds"]
        rows.append(
            (
                f"short-link clicks, counted durably ({backend})",
                f"{median_of(clicks, 'clicks_per_s'):,.0f} clicks/s; "
                f"p99 {median_of(clicks, 'p99_ms'):.1f} ms",
            )
        )
        results: list[dict[str, Any]] = native + facade
        bad = [r["statuses"] for r in results if r["ok"] != r["requests"]]
        bad += [r["statuses"] for r in clicks if r["statuses"].get("302", 0) != r["requests"]]
        if bad:
            rows.append(("unexpected answers", json.dumps(bad)))
    finally:
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    print_table("絶対リーチ! façade", measure(args.database_url, args.runs, args.duration))


if __name__ == "__main__":
    main()
