"""Dispatch in child processes of ``todoke serve`` (``TODOKE_DISPATCH_PROCESSES=N``).

One Python process accepts and delivers on one core. With ``dispatch_processes`` set,
``todoke serve`` keeps the HTTP API (and the webhook worker) and starts that many
``todoke worker`` children on the same database, so delivery runs on other cores. Each child
is restarted when it exits (after 1 s, doubling to 30 s while it keeps failing within a
minute); on shutdown the children get SIGTERM, time to finish their submissions, then SIGKILL.
A child that dies mid-batch loses nothing: its claims are leases that another worker takes
over (docs/delivery.md).

With no connector configured, each child starts its own built-in simulator, as ``todoke
worker`` does; children share one configured SMSC like any set of workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

import structlog

from todoke.config import Settings

log = structlog.get_logger(__name__)

_BACKOFF_FIRST = 1.0
_BACKOFF_MAX = 30.0
_HEALTHY_AFTER = 60.0  # a child that ran this long starts the back-off afresh when it exits


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the serve process dies, however it dies
    (kill -9 included), so that no worker outlives its supervisor (Linux)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class WorkerSupervisor:
    """Keeps ``count`` ``todoke worker`` child processes running until stopped."""

    def __init__(self, settings: Settings, count: int, *, grace: float = 15.0) -> None:
        self._settings = settings
        self._count = count
        self._grace = grace
        self._stopping = asyncio.Event()
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for slot in range(self._count):
            self._tasks.append(asyncio.create_task(self._keep(slot), name=f"worker-child-{slot}"))

    async def stop(self) -> None:
        """SIGTERM every child, wait up to the grace period, SIGKILL what is left."""
        self._stopping.set()
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        if running:
            await asyncio.wait(
                [asyncio.create_task(p.wait()) for p in running], timeout=self._grace
            )
            for proc in running:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The serve's own settings (flags included) are the child's; no grandchildren.
        env["TODOKE_DATABASE_URL"] = self._settings.database_url
        env["TODOKE_DISPATCH_PROCESSES"] = "0"
        return env

    async def _keep(self, slot: int) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "todoke",
                "worker",
                env=self._environment(),
                stdout=asyncio.subprocess.DEVNULL,  # its banner; its logs go to stderr
                preexec_fn=_die_with_parent,
            )
            self._procs[slot] = proc
            log.info("worker.child_started", slot=slot, pid=proc.pid)
            code = await proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= _HEALTHY_AFTER:
                backoff = _BACKOFF_FIRST
            log.warning(
                "worker.child_exited", slot=slot, pid=proc.pid, code=code, restart_in=backoff
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(_BACKOFF_MAX, backoff * 2)
