"""One client connection to the simulated SMSC: the server side of an SMPP 3.4 session.

An ``asyncio.Protocol`` rather than streams: the simulator answers thousands of submit_sm a
second and must not be what limits a benchmark. Frames are cut by the codec's ``PduReader``;
answers are gathered while a read is processed and written with one ``transport.write``.

Session rules (SMPP 3.4, 2.3): a bind is answered once (ESME_RALYBND for a second one);
submit_sm needs a transmitter or transceiver bind (ESME_RINVBNDSTS); enquire_link is answered
in any state; a PDU that cannot be decoded gets generic_nack with the codec's status, and lost
framing closes the connection after it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

import structlog

from todoke.carriers.simulator.outbox import Outbound
from todoke.carriers.smpp.pdu import (
    BindKind,
    BindRequest,
    BindResponse,
    CommandStatus,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    PduReader,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    TlvTag,
    Unbind,
    UnbindResp,
    decode,
    encode,
)
from todoke.domain.carrier import Carrier

log = structlog.get_logger(__name__)

SMSC_SYSTEM_ID = "TODOKESIM"
_SC_INTERFACE_VERSION = (Tlv.of_int(TlvTag.SC_INTERFACE_VERSION, 0x34),)
_MAX_SEQUENCE = 0x7FFFFFFF


class TokenBucket:
    """A rate limit of ``rate`` per second with bursts of ``rate / 5`` (200 ms worth, at
    least 1): a client pacing itself at the agreed rate passes, a burst above it is refused."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, now: float) -> None:
        self._rate = rate
        self._burst = max(1.0, rate / 5)
        self._tokens = self._burst
        self._last = now

    def take(self, now: float) -> bool:
        """Use one token if there is one."""
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Smsc(Protocol):
    """What a connection asks of the simulator."""

    def authenticate(self, bind: BindRequest) -> int:
        """The command_status to answer ``bind`` with (0: accepted)."""
        ...

    def bound(self, conn: SmppServerConnection) -> None:
        """``conn`` is now bound (``conn.kind`` says how)."""
        ...

    def unbound(self, conn: SmppServerConnection) -> None:
        """``conn`` unbound or dropped; called once."""
        ...

    def submit(self, conn: SmppServerConnection, pdu: SubmitSm) -> SubmitSmResp:
        """Take one submit_sm from a transmitter or transceiver and answer it."""
        ...

    def answered(self, conn: SmppServerConnection, sequence: int, status: int) -> None:
        """The client answered our deliver_sm ``sequence`` with ``status``."""
        ...


class SmppServerConnection(asyncio.Protocol):
    """The SMSC side of one SMPP session (see the module docstring)."""

    def __init__(self, smsc: Smsc) -> None:
        self._smsc = smsc
        self._reader = PduReader()
        self._out: list[bytes] = []
        self._sequence = 0
        self.transport: asyncio.Transport | None = None
        self.kind: BindKind | None = None
        self.system_id = ""
        self.peer = ""
        self.inflight: dict[int, tuple[Outbound, float]] = {}
        self.buckets: dict[Carrier, TokenBucket] = {}  # throttling per carrier, per bind
        self._closed = False

    # --- Receiver (outbox) interface ---------------------------------------------------------

    def next_sequence(self) -> int:
        """A fresh sequence_number for a PDU we send (1..0x7FFFFFFF, wrapping)."""
        self._sequence = self._sequence % _MAX_SEQUENCE + 1
        return self._sequence

    def write(self, frame: bytes) -> None:
        """Queue one frame; ``flush`` sends what is queued."""
        self._out.append(frame)

    def flush(self) -> None:
        """Send the queued frames with one write."""
        if self._out:
            if self.transport is not None and not self._closed:
                self.transport.write(b"".join(self._out))
            self._out.clear()

    @property
    def can_transmit(self) -> bool:
        """Bound as transmitter or transceiver: may submit."""
        return self.kind in (BindKind.TRANSMITTER, BindKind.TRANSCEIVER)

    @property
    def can_receive(self) -> bool:
        """Bound as receiver or transceiver: gets deliver_sm."""
        return self.kind in (BindKind.RECEIVER, BindKind.TRANSCEIVER)

    def drop(self) -> None:
        """Close the connection at once, without unbind (a drill's "SMSC disconnects")."""
        self._lost()
        if self.transport is not None:
            self.transport.abort()

    def close(self, *, unbind: bool = False) -> None:
        """Close after the queued frames are written, saying unbind first when asked."""
        if unbind and self.kind is not None and not self._closed:
            self.write(encode(Unbind(sequence_number=self.next_sequence())))
            self.flush()
        self._lost()
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        self.transport = None

    def pause_writing(self) -> None:
        # The client does not read: stop reading its submits until it catches up.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
        except PduError as e:
            # Framing is lost: nothing after this can be trusted. Answer, then close.
            self.write(
                encode(GenericNack(sequence_number=e.sequence_number or 0, command_status=e.status))
            )
            self.flush()
            log.warning("simulator.framing_lost", peer=self.peer, status=f"0x{e.status:02X}")
            self.close()
            return
        for frame in frames:
            if self._closed:
                break
            try:
                pdu = decode(frame)
            except PduError as e:
                self._nack(e)
                continue
            self._handle(pdu)
        self.flush()

    def _nack(self, error: PduError) -> None:
        nack = GenericNack(sequence_number=error.sequence_number or 0, command_status=error.status)
        self.write(encode(nack))

    # --- dispatch --------------------------------------------------------------------------

    def _handle(self, pdu: Pdu) -> None:
        seq = pdu.sequence_number
        if isinstance(pdu, SubmitSm):
            if not self.can_transmit:
                status = CommandStatus.ESME_RINVBNDSTS
                self.write(encode(SubmitSmResp(sequence_number=seq, command_status=status)))
            else:
                self.write(encode(self._smsc.submit(self, pdu)))
        elif isinstance(pdu, DeliverSmResp | GenericNack):
            self._smsc.answered(self, seq, pdu.command_status)
        elif isinstance(pdu, EnquireLink):
            self.write(encode(EnquireLinkResp(sequence_number=seq)))
        elif isinstance(pdu, BindRequest):
            self._bind(pdu)
        elif isinstance(pdu, Unbind):
            self.write(encode(UnbindResp(sequence_number=seq)))
            self.flush()
            self.close()
        elif isinstance(pdu, QuerySm):
            # The simulator keeps no per-message state to query.
            status = CommandStatus.ESME_RQUERYFAIL
            self.write(encode(QuerySmResp(sequence_number=seq, command_status=status)))
        elif pdu.command_id & 0x80000000:
            pass  # enquire_link_resp, unbind_resp: nothing to do
        else:
            status = CommandStatus.ESME_RINVCMDID
            self.write(encode(GenericNack(sequence_number=seq, command_status=status)))

    def _bind(self, pdu: BindRequest) -> None:
        if self.kind is not None:
            status: int = CommandStatus.ESME_RALYBND
        else:
            status = self._smsc.authenticate(pdu)
        resp = BindResponse(
            pdu.kind,
            system_id=SMSC_SYSTEM_ID if status == 0 else "",
            tlvs=_SC_INTERFACE_VERSION if status == 0 else (),
            sequence_number=pdu.sequence_number,
            command_status=status,
        )
        self.write(encode(resp))
        if status != 0:
            log.info("simulator.bind_refused", peer=self.peer, status=f"0x{status:02X}")
            return
        self.kind = pdu.kind
        self.system_id = pdu.system_id
        self.flush()  # the bind_resp goes before any queued receipt
        self._smsc.bound(self)

    def _lost(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._smsc.unbound(self)
