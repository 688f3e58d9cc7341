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

    def __init__(self, argv: Sequence[str], env: dict[str, str], ready_path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="todoke-bench-", suffix=".log", delete=False)  # noqa: SIM115
        full_env = {**os.environ, **env, "TODOKE_PORT": str(self.port)}
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(
            argv, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self._wait(ready_path)

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

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else 0.0


def start_todoke(database_url: str, **env: str) -> tuple[Server, str]:
    """``todoke serve`` on a fresh database; returns the server and the demo account's token."""
    server = Server(
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
    url: str, token: str, body: str, *, connections: int, duration: float, rate: float = 0
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
