"""A small, fast HTTP/1.1 load generator (its own process, so the server is what is measured).

Usage (JSON result on stdout)::

    python -m bench.loadgen --url http://127.0.0.1:8080/v1/messages --token T \
        --body-file body.json --connections 64 --duration 10 [--rate 1000]

Closed loop (default): every connection sends its next request when the previous answer
arrives: this measures capacity. Open loop (``--rate``): requests are started on a fixed
schedule whatever the latency, so latency percentiles are not flattered by back-pressure
(coordinated omission). Each request body is the template with ``{n}`` replaced by a counter
(starting at ``--first``) and ``{n4}`` by the counter's last four digits (a destination
number per request: ``"090{n4}9950"``). ``--count`` stops after that many requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def _request(path: str, host: str, token: str, body: bytes, key: str | None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if key:
        lines.append(f"Idempotency-Key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0


async def run(args: argparse.Namespace) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    template = open(args.body_file, "rb").read().decode()  # noqa: ASYNC230, SIM115 - once, before the load
    stats = Stats()
    counter = args.first - 1
    last = counter + args.count if args.count else None
    deadline = time.perf_counter() + args.duration

    def exhausted() -> bool:
        return last is not None and counter >= last

    def next_request() -> bytes:
        nonlocal counter
        counter += 1
        body = (
            template.replace("{n4}", f"{counter % 10_000:04d}")
            .replace("{n}", str(counter))
            .encode()
        )
        return _request(url.path, f"{host}:{port}", args.token, body, None)

    async def connection(queue: asyncio.Queue[float] | None) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                if queue is not None:
                    scheduled = await queue.get()
                    if scheduled < 0:
                        return
                else:
                    if time.perf_counter() >= deadline or exhausted():
                        return
                    scheduled = time.perf_counter()
                writer.write(next_request())
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    stats.errors += 1
                    return
                stats.latencies.append(time.perf_counter() - scheduled)
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    if args.rate:
        queue: asyncio.Queue[float] = asyncio.Queue()
        tasks = [asyncio.create_task(connection(queue)) for _ in range(args.connections)]
        interval = 1.0 / args.rate
        n = 0
        while True:
            due = started + n * interval
            if due >= deadline:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(due)
            n += 1
        for _ in tasks:
            queue.put_nowait(-1.0)
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*[connection(None) for _ in range(args.connections)])
    elapsed = time.perf_counter() - started
    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

    ok = sum(v for k, v in stats.statuses.items() if 200 <= k < 300)
    return {
        "requests": len(lat),
        "ok": ok,
        "statuses": stats.statuses,
        "errors": stats.errors,
        "seconds": elapsed,
        "rps": ok / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="none")
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--count", type=int, default=0, help="stop after N requests (0: none)")
    parser.add_argument("--first", type=int, default=1, help="first value of {n}")
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
