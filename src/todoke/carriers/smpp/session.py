"""One SMPP connection: framing, sequence numbers, the window, keep-alive and response timeouts.

``SmppSession`` is an ``asyncio.Protocol``: bytes are cut into frames and decoded in
``data_received`` and responses resolve their waiters there, synchronously, so that a slow
consumer elsewhere never delays reading submit_sm_resp. The session knows nothing of messages:
the connector builds the frames, binds, and handles deliver_sm / data_sm through ``on_request``.

Requests are pre-encoded frames with sequence_number 0; ``send`` patches in the next sequence
number, so a part resubmitted after throttling is encoded once. A request's future resolves to
the response PDU (a ``GenericNack`` included), or to ``None`` when the connection was lost first
(closed by the peer, a response timeout, a framing error): then the outcome is unknown. Futures
never carry exceptions, so an abandoned one never logs "exception was never retrieved".
"""

from __future__ import annotations

import asyncio
import collections
import struct
from collections.abc import Callable
from typing import Any, Final, cast

from todoke.carriers.smpp.pdu import (
    RESPONSE_BIT,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    PduReader,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from todoke.domain.status import Cause
from todoke.errors import TemporaryCarrierError

_SEQ: Final = struct.Struct(">I")
_MAX_SEQUENCE: Final = 0x7FFFFFFF  # SMPP 3.4, 5.1.4: 0x00000001 to 0x7FFFFFFF
_ENQUIRE_LINK: Final = encode(EnquireLink())
_CLOSE_GRACE: Final = 1.0  # seconds a graceful close may take to flush before it aborts

InboundHandler = Callable[["SmppSession", DeliverSm | DataSm], None]


class SmppSession(asyncio.Protocol):
    """The protocol of one TCP connection to an SMSC (see the module docstring).

    ``window`` bounds the windowed requests (submit_sm) awaiting a response; binds, unbinds and
    enquire_links go outside the window so that keep-alive works when the window is full.
    """

    def __init__(
        self,
        *,
        name: str,
        window: int,
        response_timeout: float,
        enquire_link_interval: float,
        on_inbound: InboundHandler,
        log: Any,
    ) -> None:
        self._name = name
        self._window = window
        self._free = window
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._response_timeout = response_timeout
        self._enquire_interval = enquire_link_interval
        self._on_inbound = on_inbound
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._reader = PduReader()
        self._transport: asyncio.Transport | None = None
        # sequence_number -> (waiter or None for fire-and-forget, sent at, windowed)
        self._pending: dict[int, tuple[asyncio.Future[Pdu | None] | None, float, bool]] = {}
        self._seq = 0
        self._last_rx = self._loop.time()
        self._enquire_seq = 0
        self._out: list[bytes] = []
        self._flush_soon = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._keeper: asyncio.Task[None] | None = None
        self._done: asyncio.Future[str] = self._loop.create_future()
        self._close_reason = "closed by peer"
        self.bound = False

    # --- state ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """The connection is gone (or going): nothing more can be sent."""
        return self._done.done() or self._transport is None or self._transport.is_closing()

    @property
    def in_flight(self) -> int:
        """Windowed requests sent and not yet answered."""
        return self._window - self._free

    async def wait_closed(self) -> str:
        """Wait until the connection is lost; returns why."""
        return await asyncio.shield(self._done)

    def abort(self, reason: str) -> None:
        """Drop the connection at once (broken link: timeouts, framing lost)."""
        self._close_reason = reason
        if self._transport is not None:
            self._transport.abort()

    def close(self, reason: str) -> None:
        """Close after flushing what is written; abort if that takes too long."""
        self._close_reason = reason
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._flush()
            transport.close()
            self._loop.call_later(_CLOSE_GRACE, transport.abort)

    # --- sending ----------------------------------------------------------------------------

    async def send(
        self, frame: bytes, *, windowed: bool, unless: Callable[[], bool] | None = None
    ) -> asyncio.Future[Pdu | None] | None:
        """Write the request ``frame`` under a new sequence number; return its response future.

        A windowed request first waits for a free slot; if ``unless()`` is then true, nothing
        is sent and the result is ``None`` (a message whose earlier part was refused while this
        one waited). Raises ``TemporaryCarrierError`` when the connection is lost before the
        request could be written (nothing was sent).
        """
        if windowed:
            await self._acquire_slot()
        if self.closed or (unless is not None and unless()):
            if windowed:
                self._release_slot()
            if self.closed:
                raise self._lost()
            return None
        fut: asyncio.Future[Pdu | None] = self._loop.create_future()
        self._write_request(frame, fut, windowed)
        if self._write_paused:
            await self._drain()
        return fut

    async def request(self, frame: bytes) -> Pdu | None:
        """Send an unwindowed request and wait for its response (``None``: connection lost)."""
        fut = await self.send(frame, windowed=False)
        assert fut is not None  # no ``unless``
        return await fut

    def respond(self, pdu: Pdu, status: int = CommandStatus.ESME_ROK) -> None:
        """Answer an inbound deliver_sm or data_sm; dropped if the connection is gone (the SMSC
        then redelivers it on the next bind)."""
        resp_cls = DataSmResp if isinstance(pdu, DataSm) else DeliverSmResp
        self._write(encode(resp_cls(sequence_number=pdu.sequence_number, command_status=status)))

    def _write_request(
        self, frame: bytes, fut: asyncio.Future[Pdu | None] | None, windowed: bool
    ) -> int:
        seq = self._seq = self._seq + 1 if self._seq < _MAX_SEQUENCE else 1
        self._pending[seq] = (fut, self._loop.time(), windowed)
        self._write(frame[:12] + _SEQ.pack(seq) + frame[16:])
        return seq

    def _write(self, data: bytes) -> None:
        """Queue ``data``; everything written in one event-loop turn leaves in one send()."""
        self._out.append(data)
        if not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        if self._out and not self.closed:
            assert self._transport is not None
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _lost(self) -> TemporaryCarrierError:
        return TemporaryCarrierError(
            f"connector {self._name}: connection lost ({self._close_reason})",
            cause=Cause.SYSTEM_ERROR,
        )

    # --- the window ---------------------------------------------------------------------------

    async def _acquire_slot(self) -> None:
        if self._free > 0 and not self._slot_waiters:
            self._free -= 1
            return
        if self.closed:
            raise self._lost()
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            # A cancelled waiter stays queued and is skipped by _release_slot.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release_slot()  # granted just as we were cancelled: hand it on
            raise

    def _release_slot(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next waiter
                return
        self._free += 1

    async def _drain(self) -> None:
        """Wait for the transport's buffer to fall below its low-water mark (or the
        connection to go: the request's future then resolves to None)."""
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._last_rx = self._loop.time()
        self._keeper = self._loop.create_task(self._keep())

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._close_reason == "closed by peer":
            self._close_reason = f"{type(exc).__name__}: {exc}"
        pending, self._pending = self._pending, {}
        for fut, _, _ in pending.values():
            if fut is not None and not fut.done():
                fut.set_result(None)  # no response: the outcome is unknown
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self._lost())
        self._wake_drainers()
        if self._keeper is not None and self._keeper is not asyncio.current_task():
            self._keeper.cancel()
        if not self._done.done():
            self._done.set_result(self._close_reason)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainers()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        try:
            frames = self._reader.feed(data)
            while frames:
                for frame in frames:
                    self._frame(frame)
                # A bad length behind good frames raises only on the next split: look now,
                # rather than when the peer happens to send more.
                frames = self._reader.feed(b"") if self._reader.buffered >= 4 else []
        except PduError as e:
            self._log.warning("smpp.framing_lost", error=str(e))
            self.abort("framing lost")

    def _frame(self, frame: bytes) -> None:
        try:
            pdu = decode(frame)
        except PduError as e:
            self._undecodable(e)
            return
        try:
            self._dispatch(pdu)
        except Exception:  # the read loop never dies on one PDU
            self._log.exception("smpp.dispatch_failed", command_id=pdu.command_id)

    def _undecodable(self, e: PduError) -> None:
        cid = e.command_id or 0
        self._log.warning(
            "smpp.pdu_undecodable",
            command_id=cid,
            sequence_number=e.sequence_number,
            status=e.status,
            error=str(e),
        )
        if cid & RESPONSE_BIT:
            # An unreadable response (a submit_sm_resp whose message_id we cannot read): its
            # request's outcome is unknown, which is what None says.
            entry = self._pending.pop(e.sequence_number or 0, None)
            if entry is not None:
                self._resolve(entry, None)
            return
        nack = GenericNack(sequence_number=e.sequence_number or 0, command_status=e.status)
        self._write(encode(nack))

    def _dispatch(self, pdu: Pdu) -> None:
        if pdu.command_id & RESPONSE_BIT:  # generic_nack included: it answers our request
            entry = self._pending.pop(pdu.sequence_number, None)
            if entry is None:
                self._log.warning(
                    "smpp.unexpected_response",
                    command_id=pdu.command_id,
                    sequence_number=pdu.sequence_number,
                    status=pdu.command_status,
                )
                return
            self._resolve(entry, pdu)
        elif isinstance(pdu, DeliverSm | DataSm):
            self._on_inbound(self, pdu)
        elif isinstance(pdu, EnquireLink):
            self._write(encode(EnquireLinkResp(sequence_number=pdu.sequence_number)))
        elif isinstance(pdu, Unbind):
            self._log.info("smpp.unbind_received")
            self._write(encode(UnbindResp(sequence_number=pdu.sequence_number)))
            self.bound = False
            self.close("unbound by peer")
        else:  # submit_sm, bind, query_sm ... sent to an ESME make no sense
            self._log.warning("smpp.unsupported_request", command_id=pdu.command_id)
            nack = GenericNack(
                sequence_number=pdu.sequence_number, command_status=CommandStatus.ESME_RINVCMDID
            )
            self._write(encode(nack))

    def _resolve(
        self, entry: tuple[asyncio.Future[Pdu | None] | None, float, bool], pdu: Pdu | None
    ) -> None:
        fut, _, windowed = entry
        if windowed:
            self._release_slot()
        if fut is not None and not fut.done():
            fut.set_result(pdu)

    # --- keep-alive and timeouts ----------------------------------------------------------------

    async def _keep(self) -> None:
        """One timer per connection instead of one per request: every tick, the oldest request
        (dicts keep insertion order, which is send order) is checked against the timeout, and an
        enquire_link goes out when nothing was received for an interval."""
        tick = max(0.01, min(1.0, self._response_timeout / 4, self._enquire_interval / 2))
        while not self.closed:
            await asyncio.sleep(tick)
            now = self._loop.time()
            if self._pending:
                _, sent_at, _ = next(iter(self._pending.values()))
                if now - sent_at > self._response_timeout:
                    self._log.warning(
                        "smpp.response_timeout",
                        timeout=self._response_timeout,
                        in_flight=len(self._pending),
                    )
                    self.abort("response timeout")
                    return
            idle = now - self._last_rx >= self._enquire_interval
            if self.bound and idle and self._enquire_seq not in self._pending:
                self._enquire_seq = self._write_request(_ENQUIRE_LINK, None, False)
