"""The dispatch loop: claim due messages, hand them to connectors, keep routing fresh.

A :class:`~todoke.workers.loop.ClaimLoop` (bounded concurrency, wake-up, graceful stop) with
a watched side task that refreshes the routing snapshot and purges stale orphan receipts.
Decisions live in :class:`~todoke.services.dispatch.Dispatcher`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog

from todoke.domain.routing import RoutingSnapshot
from todoke.services.dispatch import Dispatcher, SendJob
from todoke.workers.loop import ClaimLoop, every

log = structlog.get_logger(__name__)

_PURGE_EVERY = 30  # refreshes between two purges of stale orphan receipts (a minute)
SnapshotLoader = Callable[[], Awaitable[RoutingSnapshot]]
SnapshotHook = Callable[[RoutingSnapshot], Awaitable[None]]


class DispatchWorker(ClaimLoop[SendJob]):
    """Runs a :class:`Dispatcher` until stopped."""

    name = "dispatch"

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
        super().__init__(batch=batch, max_in_flight=max_in_flight, idle_poll=idle_poll)
        self._dispatcher = dispatcher
        self._load_snapshot = load_snapshot
        self._on_snapshot = on_snapshot
        self._refresh_every = refresh_every
        self._refresh_lock = asyncio.Lock()
        self._rounds = 0

    async def claim(self, limit: int) -> Sequence[SendJob]:
        return await self._dispatcher.claim(limit)

    async def handle(self, item: SendJob) -> None:
        await self._dispatcher.send(item)

    def side_tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [every(self._refresh_every, self._refresh_round, event="dispatch.refresh_failed")]

    async def refresh(self) -> None:
        # One at a time: a refresh that began earlier must not apply its older snapshot over
        # a newer one (an operator's change would seem undone until the next refresh).
        async with self._refresh_lock:
            snapshot = await self._load_snapshot()
            if self._on_snapshot is not None:
                await self._on_snapshot(snapshot)
            if self._dispatcher.update_routing(snapshot):
                await self._dispatcher.release_held()

    async def _refresh_round(self) -> None:
        self._rounds += 1
        await self.refresh()
        if self._rounds % _PURGE_EVERY == 0:
            purged = await self._dispatcher.purge_orphans()
            if purged:
                log.info("dispatch.orphans_purged", receipts=purged)
