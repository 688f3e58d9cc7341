"""Drill 4: PostgreSQL restarted under load, todoke left running.

    python -m bench.drills.postgres [--messages 20000] [--down 10] [--rate 300]

Never touches the machine's own PostgreSQL: the drill makes a private cluster (``initdb`` and
``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` or ``PATH``, in a temporary directory, on a free
port; as the ``postgres`` user when run as root, since ``initdb`` refuses root), runs the
carrier simulator and ``todoke serve`` on it, and while a client posts ``--messages`` messages
(each retried with its Idempotency-Key) stops PostgreSQL (``pg_ctl stop -m fast``) for
``--down`` seconds and starts it again. It checks:

* while it is down, the API answers 503 (never 500, never a hang): the slowest such answer is
  reported, and it must come within a couple of seconds;
* no partial writes: every stored message has its acceptance event, every attempt and part
  its message, and no message was stored twice for one Idempotency-Key;
* everything resumes without a restart of todoke (the same server process before and after):
  every accepted message is stored (lost 0) and reaches DELIVERED;
* time to recover: from PostgreSQL accepting connections again to the next 2xx answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.common import (
    Server,
    free_port,
    query,
    route_to_simulator,
    simulator_stats,
    start_simulator,
)
from bench.drills.common import (
    Client,
    Verdict,
    statuses,
    stored_ids,
    wait_final,
    write_result,
)
from bench.drills.common import (
    start_serve as start_todoke,
)

DELIVERED = "DELIVERED_TO_HANDSET"
FAST_503_SECONDS = 2.0  # a 503 slower than this is not "fast"

CONSISTENCY = {
    "messages without their acceptance event": (
        "SELECT count(*) FROM messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM message_events e WHERE e.message_id = m.id)"
    ),
    "attempts without their message": (
        "SELECT count(*) FROM attempts a WHERE NOT EXISTS "
        "(SELECT 1 FROM messages m WHERE m.id = a.message_id)"
    ),
    "parts without their attempt": (
        "SELECT count(*) FROM attempt_parts p WHERE NOT EXISTS "
        "(SELECT 1 FROM attempts a WHERE a.id = p.attempt_id)"
    ),
    "delivered messages without a delivered attempt": (
        "SELECT count(*) FROM messages m WHERE m.status = 'DELIVERED_TO_HANDSET' AND NOT EXISTS "
        "(SELECT 1 FROM attempts a WHERE a.message_id = m.id AND a.state = 'delivered')"
    ),
}


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found (install the PostgreSQL server binaries)")
    return path


class PrivateCluster:
    """A throw-away PostgreSQL cluster on loopback, owned by this drill."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="todoke-drill-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self._user: str | None = None
        if os.geteuid() == 0:  # initdb refuses to run as root
            self._user = "postgres"
            ids = pwd.getpwnam(self._user)
            os.chown(self.dir, ids.pw_uid, ids.pw_gid)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/todoke_drill"

    def _run(self, *argv: str) -> None:
        command = ["runuser", "-u", self._user, "--", *argv] if self._user else list(argv)
        subprocess.run(command, check=True, capture_output=True, cwd=self.dir)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        async def create() -> None:
            conn = await asyncpg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres")
            try:
                await conn.execute("CREATE DATABASE todoke_drill")
            finally:
                await conn.close()

        asyncio.run(create())

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


async def _drive(
    server: Server, cluster: PrivateCluster, messages: int, rate: float, down: float
) -> tuple[Client, float, float, float]:
    match = re.search(r"token: ([A-Za-z0-9]{32})", server.output())
    if match is None:
        raise RuntimeError(f"no demo token in the banner:\n{server.output()}")
    client = Client(server.base, match.group(1), secrets.token_hex(4), destination="090{n4}9954")
    load = asyncio.create_task(client.run(messages, connections=32, rate=rate))
    while len(client.sent.accepted) < messages // 3:
        await asyncio.sleep(0.05)
    down_at = time.monotonic() - client.started
    await asyncio.to_thread(cluster.stop, "fast")
    await asyncio.sleep(down)
    await asyncio.to_thread(cluster.start)
    up_at = time.monotonic() - client.started
    before = len(client.sent.accepted)
    while len(client.sent.accepted) == before and not load.done():
        await asyncio.sleep(0.01)
    recover = time.monotonic() - client.started - up_at
    await load
    return client, recover, down_at, up_at


def run(*, messages: int, rate: float, down: float, timeout: float) -> Verdict:
    cluster = PrivateCluster()
    sim: Server | None = None
    server: Server | None = None
    try:
        cluster.start()
        cluster.create_database()
        url = cluster.url
        sim, smpp_port = start_simulator()
        route_to_simulator(url, smpp_port)
        server = start_todoke(url, free_port())
        pid = server.proc.pid
        client, recover, down_at, up_at = asyncio.run(_drive(server, cluster, messages, rate, down))
        stored = stored_ids(url)
        final, waited = wait_final(url, len(stored), timeout)
        by_status = statuses(url)
        broken = {name: int(query(url, sql)[0][0]) for name, sql in CONSISTENCY.items()}
        stats = simulator_stats(sim)
        same_process = server.proc.poll() is None and server.proc.pid == pid
        server_log = server.output()
    finally:
        if server is not None:
            server.stop()
        if sim is not None:
            sim.stop()
        cluster.destroy()
    accepted = client.sent.accepted
    lost = [n for n, mid in accepted.items() if mid not in stored]
    outage = [f for f in client.sent.failures if down_at <= f[0] <= up_at + 1]
    slowest = max((f[2] for f in outage), default=0.0)
    codes = sorted({f[1] for f in client.sent.failures})
    delivered = by_status.get(DELIVERED, 0)
    if any(code != 503 for code in codes):
        # What the server logged about its 5xx answers: the drill is how such bugs are found.
        errors = sorted({m for m in re.findall(r"error=(\w+)", server_log)})
        saved = Path(tempfile.gettempdir()) / "todoke-drill-postgres-server.log"
        saved.write_text(server_log, encoding="utf-8")
        print(f"server errors logged: {', '.join(errors)} (log: {saved})", flush=True)
    ok = (
        not lost
        and same_process
        and len(accepted) == messages
        and len(stored) == messages
        and final == messages
        and delivered == messages
        and not any(broken.values())
        and all(code == 503 for code in codes)
        and slowest <= FAST_503_SECONDS
    )
    return Verdict(
        drill=f"PostgreSQL drill (private cluster stopped {down:g} s under load)",
        accepted=len(accepted),
        delivered=delivered,
        lost=len(lost),
        duplicates=stats["duplicates"],
        recover_s=recover,
        ok=ok,
        notes={
            "answers_while_down": dict(sorted(client.sent.refused.items())),
            "slowest_503_s": slowest,
            "connection_errors": client.sent.errors,
            "partial_writes": sum(broken.values()),
            "stored": len(stored),
            "same_process": same_process,
            "final_after_s": round(waited, 1),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=300.0, help="messages/s offered")
    parser.add_argument("--down", type=float, default=10.0, help="seconds PostgreSQL is down")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--result-file", type=Path, default=None)
    args = parser.parse_args()
    verdict = run(messages=args.messages, rate=args.rate, down=args.down, timeout=args.timeout)
    write_result(verdict, args.result_file)
    raise SystemExit(0 if verdict.ok else 1)


if __name__ == "__main__":
    main()
