"""The set of services one process runs, built by ``todoke.app`` and handed to every edge."""

from __future__ import annotations

from dataclasses import dataclass

from todoke.services.accounts import AccountService
from todoke.services.blocklist import BlocklistService
from todoke.services.messages import MessageService
from todoke.services.protection import Protection


@dataclass(slots=True)
class Services:
    """Everything an edge (HTTP API, façade, CLI) may call."""

    accounts: AccountService
    messages: MessageService
    idempotency_ttl_ms: int = 24 * 3600 * 1000
    batch_max_messages: int = 10_000
    protection: Protection | None = None  # None: no guards (a bare service in tests)
    blocklist: BlocklistService | None = None
