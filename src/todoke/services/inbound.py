"""Inbound messages (MO): store them, tell the account, and let other rules react.

The SMPP connectors hand every deliver_sm that is not a receipt to :meth:`InboundService.
receive` (wired in ``delivery.py``); the SMSC gets its deliver_sm_resp only after this returns,
so a message that could not be stored is redelivered. Attribution to an account and the link
to the message it answers are documented in ``store/inbound.py``.

Listeners
---------
``add_listener(fn)`` registers ``async fn(message: InboundMessage) -> None``, called after the
message is committed, in registration order (e.g. the opt-out keyword rule: "配信停止" /
"STOP" adds the number to the account's opt-out list). A listener that raises is logged and
does not affect the others or the stored message; listeners must be idempotent, because an
SMSC may deliver the same MO twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from todoke.domain import phone
from todoke.domain.ids import time_ordered_id
from todoke.domain.inbound import InboundFilter, InboundMessage
from todoke.domain.message import Account
from todoke.errors import InvalidPhoneNumber
from todoke.services.messages import now_ms

log = structlog.get_logger(__name__)

InboundListener = Callable[[InboundMessage], Awaitable[None]]


class InboundStorePort(Protocol):
    """Storage of inbound messages (implemented by ``store.inbound.InboundStore``)."""

    async def store(self, message: InboundMessage) -> InboundMessage: ...

    async def get(self, account_id: int, inbound_id: str) -> InboundMessage: ...

    async def find(self, account_id: int, flt: InboundFilter) -> list[InboundMessage]: ...


class InboundService:
    """Receives MO messages from the connectors and serves them to the account."""

    def __init__(self, store: InboundStorePort) -> None:
        self._store = store
        self._listeners: list[InboundListener] = []
        self.on_stored: Callable[[], None] | None = None  # wakes the webhook worker

    def add_listener(self, listener: InboundListener) -> None:
        """Call ``listener`` for every inbound message once it is stored."""
        self._listeners.append(listener)

    async def receive(
        self, *, connector: str, source: str, destination: str, text: str, received_at: int | None
    ) -> InboundMessage:
        """Store one inbound message (raises if it could not be stored: the SMSC retries)."""
        at = received_at if received_at is not None else now_ms()
        message = InboundMessage(
            id=time_ordered_id(at),
            connector=connector[:64],
            from_number=_number(source),
            to_code=destination.strip()[:20],
            text=text,
            received_at=at,
        )
        stored = await self._store.store(message)
        log.info(
            "inbound.stored",
            inbound=stored.id,
            connector=connector,
            account=stored.account_id,
            reply_to=stored.reply_to,
        )
        if self.on_stored is not None:
            self.on_stored()
        for listener in self._listeners:
            try:
                await listener(stored)
            except Exception:
                log.exception("inbound.listener_failed", inbound=stored.id)
        return stored

    async def get(self, account: Account, inbound_id: str) -> InboundMessage:
        return await self._store.get(account.id, inbound_id)

    async def find(self, account: Account, flt: InboundFilter) -> list[InboundMessage]:
        return await self._store.find(account.id, flt)


def _number(source: str) -> str:
    """E.164 for a Japanese mobile number in any form, else the address as sent."""
    raw = source.strip()
    try:
        return phone.normalize(raw if not raw.isdigit() or raw.startswith("0") else f"+{raw}")
    except InvalidPhoneNumber:
        return raw[:20]
