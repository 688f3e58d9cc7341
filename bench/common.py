"""What every benchmark needs: start servers as real processes, run the load generator, report."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> str:
    cores = os.cpu_count() or 0
    try:
        mem_kb = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "?"
    return f"{cores} cores, {memory}, Python {platform.python_version()}, {platform.machine()}"


class Server:
    """A server process on a free port; ``wait`` until it answers ``ready_path``."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        ready_path: str,
        *,
        port: int | None = None,
        ready_timeout: float = 60,
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="todoke-bench-", suffix=".log", delete=False)  # noqa: SIM115
        full_env = {**os.environ, **env, "TODOKE_PORT": str(self.port)}
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(
            argv, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self._wait(ready_path, ready_timeout)

    def _wait(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.output()}")
            try:
                httpx.get(self.base + path, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        Path(self.log.name).unlink(missing_ok=True)

    def cpu_seconds(self, main_thread: bool = False) -> float:
        """User + system CPU time the process (or its main thread: the event loop, which
        bounds the throughput of one process) used so far; contention does not inflate it."""
        return cpu_seconds(self.proc.pid, main_thread)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else 0.0


def cpu_seconds(pid: int, main_thread: bool = False) -> float:
    """User + system CPU time of process ``pid`` (or of its main thread) so far."""
    path = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def start_worker(url: str, **env: str) -> subprocess.Popen[bytes]:
    """``todoke worker`` (dispatch only) in its own process; its output to a temporary log."""
    log = tempfile.NamedTemporaryFile(prefix="todoke-bench-worker-", suffix=".log", delete=False)  # noqa: SIM115
    full = {**os.environ, "TODOKE_DATABASE_URL": url, "TODOKE_LOG_LEVEL": "warning", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "todoke", "worker"], env=full, stdout=log, stderr=log, cwd=ROOT
    )


def start_serve(database_url: str, **env: str) -> Server:
    """``todoke serve`` on ``database_url`` (its accounts as they are)."""
    return Server(
        [sys.executable, "-m", "todoke", "serve"],
        {
            "TODOKE_DATABASE_URL": database_url,
            "TODOKE_LOG_LEVEL": "warning",
            # One load generator, one account: the per-IP (80/s) and per-account (600/s) rate
            # limits are policy, not capacity. The flooding filter and blocklists stay on.
            "TODOKE_IP_RATE_LIMIT": "0",
            "TODOKE_SEND_RATE_LIMIT": "0",
            **env,
        },
        "/readyz",
    )


def start_todoke(database_url: str, **env: str) -> tuple[Server, str]:
    """``todoke serve`` on a fresh database; returns the server and the demo account's token."""
    server = start_serve(database_url, **env)
    match = re.search(r"token: ([A-Za-z0-9]{32})", server.output())
    if not match:
        server.stop()
        raise RuntimeError("no demo token in the banner (is the database fresh?)")
    return server, match.group(1)


def start_reference() -> Server:
    return Server(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ref_app:app",
            "--port",
            "{port}",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        {},
        "/",
    )


def load(
    url: str,
    token: str,
    body: str,
    *,
    connections: int,
    duration: float,
    rate: float = 0,
    count: int = 0,
    first: int = 1,
) -> dict[str, Any]:
    """Run the load generator in its own process and return its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        f.write(body)
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        url,
        "--token",
        token,
        "--body-file",
        f.name,
        "--connections",
        str(connections),
        "--duration",
        str(duration),
    ]
    if rate:
        argv += ["--rate", str(rate)]
    if count:
        argv += ["--count", str(count), "--first", str(first)]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    finally:
        Path(f.name).unlink(missing_ok=True)
    result: dict[str, Any] = json.loads(out)
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def fresh_sqlite_url() -> str:
    return f"sqlite:///{tempfile.mkdtemp(prefix='todoke-bench-')}/todoke.db"


def reset_postgres(url: str) -> None:
    import asyncio

    import asyncpg

    async def reset() -> None:
        dsn = url.replace("postgresql://", "postgres://")
        try:
            conn = await asyncpg.connect(dsn)
        except asyncpg.InvalidCatalogNameError:
            name = dsn.rsplit("/", 1)[1].split("?")[0]
            admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.close()
            conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one read-only SQL statement against a todoke database (SQLite or PostgreSQL)."""
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split(":///", 1)[1]
        conn = sqlite3.connect(path, timeout=30)
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    import asyncio

    import asyncpg

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def start_simulator(time_factor: float = 0.01, seed: int = 0) -> tuple[Server, int]:
    """``todoke simulator`` in its own process; returns it (its ``base`` is the control
    endpoint) and its SMPP port."""
    smpp_port = free_port()
    server = Server(
        [
            sys.executable,
            "-m",
            "todoke",
            "simulator",
            "--port",
            str(smpp_port),
            "--control-port",
            "{port}",
            "--time-factor",
            str(time_factor),
            "--seed",
            str(seed),
        ],
        {},
        "/stats",
    )
    return server, smpp_port


def simulator_stats(sim: Server) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(sim.base + "/stats", timeout=10).json()
    return stats


def route_to_simulator(url: str, smpp_port: int, window: int = 50) -> None:
    """Configure the connectors and routes that ``todoke serve`` would create for its embedded
    simulator, pointing at an external one (migrating the database first)."""
    import asyncio

    from todoke.app import Runtime
    from todoke.config import Settings
    from todoke.delivery import simulator_connectors, simulator_routes
    from todoke.services.messages import now_ms
    from todoke.store.routing import RoutingStore

    async def run() -> None:
        rt = Runtime(Settings(database_url=url, demo_account=False))
        await rt.start()
        try:
            store = RoutingStore(rt.db)
            for c in simulator_connectors("127.0.0.1", smpp_port):
                await store.add_connector(replace(c, window=window), now=now_ms())
            for r in simulator_routes():
                await store.set_route(
                    account_id=r.account_id,
                    carrier=r.carrier,
                    connector_names=r.connectors,
                    now=now_ms(),
                )
        finally:
            await rt.stop()

    asyncio.run(run())
