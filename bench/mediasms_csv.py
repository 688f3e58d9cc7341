"""MediaSMS CSV send of a large file: time and the server's memory.

``python -m bench.mediasms_csv [--rows 100000] [--url] [--postgres URL]`` starts ``todoke
serve`` (dispatch off, so only the upload is measured) on a fresh database, uploads a
Shift_JIS file with dynamic tags to ``/api3/`` and prints the time to the answer, rows/s, and
the server's resident memory before the upload and at its peak (VmHWM). With ``--url`` the
text also has ``{URL}`` with ``originalurl`` and ``originalurlcode``: every row gets its own
tracked short link (one more row written per message).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import ROOT, Server, fresh_sqlite_url, machine, reset_postgres


def make_file(rows: int) -> bytes:
    lines = ["携帯番号,info1,info2"]
    lines += [f"090-{i // 10000 % 10000:04d}-{i % 10000:04d},山田{i},{i:06d}" for i in range(rows)]
    return "\r\n".join(lines).encode("cp932")


def peak_mb(server: Server) -> float:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


TEXT = "{info1}様 ご予約番号は{info2}です"


def measure(database_url: str, rows: int, *, url: bool = False) -> dict[str, float | int | str]:
    server = Server(
        [sys.executable, "-m", "todoke", "serve"],
        {
            "TODOKE_DATABASE_URL": database_url,
            "TODOKE_LOG_LEVEL": "warning",
            "TODOKE_DISPATCH_ENABLED": "false",
            "TODOKE_MAX_BODY_BYTES": str(64 * 1024 * 1024),
        },
        "/readyz",
    )
    try:
        client_id = re.search(r"clientId (\d+)", server.output())
        if client_id is None:
            raise RuntimeError("no demo account in the banner")
        out = subprocess.run(
                [sys.executable, "-m", "todoke", "mediasms", "login",
                 "--client-id", client_id.group(1), "--database-url", database_url],
                check=True, capture_output=True, cwd=ROOT, text=True,
        ).stdout  # fmt: skip
        login = json.loads(out[out.index("{\n") :])  # after the start-up log lines
        content = make_file(rows)
        params = {"smstext": TEXT}
        if url:
            params = {
                "smstext": TEXT + " {URL}",
                "originalurl": "https://shop.example.jp/reserve?from=sms",
                "originalurlcode": "1234",
            }
        before = server.rss_mb()
        started = time.perf_counter()
        r = httpx.post(
            f"{server.base}/api3/",
            params=params,
            files={"file": ("list.csv", content, "text/csv")},
            auth=(login["username"], login["password"]),
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        lines = r.text.split("\n")
        return {
            "answer": lines[0],
            "counts": lines[2] if len(lines) > 2 else "",
            "rows": rows,
            "links": "one per row" if url else "none",
            "file_mb": round(len(content) / 1024 / 1024, 1),
            "seconds": round(elapsed, 1),
            "rows_per_s": round(rows / elapsed),
            "rss_before_mb": round(before),
            "rss_peak_mb": round(peak_mb(server)),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--url", action="store_true", help="a tracked {URL} in every row")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    if args.postgres:
        reset_postgres(args.postgres)
    url = args.postgres or fresh_sqlite_url()
    print(f"# MediaSMS CSV send, {args.rows} rows ({machine()})")
    result = measure(url, args.rows, url=args.url)
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    for key, value in result.items():
        print(f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
