"""The webhook delivery loop: claim due deliveries, make one attempt each, keep chains moving.

A :class:`~todoke.workers.loop.ClaimLoop` like the dispatch worker, with two watched side
tasks: one repairs stuck chains now and then, one purges finished deliveries after the
retention period. Decisions (rendering, success, backoff, dead letters) are in
:class:`~todoke.services.webhooks.WebhookDeliverer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog

from todoke.domain.webhooks import DONE_STATES
from todoke.services.messages import now_ms
from todoke.services.webhook_types import Delivery, WebhookStorePort
from todoke.services.webhooks import WebhookDeliverer
from todoke.workers.loop import ClaimLoop, every

log = structlog.get_logger(__name__)


class WebhookWorker(ClaimLoop[Delivery]):
    """Runs a :class:`WebhookDeliverer` until stopped."""

    name = "webhook"
    grace = 12.0

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
        super().__init__(batch=batch, max_in_flight=max_in_flight, idle_poll=idle_poll)
        self._deliverer = deliverer
        self._store = store
        self._unblock_every = unblock_every
        self._retention_ms = retention_ms
        self._purge_every = purge_every

    async def claim(self, limit: int) -> Sequence[Delivery]:
        return await self._deliverer.claim(limit)

    def side_tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [
            every(self._unblock_every, self._unblock, event="webhook.maintenance_failed"),
            every(self._purge_every, self._purge, event="webhook.maintenance_failed"),
        ]

    async def handle(self, item: Delivery) -> None:
        try:
            outcome = await self._deliverer.deliver(item)
            if item.chain is not None and outcome.state in DONE_STATES:
                self.wake()  # the next event of its chain is due now
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not recorded (the database may be down): the lease runs out and it is tried
            # again, so the event is late, never lost.
            log.warning("webhook.record_failed", delivery=item.id, error=type(exc).__name__)

    async def _unblock(self) -> None:
        repaired = await self._store.unblock_chains(now=now_ms(), limit=1000)
        if repaired:
            log.warning("webhook.chains_unblocked", deliveries=repaired)
            self.wake()

    async def _purge(self) -> None:
        purged = await self._store.purge(before=now_ms() - self._retention_ms, limit=5000)
        if purged:
            log.info("webhook.purged", deliveries=purged)
