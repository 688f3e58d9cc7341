"""The skeleton every worker shares: claim a batch, run each item as a task, repeat.

A thin loop (STYLE habit 8): bounded concurrency (``max_in_flight`` tasks), a wake-up event
for new work (so an accept does not wait for the next poll), an idle poll when a claim comes
back short, a one-second back-off when claiming fails (the database may be down: keep
trying), watched side tasks, and a graceful stop that lets in-flight items finish within a
grace period. Subclasses say only how to claim and what to do with one item.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ClaimLoop(Generic[T]):
    """Claims work in batches and runs each item as its own task until stopped."""

    name = "worker"
    grace = 10.0  # seconds a stop waits for the items in flight

    def __init__(self, *, batch: int, max_in_flight: int, idle_poll: float) -> None:
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._idle_poll = idle_poll
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # What a worker says -----------------------------------------------------------------

    async def claim(self, limit: int) -> Sequence[T]:
        raise NotImplementedError

    async def handle(self, item: T) -> None:
        raise NotImplementedError

    def side_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """Coroutines that run beside the loop and are cancelled when it stops."""
        return []

    # The loop -----------------------------------------------------------------------------

    def wake(self) -> None:
        """New work may be due: look now instead of at the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop claiming; let the items in flight finish (bounded by :attr:`grace`)."""
        self._stop.set()
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=self.grace)
        for task in self._in_flight:
            task.cancel()

    async def _run(self) -> None:
        side = [asyncio.create_task(coro) for coro in self.side_tasks()]
        try:
            while not self._stop.is_set():
                capacity = self._max_in_flight - len(self._in_flight)
                if capacity <= 0:
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                    continue
                want = min(capacity, self._batch)
                try:
                    items = await self.claim(want)
                except Exception as exc:
                    log.warning(f"{self.name}.claim_failed", error=type(exc).__name__)
                    await self._sleep(1.0)
                    continue
                for item in items:
                    task = asyncio.create_task(self.handle(item))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if len(items) < want:
                    await self._sleep(self._idle_poll)
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error(f"{self.name}.item_crashed", error=repr(task.exception()))

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)


async def every(period: float, action: Callable[[], Awaitable[None]], *, event: str) -> None:
    """Run ``action`` every ``period`` seconds; a failure is logged and the next round runs."""
    while True:
        await asyncio.sleep(period)
        try:
            await action()
        except Exception as exc:
            log.warning(event, error=type(exc).__name__)
