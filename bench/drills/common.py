"""What the drills share: a client that records every answer, process control, the verdict.

The client is the integrator the brief describes: it sends each message with an
``Idempotency-Key`` and retries it (same key) until it gets an answer it can act on, so a crash
or an outage never makes it lose or double a message on its side; every 2xx answer is recorded
with its message id, which the drill then looks for in the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import Server, free_port, query

FINAL_SQL = "SELECT count(*) FROM messages WHERE done_at IS NOT NULL"


@dataclass
class Sent:
    """What the client saw."""

    accepted: dict[int, str] = field(default_factory=dict)  # n -> message id (2xx)
    refused: Counter[int] = field(default_factory=Counter)  # status -> answers (not 2xx)
    errors: int = 0  # connection errors and timeouts (no answer)
    # (seconds since start, status, latency in seconds) of every non-2xx answer
    failures: list[tuple[float, int, float]] = field(default_factory=list)
    first_ok_after: dict[float, float] = field(default_factory=dict)


class Client:
    """Posts ``count`` messages over ``connections`` keep-alive connections, retrying each with
    its Idempotency-Key until it is accepted (or refused with a 4xx other than 429)."""

    def __init__(self, base: str, token: str, run_id: str, *, destination: str) -> None:
        self.base = base
        self.token = token
        self.run_id = run_id
        self.destination = destination  # with {n4}: the message number's last four digits
        self.sent = Sent()
        self.started = time.monotonic()
        self._next = 0
        self._count = 0
        self.stop = asyncio.Event()

    def text(self, n: int) -> str:
        return f"drill {self.run_id} #{n} 配信確認"

    async def run(self, count: int, connections: int = 32, rate: float = 0) -> Sent:
        self._count = count
        await asyncio.gather(*(self._worker(rate / connections) for _ in range(connections)))
        return self.sent

    async def _worker(self, rate: float) -> None:
        # Raw HTTP/1.1 keep-alive, like the load generator: a general-purpose client costs
        # more CPU per request than the server, on a machine the drill shares with it.
        interval = 1 / rate if rate else 0.0
        conn = _Connection(self.base, self.token)
        try:
            while not self.stop.is_set() and self._next < self._count:
                self._next += 1
                n = self._next
                began = time.monotonic()
                await self._send(conn, n)
                if interval:
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))
        finally:
            conn.close()

    async def _send(self, conn: _Connection, n: int) -> None:
        body = {"to": self.destination.replace("{n4}", f"{n % 10_000:04d}"), "text": self.text(n)}
        payload = json.dumps(body, ensure_ascii=False).encode()
        key = f"{self.run_id}-{n}"
        pause = 0.05
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                status, answer = await conn.post("/v1/messages", payload, key)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                conn.close()
                self.sent.errors += 1
                await asyncio.sleep(pause)
                pause = min(1.0, pause * 2)
                continue
            if 200 <= status < 300:
                self.sent.accepted[n] = json.loads(answer)["id"]
                return
            self.sent.refused[status] += 1
            self.sent.failures.append((t0 - self.started, status, time.monotonic() - t0))
            if status < 500 and status != 429:
                return  # refused for good: nothing to retry
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)


class _Connection:
    """One keep-alive HTTP/1.1 connection, opened again after a failure."""

    def __init__(self, base: str, token: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.token = token
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, key: str) -> tuple[int, bytes]:
        async with asyncio.timeout(10):
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            response = await reader.readuntil(b"\r\n\r\n")
            status = int(response[9:12])
            length = 0
            for line in response.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            return status, await reader.readexactly(length) if length else b""

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def start_serve(url: str, port: int, **env: str) -> Server:
    """``todoke serve`` on a fixed port (so that the client follows it across restarts)."""
    return Server(
        [sys.executable, "-m", "todoke", "serve"],
        {
            "TODOKE_DATABASE_URL": url,
            "TODOKE_LOG_LEVEL": "warning",
            # One client, one account: the per-IP (80/s) and per-account (600/s) rate limits
            # are policy, not capacity; with them a client retrying through an outage is
            # answered 429 instead of the 503 the drill looks for.
            "TODOKE_IP_RATE_LIMIT": "0",
            "TODOKE_SEND_RATE_LIMIT": "0",
            **env,
        },
        "/readyz",
        port=port,
    )


def kill9(*procs: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown hook runs, nothing is flushed."""
    for p in procs:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait(10)


def wait_final(url: str, expected: int, timeout: float) -> tuple[int, float]:
    """Wait until ``expected`` messages have a final status; (how many have, seconds waited)."""
    began = time.monotonic()
    done = 0
    while time.monotonic() - began < timeout:
        done = int(query(url, FINAL_SQL)[0][0])
        if done >= expected:
            break
        time.sleep(0.5)
    return done, time.monotonic() - began


def stored_ids(url: str) -> set[str]:
    return {r[0] for r in query(url, "SELECT id FROM messages")}


def statuses(url: str) -> dict[str, int]:
    return {
        str(k): int(v)
        for k, v in query(url, "SELECT status, count(*) FROM messages GROUP BY status")
    }


def unknown_attempts(url: str) -> int:
    """Attempts whose outcome is unknown (the sender died mid-submit): each is a recorded
    duplicate risk, resent by a later attempt."""
    return int(query(url, "SELECT count(*) FROM attempts WHERE state = 'unknown'")[0][0])


def free_tcp_port() -> int:
    return free_port()


@dataclass
class Verdict:
    """The one line a drill prints."""

    drill: str
    accepted: int
    delivered: int
    lost: int
    duplicates: int
    recover_s: float
    ok: bool
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = " ".join(f"{k}={_fmt(v)}" for k, v in self.notes.items())
        return (
            f"{self.drill}: {'PASS' if self.ok else 'FAIL'} accepted={self.accepted} "
            f"delivered={self.delivered} lost={self.lost} duplicates={self.duplicates} "
            f"recover={self.recover_s:.1f}s {extra}".rstrip()
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def write_result(verdict: Verdict, path: Path | None) -> None:
    print(verdict.line(), flush=True)
    if path is not None:
        with path.open("a", encoding="utf-8") as f:
            f.write(verdict.line() + "\n")


def outage_drill_main(
    run: Callable[..., Verdict], *, messages: int, rate: float, down: float, what: str
) -> None:
    """The command line of a drill that takes something down under load for ``--down`` s."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--messages", type=int, default=messages)
    parser.add_argument("--rate", type=float, default=rate, help="messages/s offered")
    parser.add_argument("--down", type=float, default=down, help=f"seconds {what} is down")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--result-file", type=Path, default=None)
    args = parser.parse_args()
    verdict = run(
        args.database_url,
        messages=args.messages,
        rate=args.rate,
        down=args.down,
        timeout=args.timeout,
    )
    write_result(verdict, args.result_file)
    raise SystemExit(0 if verdict.ok else 1)
