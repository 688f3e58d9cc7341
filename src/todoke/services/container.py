"""The set of services one process runs, built by ``todoke.app`` and handed to every edge."""

from __future__ import annotations

from dataclasses import dataclass, field

from todoke.services.accounts import AccountService
from todoke.services.batches import BatchService
from todoke.services.blocklist import BlocklistService
from todoke.services.compose import Composer
from todoke.services.inbound import InboundService
from todoke.services.links import LinkService
from todoke.services.mediasms import MediaSmsService
from todoke.services.message_reports import MessageReports
from todoke.services.messages import MessageService
from todoke.services.numbers import NumberCleaningService
from todoke.services.protection import Protection
from todoke.services.reports import ReportService
from todoke.services.templates import TemplateService
from todoke.services.webhooks import WebhookService
from todoke.services.zettai_settings import ZettaiSettingsService


@dataclass(slots=True)
class Services:
    """Everything an edge (HTTP API, façade, CLI) may call."""

    accounts: AccountService
    messages: MessageService
    idempotency_ttl_ms: int = 24 * 3600 * 1000
    batch_max_messages: int = 10_000
    mediasms: MediaSmsService | None = None  # the MediaSMS façade's logins and settings
    batches: BatchService | None = None  # bulk uploads (MediaSMS CSV)
    # issue 6: templates, short links, number cleaning, reports, 絶対リーチ! settings
    templates: TemplateService = field(kw_only=True)
    links: LinkService = field(kw_only=True)
    numbers: NumberCleaningService = field(kw_only=True)
    message_reports: MessageReports = field(kw_only=True)
    zettai: ZettaiSettingsService = field(kw_only=True)

    # Outcomes: set by ``todoke.outcomes.build_outcomes`` (app.py).
    webhooks: WebhookService | None = None
    inbound: InboundService | None = None
    reports: ReportService | None = None

    protection: Protection | None = None  # None: no guards (a bare service in tests)
    blocklist: BlocklistService | None = None

    @property
    def composer(self) -> Composer:
        """Sends with templates and tracked links, on top of ``messages``."""
        return Composer(self.messages, self.templates, self.links)
