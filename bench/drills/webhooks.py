"""Drill 3: the customer's webhook receiver is down for two minutes under load.

    python -m bench.drills.webhooks [--database-url postgresql://…] [--messages 10000]
                                    [--rate 80] [--down 120]

``todoke serve`` (embedded simulator, default webhook settings but for allowing a loopback
URL) has one webhook endpoint for every event. A receiver in its own process verifies each
request's Standard Webhooks signature and appends its ``webhook-id`` to a file. While a client
posts ``--messages`` messages at ``--rate`` per second (each gets ``message.status`` and
``message.final`` events as it is submitted and delivered), the receiver is killed (SIGKILL:
connections reset, nothing answered) at a tenth of the load and started again on the same
port ``--down`` seconds later. Nothing is done on todoke's side.

The drill checks that every event written to the outbox reached the receiver with a valid
signature (lost = events the receiver never acknowledged; dead letters count as lost), and
reports the duplicates the receiver saw (a request whose answer was lost with the connection
and resent: at-least-once delivery) and the time to recover: from the receiver listening
again until the backlog is drained. With the default back-off (5 s doubling, at most an hour)
a chain that failed all through a two-minute outage waits up to its next retry, a few minutes.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.common import ROOT, Server, fresh_sqlite_url, query, reset_postgres
from bench.drills.common import (
    Client,
    Verdict,
    free_tcp_port,
    outage_drill_main,
    start_serve,
)

OPEN_SQL = "SELECT count(*) FROM webhook_deliveries WHERE state IN ('queued', 'pending')"
STATES_SQL = "SELECT state, count(*) FROM webhook_deliveries GROUP BY state"
EVENT_IDS_SQL = "SELECT DISTINCT event_id FROM webhook_deliveries"


def _receive(port: int, secret: str, out: Path) -> None:
    """The receiver process: verify, record the webhook-id, answer 204 (401 if forged)."""
    from todoke.webhook_receiver import Received, WebhookReceiver

    sink = out.open("a", encoding="ascii", buffering=1)

    def record(r: Received) -> None:
        if r.verified:
            sink.write(f"{r.webhook_id}\n")

    async def main() -> None:
        receiver = WebhookReceiver(secret=secret, port=port, on_request=record)
        await receiver.start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _start_receiver(port: int, secret: str, out: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.drills.webhooks", "--receiver", str(port), secret, str(out)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("the webhook receiver did not start")
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


async def _drive(
    server: Server, messages: int, rate: float, down: float, out: Path
) -> tuple[Client, float, subprocess.Popen[bytes]]:
    token = re.search(r"token: ([A-Za-z0-9]{32})", server.output())
    if token is None:
        raise RuntimeError(f"no demo token in the banner:\n{server.output()}")
    port = free_tcp_port()
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(
            server.base + "/v1/webhooks",
            json={"url": f"http://127.0.0.1:{port}/hook"},
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        created.raise_for_status()
    secret = created.json()["secret"]
    receiver = _start_receiver(port, secret, out)
    client = Client(server.base, token.group(1), secrets.token_hex(4), destination="090{n4}9950")
    load = asyncio.create_task(client.run(messages, connections=16, rate=rate))
    while len(client.sent.accepted) < messages // 10 and not load.done():
        await asyncio.sleep(0.05)
    _kill(receiver)
    await asyncio.sleep(down)
    receiver = _start_receiver(port, secret, out)
    up = time.monotonic()
    await load
    return client, up, receiver


def _drained(url: str, timeout: float) -> bool:
    """Wait until no webhook delivery is open (queued or pending) and no message unfinished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unfinished = query(url, "SELECT count(*) FROM messages WHERE done_at IS NULL")[0][0]
        if int(unfinished) == 0 and int(query(url, OPEN_SQL)[0][0]) == 0:
            return True
        time.sleep(0.5)
    return False


def run(
    database_url: str | None,
    *,
    messages: int = 10_000,
    rate: float = 80,
    down: float = 120,
    timeout: float = 900,
) -> Verdict:
    url = database_url or fresh_sqlite_url()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    if url.startswith("postgres"):
        reset_postgres(url)
    out = Path(tempfile.mkdtemp(prefix="todoke-drill-webhooks-")) / "received.txt"
    out.touch()
    server: Server | None = None
    receiver: subprocess.Popen[bytes] | None = None
    try:
        server = start_serve(
            url,
            free_tcp_port(),
            TODOKE_WEBHOOKS_ALLOW_PRIVATE="true",
            TODOKE_IP_RATE_LIMIT="0",
            TODOKE_SEND_RATE_LIMIT="0",
            TODOKE_FLOOD_MAX_MESSAGES="0",
            TODOKE_FLOOD_MAX_IDENTICAL="0",
        )
        client, up, receiver = asyncio.run(_drive(server, messages, rate, down, out))
        drained = _drained(url, timeout)
        recover = time.monotonic() - up
        states = {str(k): int(v) for k, v in query(url, STATES_SQL)}
        events = {str(r[0]) for r in query(url, EVENT_IDS_SQL)}
    finally:
        if receiver is not None:
            _kill(receiver)
        if server is not None:
            server.stop()
    seen = Counter(line for line in out.read_text("ascii").splitlines() if line)
    lost = len(events - set(seen))
    duplicates = sum(n - 1 for n in seen.values())
    accepted = len(client.sent.accepted)
    ok = drained and lost == 0 and accepted == messages and states.get("dead", 0) == 0
    return Verdict(
        drill=f"webhook drill ({backend}, receiver down {down:g} s)",
        accepted=accepted,
        delivered=len(events & set(seen)),
        lost=lost,
        duplicates=duplicates,
        recover_s=recover,
        ok=ok,
        notes={"events": len(events), "deliveries": states, "drained": drained},
    )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--receiver":
        _receive(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
        return
    outage_drill_main(run, messages=10_000, rate=80.0, down=120.0, what="the receiver")


if __name__ == "__main__":
    main()
