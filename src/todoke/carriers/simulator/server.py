"""The simulated SMSC: listening socket, submit_sm handling, drills (disconnect, restart,
maintenance) and inbound messages.

Each submit_sm is answered at once; its receipt is scheduled on the outboxes (``outbox.py``)
after the delay its ``Decision`` (``outcomes.py``) gives. Concatenated parts are grouped by
(system_id, source, destination, reference, total) so that one decision covers the whole
message and ``stats.messages`` counts reassembled messages; a part number seen again starts a
new message (a resubmission reusing its reference).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import structlog

from todoke.carriers.simulator.connection import SmppServerConnection, TokenBucket
from todoke.carriers.simulator.outbox import Outbound, Outboxes
from todoke.carriers.simulator.outcomes import Decision, OutcomePlanner
from todoke.carriers.simulator.profiles import DEFAULT_PROFILES, CarrierProfile
from todoke.carriers.simulator.receipts import JstClock, build_mo, build_receipt, format_ids
from todoke.carriers.simulator.stats import SimulatorStats
from todoke.carriers.smpp.pdu import (
    BindRequest,
    CommandStatus,
    SubmitSm,
    SubmitSmResp,
    TlvTag,
    find_tlv,
)
from todoke.carriers.smpp.segments import ConcatInfo, decode_short_message
from todoke.domain.carrier import Carrier
from todoke.domain.phone import carrier_of_block
from todoke.domain.status import Cause
from todoke.errors import InvalidPhoneNumber

log = structlog.get_logger(__name__)

# Maintenance answers 0x45 ESME_RSUBMITFAIL rather than 0x08 ESME_RSYSERR: the SMSC and the
# session are healthy, only submissions towards one carrier are refused for a while, and a
# client may reasonably rebind on a system error. Both classify as the temporary SYSTEM_ERROR.
MAINTENANCE_STATUS: Final = CommandStatus.ESME_RSUBMITFAIL
# What a recipient answers when the simulator makes it reply (``mo_reply_rate``).
MO_REPLIES: Final = ("はい", "了解しました", "ありがとうございます", "OK, thanks!")
_MAX_OPEN_GROUPS: Final = 100_000
_CARRIER_NAMES: Final = {c.value: c for c in Carrier}


def _default_profiles() -> Mapping[Carrier, CarrierProfile]:
    return DEFAULT_PROFILES


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Settings of one simulator.

    ``port`` 0 picks a free port. ``seed`` fixes the outcome draws; ``time_factor`` scales
    every simulated delay (0.001 makes au's 20-minute failure receipts 1.2 s). ``system_id``
    and ``password`` ``None`` accept any credentials; when ``system_id`` is set, the carrier
    names ("docomo", "au", "softbank", "rakuten") are accepted too, so that one simulator can
    serve one connector per carrier. ``mo_reply_rate`` is the probability that a delivered
    message gets a reply. ``window`` bounds unanswered deliver_sm per connection; a deliver_sm
    not answered OK within ``resp_timeout`` seconds is sent again after ``retry_delay``
    (doubling with each attempt, up to a minute), at most ``max_attempts`` times in all. These
    protocol timers are not scaled by ``time_factor``.
    """

    host: str = "127.0.0.1"
    port: int = 2775
    seed: int = 0
    time_factor: float = 1.0
    profiles: Mapping[Carrier, CarrierProfile] = field(default_factory=_default_profiles)
    system_id: str | None = None
    password: str | None = field(default=None, repr=False)
    mo_reply_rate: float = 0.0
    window: int = 64
    resp_timeout: float = 5.0
    retry_delay: float = 1.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if not self.time_factor >= 0:
            raise ValueError("time_factor must be >= 0")
        if not 0.0 <= self.mo_reply_rate <= 1.0:
            raise ValueError("mo_reply_rate must be within 0..1")
        if self.window < 1 or self.max_attempts < 1:
            raise ValueError("window and max_attempts must be >= 1")


@dataclass(slots=True)
class _Group:
    """The parts of one concatenated message received so far."""

    decision: Decision
    texts: dict[int, str]


class CarrierSimulator:
    """An SMPP 3.4 SMSC on loopback that behaves like the Japanese carriers (package docs)."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config = config or SimulatorConfig()
        self.stats = SimulatorStats()
        self._planner = OutcomePlanner(
            seed=config.seed, time_factor=config.time_factor, mo_reply_rate=config.mo_reply_rate
        )
        self._outboxes = Outboxes(
            self.stats,
            window=config.window,
            resp_timeout=config.resp_timeout,
            retry_delay=config.retry_delay,
            max_attempts=config.max_attempts,
        )
        self._connections: set[SmppServerConnection] = set()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._maintenance: set[Carrier] = set()
        self._groups: dict[tuple[str, str, str, int, int], _Group] = {}
        self._unrouted_mo: list[tuple[list[bytes], str]] = []
        # Ids start from the wall clock so that they never repeat across simulator processes
        # (a platform correlates receipts by id); +1 per part keeps them unique and monotonic.
        self._last_id = int(time.time() * 1000) * 1000
        self._mo_ref = 0
        self._jst = JstClock()

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The listening (host, port); ``RuntimeError`` before ``start``."""
        if self._address is None:
            raise RuntimeError("the simulator is not started")
        return self._address

    async def start(self) -> tuple[str, int]:
        """Listen; return the address (the real port when ``port`` was 0)."""
        self._loop = asyncio.get_running_loop()
        self._outboxes.start(self._loop)
        await self._listen(self.config.host, self.config.port)
        log.info("simulator.started", host=self.address[0], port=self.address[1])
        return self.address

    async def stop(self) -> None:
        """Unbind every client, stop listening and stop the timers."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.close(unbind=True)
        if server is not None:
            await server.wait_closed()
        self._outboxes.close()
        log.info("simulator.stopped", pending=self._outboxes.pending())

    def disconnect_all(self) -> None:
        """Drop every client connection at once, without unbind (drill: SMSC disconnects).

        Receipts in flight on them are queued again for the next bind.
        """
        dropped = list(self._connections)
        for conn in dropped:
            conn.drop()
        log.info("simulator.disconnected_all", connections=len(dropped))

    async def restart(self, down_for: float) -> None:
        """Stop listening and drop every client; listen again on the same address after
        ``down_for`` seconds (drill: SMSC restarts). Pending receipts survive."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.disconnect_all()
        if server is not None:
            await server.wait_closed()
        log.info("simulator.down", seconds=down_for)
        await asyncio.sleep(down_for)
        host, port = self.address
        await self._listen(host, port)
        log.info("simulator.up", host=host, port=port)

    def set_maintenance(self, carrier: Carrier | None, on: bool) -> None:
        """Start or end maintenance for one carrier (``None``: all). During maintenance a
        submit_sm towards it is answered ESME_RSUBMITFAIL (0x45, temporary)."""
        carriers = list(Carrier) if carrier is None else [carrier]
        if on:
            self._maintenance.update(carriers)
        else:
            self._maintenance.difference_update(carriers)
        log.info("simulator.maintenance", carriers=[str(c) for c in carriers], on=on)

    @property
    def connection_count(self) -> int:
        """Client connections open now."""
        return len(self._connections)

    @property
    def pending_deliveries(self) -> int:
        """Receipts and inbound messages not yet acknowledged by a client."""
        return self._outboxes.pending()

    async def _listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, host, port)
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))

    def _new_connection(self) -> SmppServerConnection:
        conn = SmppServerConnection(self)
        self._connections.add(conn)
        return conn

    # --- inbound messages ------------------------------------------------------------------

    async def send_mo(self, source: str, destination: str, text: str) -> None:
        """Inject a message from handset ``source`` to ``destination`` (a sender code).

        One copy goes to each system_id with a receiver or transceiver bound (to the least
        busy bind of each: several binds of one account must not see it twice); with none
        bound, to each system_id bound before (queued until it binds again), else to the
        first receiver that binds. Long texts are concatenated (UDH). Returns once queued.
        """
        self._mo_ref = (self._mo_ref + 1) & 0xFF
        frames = build_mo(
            source=source.removeprefix("+"),
            destination=destination.removeprefix("+"),
            text=text,
            ref=self._mo_ref,
        )
        targets = self._outboxes.bound_system_ids() or self._outboxes.system_ids()
        if not targets:
            self._unrouted_mo.append((frames, source))
            return
        for system_id in targets:
            self._queue_mo(system_id, frames, 0.0)

    def _queue_mo(self, system_id: str, frames: list[bytes], delay: float) -> None:
        for frame in frames:
            self._outboxes.schedule(system_id, Outbound(frame, False, "mo"), delay)

    # --- Smsc interface (called by connections) ----------------------------------------------

    def authenticate(self, bind: BindRequest) -> int:
        """ESME_ROK, or why the bind is refused."""
        cfg = self.config
        if (
            cfg.system_id is not None
            and bind.system_id != cfg.system_id
            and bind.system_id.lower() not in _CARRIER_NAMES
        ):
            return CommandStatus.ESME_RINVSYSID
        if cfg.password is not None and not hmac.compare_digest(
            bind.password.encode("latin-1"), cfg.password.encode("latin-1")
        ):
            return CommandStatus.ESME_RINVPASWD
        return CommandStatus.ESME_ROK

    def bound(self, conn: SmppServerConnection) -> None:
        """A client bound."""
        self.stats.binds += 1
        kind = conn.kind.name.lower() if conn.kind is not None else None
        log.info("simulator.bound", peer=conn.peer, system_id=conn.system_id, kind=kind)
        if conn.can_receive:
            self._outboxes.attach(conn)
            if self._unrouted_mo:
                held, self._unrouted_mo = self._unrouted_mo, []
                for frames, _source in held:
                    self._queue_mo(conn.system_id, frames, 0.0)

    def unbound(self, conn: SmppServerConnection) -> None:
        """A client unbound or its connection dropped."""
        self._connections.discard(conn)
        if conn.kind is not None:
            log.info("simulator.unbound", peer=conn.peer, system_id=conn.system_id)
            self._outboxes.detach(conn)

    def answered(self, conn: SmppServerConnection, sequence: int, status: int) -> None:
        """A client answered one of our deliver_sm."""
        self._outboxes.answered(conn, sequence, status)

    def submit(self, conn: SmppServerConnection, pdu: SubmitSm) -> SubmitSmResp:
        """Answer one submit_sm and schedule its receipt."""
        stats = self.stats
        stats.submits += 1
        seq = pdu.sequence_number
        destination = pdu.destination_addr.removeprefix("+")
        if not destination.isdigit():
            return self._refuse(seq, CommandStatus.ESME_RINVDSTADR)
        carrier = self._carrier_for(conn.system_id, destination)
        profile = self.config.profiles.get(carrier) or DEFAULT_PROFILES[carrier]
        if carrier in self._maintenance:
            stats.maintenance_refusals += 1
            return self._refuse(seq, MAINTENANCE_STATUS)
        if profile.throttle_tps is not None and not self._take_token(conn, carrier, profile):
            stats.throttled += 1
            return self._refuse(seq, CommandStatus.ESME_RTHROTTLED)

        short_message = pdu.short_message
        if not short_message and pdu.tlvs:
            payload = find_tlv(pdu.tlvs, TlvTag.MESSAGE_PAYLOAD)
            short_message = payload.value if payload is not None else b""
        text, info = decode_short_message(pdu.data_coding, pdu.esm_class, short_message)
        if info is None and pdu.tlvs:
            info = _sar_info(pdu)

        group: _Group | None = None
        key: tuple[str, str, str, int, int] | None = None
        part, total = (1, 1) if info is None else (info.seq, info.total)
        if info is not None and total > 1:
            key = (conn.system_id, pdu.source_addr, destination, info.ref, total)
            group = self._groups.get(key)
            if group is not None and part in group.texts:
                group = None  # this part again: a resubmission starts a new message
        if group is None:
            decision = self._planner.decide(profile, destination, total)
            if decision.submit_status:
                return self._refuse(seq, decision.submit_status)
            stats.by_outcome[decision.cause] += 1
            stats.by_carrier[carrier] += 1
            if key is not None:
                group = self._open_group(key, decision)
        else:
            decision = group.decision

        self._last_id += 1
        resp_id, receipt_id = format_ids(self._last_id, profile.id_style)
        stats.parts_accepted += 1
        self._schedule_receipt(conn, pdu, profile, decision, part, resp_id, receipt_id, text)

        if group is None:
            self._complete(conn, pdu, destination, text, decision)
        else:
            group.texts[part] = text
            if len(group.texts) == total and key is not None:
                del self._groups[key]
                whole = "".join(group.texts[i] for i in sorted(group.texts))
                self._complete(conn, pdu, destination, whole, decision)
        return SubmitSmResp(message_id=resp_id, sequence_number=seq)

    # --- submit helpers ----------------------------------------------------------------------

    def _refuse(self, seq: int, status: int) -> SubmitSmResp:
        self.stats.refused[status] += 1
        return SubmitSmResp(sequence_number=seq, command_status=status)

    def _carrier_for(self, system_id: str, destination: str) -> Carrier:
        # A carrier-named bind picks its profile; else the number's block; else docomo.
        named = _CARRIER_NAMES.get(system_id.lower())
        if named is not None:
            return named
        try:
            return carrier_of_block(destination) or Carrier.DOCOMO
        except InvalidPhoneNumber:
            return Carrier.DOCOMO

    def _take_token(
        self, conn: SmppServerConnection, carrier: Carrier, profile: CarrierProfile
    ) -> bool:
        assert self._loop is not None and profile.throttle_tps is not None
        now = self._loop.time()
        bucket = conn.buckets.get(carrier)
        if bucket is None:
            bucket = conn.buckets[carrier] = TokenBucket(profile.throttle_tps, now)
        return bucket.take(now)

    def _open_group(self, key: tuple[str, str, str, int, int], decision: Decision) -> _Group:
        # A client that never sends the rest of a message must not grow memory without bound.
        if len(self._groups) >= _MAX_OPEN_GROUPS:
            del self._groups[next(iter(self._groups))]
        group = self._groups[key] = _Group(decision, {})
        return group

    def _schedule_receipt(
        self,
        conn: SmppServerConnection,
        pdu: SubmitSm,
        profile: CarrierProfile,
        decision: Decision,
        part: int,
        resp_id: str,
        receipt_id: str,
        text: str,
    ) -> None:
        # registered_delivery bits 0-1 (SMPP 3.4, 5.2.17): 1 always, 2 on failure only; 3 is
        # reserved in 3.4 and "success only" in SMPP 5.0, which is how it is read here.
        wanted = pdu.registered_delivery & 0x03
        if not wanted or not decision.receipt_copies:
            return
        cause = decision.part_cause(part)
        ok = cause is Cause.DELIVERED
        if (wanted == 2 and ok) or (wanted == 3 and not ok):
            return
        delay = decision.delay_ok if ok else decision.delay_fail
        now = time.time()
        digits = profile.receipt_date_digits
        frame = build_receipt(
            resp_id=resp_id,
            receipt_id=receipt_id,
            handset=pdu.destination_addr,
            sender=pdu.source_addr,
            cause=cause,
            submit_date=self._jst.stamp(now, digits),
            done_date=self._jst.stamp(now + delay, digits),
            text=text,
            tlvs=profile.receipt_tlvs,
        )
        for _ in range(decision.receipt_copies):
            self._outboxes.schedule(conn.system_id, Outbound(frame, True, resp_id), delay)

    def _complete(
        self,
        conn: SmppServerConnection,
        pdu: SubmitSm,
        destination: str,
        text: str,
        decision: Decision,
    ) -> None:
        self.stats.record_message(destination, text)
        # A handset can answer a numeric sender code, never an alphanumeric sender.
        if decision.reply and pdu.source_addr.isdigit():
            reply = MO_REPLIES[int(decision.reply_pick * 1e6) % len(MO_REPLIES)]
            self._mo_ref = (self._mo_ref + 1) & 0xFF
            frames = build_mo(
                source=destination, destination=pdu.source_addr, text=reply, ref=self._mo_ref
            )
            # The recipient reads the message, then answers: after its receipt.
            self._queue_mo(conn.system_id, frames, decision.delay_ok * 2)


def _sar_info(pdu: SubmitSm) -> ConcatInfo | None:
    """Concatenation by SAR TLVs (SMPP 3.4, 5.3.2.22-24) instead of a UDH."""
    ref = find_tlv(pdu.tlvs, TlvTag.SAR_MSG_REF_NUM)
    total = find_tlv(pdu.tlvs, TlvTag.SAR_TOTAL_SEGMENTS)
    seq = find_tlv(pdu.tlvs, TlvTag.SAR_SEGMENT_SEQNUM)
    if ref is None or total is None or seq is None:
        return None
    info = ConcatInfo(ref.as_int() or 0, total.as_int() or 0, seq.as_int() or 0)
    return info if 1 <= info.seq <= info.total else None
