"""Start ``todoke serve`` as a real process on a free loopback port (for end-to-end tests)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A ``todoke serve`` child process; its banner (stdout) is kept for inspection."""

    def __init__(self, database_url: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{self.port}.log"
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TODOKE_")},
            "TODOKE_DATABASE_URL": database_url,
            "TODOKE_PORT": str(self.port),
            "TODOKE_HOST": "127.0.0.1",
            # Load from one address and one account: the per-IP and per-account rate limits
            # would measure themselves; tests of the limits pass their own values.
            "TODOKE_IP_RATE_LIMIT": "0",
            "TODOKE_SEND_RATE_LIMIT": "0",
            **env,
        }
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "todoke", "serve"],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=workdir,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def banner_token(self) -> str:
        match = re.search(r"token: ([A-Za-z0-9]{32})", self.output())
        assert match, self.output()
        return match.group(1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()
