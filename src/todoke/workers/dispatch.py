"""The dispatch loop: claim due messages, hand them to connectors, keep routing fresh.

A thin loop (STYLE habit 8): bounded concurrency (``max_in_flight`` submissions), a stop
event, a watched side task that refreshes the routing snapshot, and a graceful stop that lets
in-flight submissions finish and record their outcome. Decisions live in
:class:`~todoke.services.dispatch.Dispatcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from todoke.domain.routing import RoutingSnapshot
from todoke.services.dispatch import Dispatcher

log = structlog.get_logger(__name__)

_PURGE_EVERY = 30  # refreshes between two purges of stale orphan receipts (a minute)
SnapshotLoader = Callable[[], Awaitable[RoutingSnapshot]]
SnapshotHook = Callable[[RoutingSnapshot], Awaitable[None]]


class DispatchWorker:
    """Runs a :class:`Dispatcher` until stopped."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        load_snapshot: SnapshotLoader,
        *,
        on_snapshot: SnapshotHook | None = None,
        batch: int = 500,
        max_in_flight: int = 2000,
        idle_poll: float = 0.05,
        refresh_every: float = 2.0,
    ) -> None:
        self._dispatcher = dispatcher
        self._load_snapshot = load_snapshot
        self._on_snapshot = on_snapshot
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._idle_poll = idle_poll
        self._refresh_every = refresh_every
        self._refresh_lock = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def wake(self) -> None:
        """New work may be due (a message was accepted): look now instead of at the next poll."""
        self._wakeup.set()

    async def refresh(self) -> None:
        # One at a time: a refresh that began earlier must not apply its older snapshot over
        # a newer one (an operator's change would seem undone until the next refresh).
        async with self._refresh_lock:
            snapshot = await self._load_snapshot()
            if self._on_snapshot is not None:
                await self._on_snapshot(snapshot)
            if self._dispatcher.update_routing(snapshot):
                await self._dispatcher.release_held()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dispatch-worker")

    async def stop(self, grace: float = 10.0) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
        for task in self._in_flight:
            task.cancel()

    async def _run(self) -> None:
        refresher = asyncio.create_task(self._refresh_loop(), name="dispatch-refresh")
        try:
            while not self._stop.is_set():
                capacity = self._max_in_flight - len(self._in_flight)
                if capacity <= 0:
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                    continue
                try:
                    jobs = await self._dispatcher.claim(min(capacity, self._batch))
                except Exception as exc:  # the database may be down: keep trying
                    log.warning("dispatch.claim_failed", error=type(exc).__name__)
                    await self._sleep(1.0)
                    continue
                for job in jobs:
                    task = asyncio.create_task(self._dispatcher.send(job))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if len(jobs) < min(capacity, self._batch):
                    await self._sleep(self._idle_poll)
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.sent += 1
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatch.send_crashed", error=repr(task.exception()))

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _refresh_loop(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self._refresh_every)
            rounds += 1
            try:
                await self.refresh()
                if rounds % _PURGE_EVERY == 0:
                    purged = await self._dispatcher.purge_orphans()
                    if purged:
                        log.info("dispatch.orphans_purged", receipts=purged)
            except Exception as exc:
                log.warning("dispatch.refresh_failed", error=type(exc).__name__)
