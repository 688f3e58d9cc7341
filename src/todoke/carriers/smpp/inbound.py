"""What the SMSC sends us: delivery receipts and inbound (MO) messages, each in its own task.

The session hands every deliver_sm / data_sm to ``InboundRouter.on_pdu`` from its read path;
each is handled in a task of its own (at most ``max_inbound`` at once) so that a slow store
never delays reading submit_sm_resp. Beyond that bound a PDU is answered ESME_RX_T_APPN at once:
the SMSC keeps it and redelivers it later.

The deliver_sm_resp is written only after the callback returned: persistence before
acknowledgement. A callback that raises is answered ESME_RX_T_APPN (temporary application
error), so the SMSC retries. Concatenated MO parts are acknowledged as they arrive and joined in
memory (see ``reassembly`` for the loss window this leaves).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from todoke.carriers.smpp.pdu import CommandStatus, DataSm, DeliverSm, TlvTag, find_tlv
from todoke.carriers.smpp.reassembly import PartialMessage, PartKey, Reassembler, sar_concat_info
from todoke.carriers.smpp.receipt import Receipt, receipt_from_deliver_sm
from todoke.carriers.smpp.segments import decode_short_message

if TYPE_CHECKING:
    from todoke.carriers.smpp.connector import SmppConfig
    from todoke.carriers.smpp.session import SmppSession

_OK = CommandStatus.ESME_ROK
_RETRY = CommandStatus.ESME_RX_T_APPN  # "temporary application error": the SMSC redelivers


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A deliver_sm that is not a receipt (MO), its parts reassembled.

    ``source`` is E.164 with '+' when the SMSC marked it international (TON 1), else as sent;
    ``destination`` is our sender code as the SMSC sent it.
    """

    connector: str
    source: str
    destination: str
    text: str
    received_at_ms: int


@dataclass(frozen=True, slots=True)
class ReceiptEvent:
    """A delivery receipt from one connector; ``receipt.message_id`` is as the SMSC quoted it
    (match it with ``receipt.message_id_candidates``)."""

    connector: str
    receipt: Receipt
    received_at_ms: int


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _address(addr: str, ton: int) -> str:
    return f"+{addr}" if ton == 1 and addr.isascii() and addr.isdigit() else addr


class InboundRouter:
    """Handles receipts and MO for one connector; counts what it handed on."""

    def __init__(
        self,
        config: SmppConfig,
        *,
        on_receipt: Callable[[ReceiptEvent], Awaitable[None]],
        on_inbound: Callable[[InboundMessage], Awaitable[None]],
        log: Any,
    ) -> None:
        self._name = config.name
        self._packed = config.gsm7_packed
        self._limit = config.max_inbound
        self._on_receipt = on_receipt
        self._on_inbound = on_inbound
        self._log = log
        self._reassembler = Reassembler(config.mo_reassembly_timeout)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.receipts = 0
        self.inbound = 0

    @property
    def busy(self) -> int:
        """PDUs being handled now."""
        return len(self._tasks)

    def start(self) -> None:
        """Start expiring incomplete MO messages."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        """Cancel the handlers still running (their PDUs stay unacknowledged: redelivered)."""
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        self._sweeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def on_pdu(self, session: SmppSession, pdu: DeliverSm | DataSm) -> None:
        """Called by the session's read path: never blocks, never raises."""
        if len(self._tasks) >= self._limit:
            self._log.warning("smpp.inbound_overflow", limit=self._limit)
            session.respond(pdu, _RETRY)
            return
        task = asyncio.get_running_loop().create_task(self._handle(session, pdu))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, session: SmppSession, pdu: DeliverSm | DataSm) -> None:
        received = now_ms()
        try:
            receipt = receipt_from_deliver_sm(pdu)
            if receipt is not None:
                status = await self._receipt(receipt, received)
            else:
                status = await self._mo(pdu, received)
        except Exception:  # a bug here must not lose the PDU: the SMSC will redeliver it
            self._log.exception("smpp.inbound_failed", command_id=pdu.command_id)
            status = _RETRY
        session.respond(pdu, status)

    async def _receipt(self, receipt: Receipt, received: int) -> int:
        try:
            await self._on_receipt(ReceiptEvent(self._name, receipt, received))
        except Exception:
            self._log.exception("smpp.receipt_failed", message_id=receipt.message_id)
            return _RETRY
        self.receipts += 1
        return _OK

    async def _mo(self, pdu: DeliverSm | DataSm, received: int) -> int:
        payload = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        if not payload:  # data_sm, and deliver_sm from SMSCs that use message_payload
            tlv = find_tlv(pdu.tlvs, TlvTag.MESSAGE_PAYLOAD)
            payload = tlv.value if tlv is not None else b""
        text, info = decode_short_message(
            pdu.data_coding, pdu.esm_class, payload, packed=self._packed
        )
        info = info or sar_concat_info(pdu.tlvs)
        source = _address(pdu.source_addr, pdu.source_addr_ton)
        destination = _address(pdu.destination_addr, pdu.dest_addr_ton)
        if info is None or info.total == 1:
            return await self._deliver(source, destination, text, received)
        key = PartKey(source, destination, info.ref, info.total)
        message = self._reassembler.add(key, info.seq, text, asyncio.get_running_loop().time())
        if message is None:
            return _OK  # held until the other parts come
        status = await self._deliver(source, destination, message.text, received)
        if status == _OK:
            self._reassembler.delivered(message)
        else:
            self._reassembler.failed(message)
        return status

    async def _deliver(self, source: str, destination: str, text: str, received: int) -> int:
        try:
            await self._on_inbound(InboundMessage(self._name, source, destination, text, received))
        except Exception:
            self._log.exception("smpp.inbound_failed", command_id=None)
            return _RETRY
        self.inbound += 1
        return _OK

    async def _sweep(self) -> None:
        period = max(0.05, min(1.0, self._reassembler.timeout / 4))
        while True:
            await asyncio.sleep(period)
            for message in self._reassembler.expired(asyncio.get_running_loop().time()):
                await self._expire(message)

    async def _expire(self, message: PartialMessage) -> None:
        """Hand on what arrived of a message whose other parts never came: its parts were
        acknowledged, so dropping them would lose them for good."""
        key = message.key
        self._log.warning("smpp.mo_incomplete", parts=len(message.parts), total=key.total)
        status = await self._deliver(key.source, key.destination, message.text, now_ms())
        if status != _OK:
            self._log.error("smpp.mo_lost", parts=len(message.parts), total=key.total)
