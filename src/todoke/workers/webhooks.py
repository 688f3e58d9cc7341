"""The webhook delivery loop: claim due deliveries, make one attempt each, keep chains moving.

A thin loop (STYLE habit 8), like the dispatch worker: bounded concurrency
(``max_in_flight`` requests), a stop event, a wake-up for new events, and watched side tasks:
one repairs stuck chains now and then, one purges finished deliveries after the retention
period. Decisions (rendering, success, backoff, dead letters) are in
:class:`~todoke.services.webhooks.WebhookDeliverer`.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from todoke.domain.webhooks import DONE_STATES
from todoke.services.messages import now_ms
from todoke.services.webhook_types import Delivery, WebhookStorePort
from todoke.services.webhooks import WebhookDeliverer

log = structlog.get_logger(__name__)


class WebhookWorker:
    """Runs a :class:`WebhookDeliverer` until stopped."""

    def __init__(
        self,
        deliverer: WebhookDeliverer,
        store: WebhookStorePort,
        *,
        batch: int = 200,
        max_in_flight: int = 200,
        idle_poll: float = 0.1,
        unblock_every: float = 30.0,
        retention_ms: int = 7 * 24 * 3600 * 1000,
        purge_every: float = 3600.0,
    ) -> None:
        self._deliverer = deliverer
        self._store = store
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._idle_poll = idle_poll
        self._unblock_every = unblock_every
        self._retention_ms = retention_ms
        self._purge_every = purge_every
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.attempts = 0

    def wake(self) -> None:
        """New events may be due: look now instead of at the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self, grace: float = 12.0) -> None:
        """Stop claiming; let requests in flight finish (bounded by ``grace``) and record."""
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
        side = [
            asyncio.create_task(self._every(self._unblock_every, self._unblock), name="wh-unblock"),
            asyncio.create_task(self._every(self._purge_every, self._purge), name="wh-purge"),
        ]
        try:
            while not self._stop.is_set():
                capacity = self._max_in_flight - len(self._in_flight)
                if capacity <= 0:
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                    continue
                want = min(capacity, self._batch)
                try:
                    claimed = await self._deliverer.claim(want)
                except Exception as exc:  # the database may be down: keep trying
                    log.warning("webhook.claim_failed", error=type(exc).__name__)
                    await self._sleep(1.0)
                    continue
                for delivery in claimed:
                    task = asyncio.create_task(self._one(delivery))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                if len(claimed) < want:
                    await self._sleep(self._idle_poll)
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)

    async def _one(self, delivery: Delivery) -> None:
        try:
            outcome = await self._deliverer.deliver(delivery)
            if delivery.chain is not None and outcome.state in DONE_STATES:
                self.wake()  # the next event of its chain is due now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not recorded (the database may be down): the lease runs out and it is tried
            # again, so the event is late, never lost.
            log.warning("webhook.record_failed", delivery=delivery.id, error=type(exc).__name__)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.attempts += 1
        self._slot_freed.set()

    async def _sleep(self, seconds: float) -> None:
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _every(self, period: float, action: object) -> None:
        assert callable(action)
        while True:
            await asyncio.sleep(period)
            try:
                await action()
            except Exception as exc:
                log.warning("webhook.maintenance_failed", error=type(exc).__name__)

    async def _unblock(self) -> None:
        repaired = await self._store.unblock_chains(now=now_ms(), limit=1000)
        if repaired:
            log.warning("webhook.chains_unblocked", deliveries=repaired)
            self.wake()

    async def _purge(self) -> None:
        purged = await self._store.purge(before=now_ms() - self._retention_ms, limit=5000)
        if purged:
            log.info("webhook.purged", deliveries=purged)
