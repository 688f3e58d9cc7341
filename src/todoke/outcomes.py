"""Composition of the outcome services of one process: webhooks, inbound, reports.

``build_outcomes`` makes the services every process has (the API needs them to manage
endpoints, list inbound messages, count usage); :class:`WebhookEngine` is the delivery worker,
started by ``todoke serve`` (next to the dispatch worker) and by ``todoke worker``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from todoke.config import Settings
from todoke.domain.webhooks import RetryPolicy
from todoke.services.inbound import InboundService
from todoke.services.reports import ReportService
from todoke.services.webhook_formats import WebhookFormats
from todoke.services.webhooks import WebhookDeliverer, WebhookService
from todoke.store.database import Database
from todoke.store.inbound import InboundStore
from todoke.store.reports import ReportStore
from todoke.store.webhooks import WebhookStore
from todoke.store.writer import GroupCommitter
from todoke.workers.webhook_http import HttpSender
from todoke.workers.webhooks import WebhookWorker


def standard_policy(settings: Settings) -> RetryPolicy:
    """The retry policy of the standard format, from the settings."""
    return RetryPolicy(
        max_attempts=None,
        max_age_ms=int(settings.webhooks_max_age_seconds * 1000),
        timeout_ms=int(settings.webhooks_timeout_seconds * 1000),
        base_ms=max(1, int(settings.webhooks_retry_base_seconds * 1000)),
        cap_ms=max(
            int(settings.webhooks_retry_base_seconds * 1000),
            int(settings.webhooks_retry_max_seconds * 1000),
        ),
    )


@dataclass(slots=True)
class Outcomes:
    """The outcome services of one process and the HTTP client they share."""

    webhooks: WebhookService
    inbound: InboundService
    reports: ReportService
    sender: HttpSender


def build_outcomes(settings: Settings, db: Database, writer: GroupCommitter) -> Outcomes:
    sender = HttpSender(
        allow_private=settings.webhooks_allow_private,
        max_connections=settings.webhooks_max_in_flight,
        per_host=settings.webhooks_per_endpoint_concurrency,
    )
    webhooks = WebhookService(
        WebhookStore(db, writer),
        WebhookFormats(standard_policy(settings)),
        allow_private=settings.webhooks_allow_private,
        resolver=sender,
    )
    return Outcomes(
        webhooks=webhooks,
        inbound=InboundService(InboundStore(db, writer)),
        reports=ReportService(
            ReportStore(db), receipt_grace_ms=settings.receipt_grace_seconds * 1000
        ),
        sender=sender,
    )


class WebhookEngine:
    """The webhook worker of one process."""

    def __init__(self, settings: Settings, outcomes: Outcomes) -> None:
        service = outcomes.webhooks
        self.deliverer = WebhookDeliverer(
            service.store,
            service.formats,
            outcomes.sender,
            owner=f"{socket.gethostname()}:{os.getpid()}:webhooks",
            lease_ms=int(settings.webhooks_timeout_seconds * 1000) + 60_000,
        )
        self.worker = WebhookWorker(
            self.deliverer,
            service.store,
            batch=settings.webhooks_batch,
            max_in_flight=settings.webhooks_max_in_flight,
            retention_ms=settings.webhooks_retention_days * 24 * 3600 * 1000,
        )
        service.on_emitted = self.worker.wake
        outcomes.inbound.on_stored = self.worker.wake
        self._outcomes = outcomes

    def start(self) -> None:
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        self._outcomes.webhooks.on_emitted = None
        self._outcomes.inbound.on_stored = None
