"""The carrier simulator over real loopback sockets.

Interop is proven with smpplib (an independent SMPP client from PyPI, synchronous: it runs in
a thread); the drills use a minimal asyncio client built on our own codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.gsm

from todoke.carriers.simulator import (
    DEFAULT_PROFILES,
    FORCED_SUFFIXES,
    CarrierProfile,
    CarrierSimulator,
    SimulatorConfig,
)
from todoke.carriers.smpp.pdu import (
    BindKind,
    BindRequest,
    BindResponse,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    TlvTag,
    Unbind,
    UnbindResp,
    decode,
    encode,
    find_tlv,
)
from todoke.carriers.smpp.receipt import (
    Receipt,
    message_id_candidates,
    normalize_message_id,
    receipt_from_deliver_sm,
)
from todoke.carriers.smpp.segments import decode_short_message, encode_parts
from todoke.domain.carrier import Carrier
from todoke.domain.status import Cause
from todoke.domain.status_maps import classify_receipt, classify_smpp_error

FAST = 0.0005  # time_factor: receipts within ~2 ms, au failure receipts after ~0.6 s
SENDER = "12345"
PASSWORD = "secret"
_open_clients: list[Client] = []


def dest(suffix: str, prefix: str = "81901234") -> str:
    """A destination as a client sends it (no '+', TON 1) ending in ``suffix``."""
    return prefix + suffix


@pytest.fixture
async def simulators() -> AsyncIterator[Callable[..., Awaitable[CarrierSimulator]]]:
    started: list[CarrierSimulator] = []

    async def make(**config: Any) -> CarrierSimulator:
        config.setdefault("time_factor", FAST)
        sim = CarrierSimulator(SimulatorConfig(port=0, **config))
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for client in _open_clients:
        await client.close()
    _open_clients.clear()
    for sim in started:
        await sim.stop()


class Client:
    """A minimal SMPP client on our codec: pipelined requests, deliver_sm collected.

    ``ack`` picks the command_status answering the n-th deliver_sm (``None``: no answer).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pdus = PduReader()
        self.seq = 0
        self.waiting: dict[int, asyncio.Future[Pdu]] = {}
        self.delivered: asyncio.Queue[tuple[float, DeliverSm]] = asyncio.Queue()
        self.seen = 0
        self.ack: Callable[[DeliverSm, int], int | None] = lambda pdu, n: 0
        self.closed = asyncio.Event()
        self.task = asyncio.create_task(self._read())
        _open_clients.append(self)

    @classmethod
    async def bind(
        cls,
        sim: CarrierSimulator,
        system_id: str = "todoke",
        password: str = PASSWORD,
        kind: BindKind = BindKind.TRANSCEIVER,
    ) -> Client:
        client = await cls.connect(sim)
        resp = await client.request(BindRequest(kind, system_id=system_id, password=password))
        assert isinstance(resp, BindResponse) and resp.command_status == 0, resp
        return client

    @classmethod
    async def connect(cls, sim: CarrierSimulator) -> Client:
        reader, writer = await asyncio.open_connection(*sim.address)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for frame in self.pdus.feed(data):
                    pdu = decode(frame)
                    if isinstance(pdu, DeliverSm):
                        self.seen += 1
                        status = self.ack(pdu, self.seen)
                        if status is not None:
                            resp = DeliverSmResp(
                                sequence_number=pdu.sequence_number, command_status=status
                            )
                            self.writer.write(encode(resp))
                        self.delivered.put_nowait((time.monotonic(), pdu))
                    elif isinstance(pdu, Unbind):
                        self.writer.write(encode(UnbindResp(sequence_number=pdu.sequence_number)))
                    elif pdu.sequence_number in self.waiting:
                        self.waiting.pop(pdu.sequence_number).set_result(pdu)
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()

    def send(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        self.seq += 1
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.waiting[self.seq] = future
        self.writer.write(encode(dataclasses.replace(pdu, sequence_number=self.seq)))
        return future

    async def request(self, pdu: Pdu) -> Pdu:
        return await asyncio.wait_for(self.send(pdu), 5)

    async def submit(
        self, destination: str, text: str = "Your code is 123456", **fields: Any
    ) -> list[SubmitSmResp]:
        """Submit ``text`` (GSM-7 if it fits the alphabet, else UCS-2) as one or more parts."""
        encoding = "GSM7" if text.isascii() else "UCS2"
        ref = fields.pop("ref", 7)
        registered_delivery = fields.pop("registered_delivery", 1)
        futures = []
        for part in encode_parts(text, encoding=encoding, ref=ref):
            pdu = SubmitSm(
                source_addr=SENDER,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=destination,
                esm_class=0x40 if part.esm_class_udhi else 0,
                data_coding=part.data_coding,
                short_message=part.short_message,
                registered_delivery=registered_delivery,
                **fields,
            )
            futures.append(self.send(pdu))
        resps = await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert all(isinstance(r, SubmitSmResp) for r in resps)
        return [r for r in resps if isinstance(r, SubmitSmResp)]

    async def raw(self, command_id: int, body: bytes) -> Pdu:
        """Send a hand-made PDU and wait for the answer with its sequence number."""
        self.seq += 1
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.waiting[self.seq] = future
        head = (16 + len(body)).to_bytes(4) + command_id.to_bytes(4) + bytes(4)
        self.writer.write(head + self.seq.to_bytes(4) + body)
        return await asyncio.wait_for(future, 5)

    async def next_delivered(self, timeout: float = 5.0) -> tuple[float, DeliverSm]:
        return await asyncio.wait_for(self.delivered.get(), timeout)

    async def receipts(self, n: int, timeout: float = 5.0) -> list[Receipt]:
        out = []
        for _ in range(n):
            _at, pdu = await self.next_delivered(timeout)
            receipt = receipt_from_deliver_sm(pdu)
            assert receipt is not None, pdu
            out.append(receipt)
        return out

    async def close(self) -> None:
        self.writer.close()
        await self.closed.wait()
        await self.task
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def cause_of(receipt: Receipt) -> Cause | None:
    return classify_receipt(receipt.stat, receipt.err)


def correlates(resp_id: str, receipt: Receipt) -> bool:
    """What the platform does: the stored key of the resp id among the receipt's candidates."""
    return normalize_message_id(resp_id) in message_id_candidates(receipt.message_id)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


# --- interop with smpplib -------------------------------------------------------------------


def _smpplib_session(host: str, port: int, jobs: list[tuple[str, str]]) -> dict[str, Any]:
    """Bind with smpplib, submit each (destination, text), read every receipt, unbind."""
    client = smpplib.client.Client(host, port, timeout=5, allow_unknown_opt_params=True)
    resps: list[Any] = []
    delivered: list[Any] = []
    client.set_message_sent_handler(lambda pdu: resps.append(pdu))
    client.set_message_received_handler(lambda pdu: delivered.append(pdu))
    client.connect()
    try:
        # A carrier name as system_id: accepted next to the configured one, picks the profile.
        client.bind_transceiver(system_id="softbank", password=PASSWORD)
        parts_by_dest: dict[str, int] = {}
        for destination, text in jobs:
            parts, encoding, esm_class = smpplib.gsm.make_parts(text)
            parts_by_dest[destination] = len(parts)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr=SENDER,
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=destination,
                    short_message=part,
                    data_coding=encoding,
                    esm_class=esm_class,
                    registered_delivery=1,
                )
        total = sum(parts_by_dest.values())
        deadline = time.monotonic() + 10
        while len(resps) < total or len(delivered) < total:
            assert time.monotonic() < deadline, "smpplib did not get every answer"
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return {"resps": resps, "delivered": delivered, "parts": parts_by_dest}


def as_deliver_sm(pdu: Any) -> DeliverSm:
    """Our record of a deliver_sm that smpplib parsed, for our receipt reader."""
    return DeliverSm(esm_class=pdu.esm_class, short_message=pdu.short_message)


async def test_smpplib_binds_submits_and_reads_correlated_receipts(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(system_id="todoke", password=PASSWORD)
    host, port = sim.address
    long_ucs2 = "お届け物のご案内です。" * 12  # 132 characters: 2 UCS-2 parts
    jobs = [
        (dest("9900"), "Hello from todoke, code 4711"),  # GSM-7, delivered
        (dest("9903"), long_ucs2),  # UCS-2 concatenated, unknown subscriber
        (dest("9906", "81801234"), long_ucs2),  # partial delivery
    ]
    result = await asyncio.to_thread(_smpplib_session, host, port, jobs)

    assert result["parts"] == {jobs[0][0]: 1, jobs[1][0]: 2, jobs[2][0]: 2}
    resp_ids = [r.message_id.decode() for r in result["resps"]]
    assert all(r.status == 0 for r in result["resps"])
    assert len(set(resp_ids)) == 5
    # softbank: upper-case hex in submit_sm_resp, zero-padded decimal in the receipt text.
    assert all(re.fullmatch(r"[0-9A-F]+", i) for i in resp_ids)
    causes: dict[str, list[Cause | None]] = {}
    for pdu in result["delivered"]:
        assert pdu.esm_class == 0x04
        assert pdu.receipted_message_id is None  # this dialect has no receipt TLVs
        text = pdu.short_message.decode("ascii")
        assert re.search(r"submit date:\d{12} done date:\d{12}", text)
        receipt = receipt_from_deliver_sm(as_deliver_sm(pdu))
        assert receipt is not None
        matches = [i for i in resp_ids if correlates(i, receipt)]
        assert len(matches) == 1, receipt
        causes.setdefault(pdu.source_addr.decode(), []).append(cause_of(receipt))
    assert causes[jobs[0][0]] == [Cause.DELIVERED]
    assert causes[jobs[1][0]] == [Cause.UNKNOWN_SUBSCRIBER] * 2
    assert sorted(map(str, causes[jobs[2][0]])) == ["delivered", "partial_delivery"]
    assert sim.stats.submits == 5 and sim.stats.messages == 3
    assert sim.stats.texts(jobs[1][0]) == [long_ucs2]


# --- outcomes ---------------------------------------------------------------------------------

RECEIPT_SUFFIXES = {
    suffix: forced.cause
    for suffix, forced in FORCED_SUFFIXES.items()
    if forced.cause is not None
    and forced.receipt
    and forced.receipt_copies == 1
    and not forced.first_only
    and forced.cause is not Cause.PARTIAL_DELIVERY
}


@pytest.mark.parametrize("carrier", [c.value for c in Carrier])
async def test_forced_suffixes_classify_back_to_their_cause_in_every_dialect(
    simulators: Callable[..., Awaitable[CarrierSimulator]], carrier: str
) -> None:
    # au's failure receipts would take 20 minutes x time_factor: make them quick here.
    profiles = {
        c: dataclasses.replace(p, failure_receipt_delay_ms=None)
        for c, p in DEFAULT_PROFILES.items()
    }
    sim = await simulators(profiles=profiles)
    client = await Client.bind(sim, system_id=carrier)
    resp_ids: dict[str, str] = {}
    for suffix in RECEIPT_SUFFIXES:
        (resp,) = await client.submit(dest(suffix))
        assert resp.command_status == 0
        resp_ids[suffix] = resp.message_id
    profile = DEFAULT_PROFILES[Carrier(carrier)]
    for receipt in await client.receipts(len(RECEIPT_SUFFIXES)):
        (suffix,) = [s for s, i in resp_ids.items() if correlates(i, receipt)]
        assert cause_of(receipt) is RECEIPT_SUFFIXES[suffix], suffix
        # TLV receipts carry the resp id exactly; text-only ones may change its base.
        assert (receipt.message_id == resp_ids[suffix]) is (
            profile.id_style != "hex_resp_decimal_receipt"
        )
    styles = {
        "decimal": r"[0-9]+",
        "hex": r"[0-9a-f]+",
        "hex_resp_decimal_receipt": r"[0-9A-F]+",
    }
    assert all(re.fullmatch(styles[profile.id_style], i) for i in resp_ids.values())
    assert sim.stats.by_carrier == {Carrier(carrier): len(RECEIPT_SUFFIXES)}
    await client.close()


async def test_special_suffixes(simulators: Callable[..., Awaitable[CarrierSimulator]]) -> None:
    sim = await simulators()
    client = await Client.bind(sim, system_id="docomo")

    # 9907: refused at once, as a permanent error.
    (refused,) = await client.submit(dest("9907"))
    assert refused.command_status == CommandStatus.ESME_RINVDSTADR
    assert classify_smpp_error(refused.command_status).permanent

    # 9917: refused 0x45 (temporary) the first time, accepted and delivered on the retry.
    (first,) = await client.submit(dest("9917"))
    assert first.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert classify_smpp_error(first.command_status).retryable
    (second,) = await client.submit(dest("9917"))
    assert second.command_status == 0
    (receipt,) = await client.receipts(1)
    assert correlates(second.message_id, receipt) and cause_of(receipt) is Cause.DELIVERED

    # 9909: absent (temporary) on the first attempt, delivered on the next.
    (first,) = await client.submit(dest("9909"))
    (receipt,) = await client.receipts(1)
    assert cause_of(receipt) is Cause.ABSENT_SUBSCRIBER and Cause.ABSENT_SUBSCRIBER.retryable
    (again,) = await client.submit(dest("9909"))
    (receipt,) = await client.receipts(1)
    assert correlates(again.message_id, receipt) and cause_of(receipt) is Cause.DELIVERED

    # 9918: one message, its receipt twice.
    (dup,) = await client.submit(dest("9918"))
    receipts = await client.receipts(2)
    assert [r.message_id for r in receipts] == [dup.message_id] * 2

    # 9906: a long message is partly received; a single part is simply delivered.
    resps = await client.submit(dest("9906"), "Partial " * 60)  # 480 GSM-7 chars: 4 parts
    assert len(resps) == 4
    receipts = await client.receipts(4)
    by_id = {r.message_id: cause_of(r) for r in receipts}
    outcomes = [by_id[r.message_id] for r in resps]
    delivered = outcomes.count(Cause.DELIVERED)
    assert 1 <= delivered <= 3
    assert outcomes == [Cause.DELIVERED] * delivered + [Cause.PARTIAL_DELIVERY] * (4 - delivered)
    await client.submit(dest("9906"), "short")
    (receipt,) = await client.receipts(1)
    assert cause_of(receipt) is Cause.DELIVERED

    # 9908: accepted, and no receipt ever comes.
    (lost,) = await client.submit(dest("9908"))
    assert lost.command_status == 0
    with pytest.raises(TimeoutError):
        await client.next_delivered(timeout=0.2)
    assert sim.pending_deliveries == 0

    # registered_delivery 0: no receipt; 2: failures only.
    await client.submit(dest("9900"), registered_delivery=0)
    await client.submit(dest("9900"), registered_delivery=2)
    (failed,) = await client.submit(dest("9901"), registered_delivery=2)
    (receipt,) = await client.receipts(1)
    assert correlates(failed.message_id, receipt)
    await client.close()


def outcome_profile(carrier: Carrier) -> CarrierProfile:
    return CarrierProfile(
        carrier=carrier,
        latency_ms=(0, 2),
        outcome_rates={Cause.ABSENT_SUBSCRIBER: 0.3, Cause.SMS_REFUSED: 0.2},
    )


async def _outcomes(sim: CarrierSimulator, destinations: list[str]) -> dict[str, Cause | None]:
    client = await Client.bind(sim, system_id="docomo")
    ids = {}
    for destination in destinations:
        (resp,) = await client.submit(destination)
        ids[normalize_message_id(resp.message_id)] = destination
    out = {}
    for receipt in await client.receipts(len(destinations)):
        out[ids[normalize_message_id(receipt.message_id)]] = cause_of(receipt)
    await client.close()
    return out


async def test_same_seed_same_outcomes(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    profiles = {c: outcome_profile(c) for c in Carrier}
    destinations = [f"8190{n:08d}" for n in range(0, 4000, 37)]  # 109 numbers, none 99xx
    first = await _outcomes(await simulators(seed=7, profiles=profiles), destinations)
    again = await _outcomes(await simulators(seed=7, profiles=profiles), destinations)
    other = await _outcomes(await simulators(seed=8, profiles=profiles), destinations)
    assert first == again
    assert first != other
    assert {Cause.DELIVERED, Cause.ABSENT_SUBSCRIBER, Cause.SMS_REFUSED} == set(first.values())


async def test_au_failure_receipts_come_late(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(time_factor=0.0005)  # 20 minutes -> 0.6 s
    client = await Client.bind(sim, system_id="au")
    start = time.monotonic()
    (ok,) = await client.submit(dest("9900"))
    (failed,) = await client.submit(dest("9901"))
    arrivals = {}
    for _ in range(2):
        at, pdu = await client.next_delivered()
        receipt = receipt_from_deliver_sm(pdu)
        assert receipt is not None
        arrivals[receipt.message_id] = at - start
    assert arrivals[ok.message_id] < 0.2  # au latency 0.8-4 s x 0.0005
    assert arrivals[failed.message_id] >= 0.59
    await client.close()


# --- SMSC behaviour ---------------------------------------------------------------------------


async def test_session_rules_and_credentials(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(system_id="todoke", password=PASSWORD)
    client = await Client.connect(sim)
    (early,) = await client.submit(dest("9900"))
    assert early.command_status == CommandStatus.ESME_RINVBNDSTS
    assert isinstance(await client.request(EnquireLink()), EnquireLinkResp)
    wrong = [
        ("todoke", "nope", CommandStatus.ESME_RINVPASWD),
        ("someone", PASSWORD, CommandStatus.ESME_RINVSYSID),
    ]
    for system_id, password, status in wrong:
        bind = BindRequest(BindKind.TRANSMITTER, system_id=system_id, password=password)
        resp = await client.request(bind)
        assert resp.command_status == status
    bind = BindRequest(BindKind.TRANSMITTER, system_id="au", password=PASSWORD)
    assert (await client.request(bind)).command_status == 0
    assert (await client.request(bind)).command_status == CommandStatus.ESME_RALYBND
    # A command the SMSC does not know: generic_nack, and the session carries on.
    nack = await client.raw(0x00000077, b"")
    assert isinstance(nack, GenericNack)
    assert nack.command_status == CommandStatus.ESME_RINVCMDID
    (resp,) = await client.submit(dest("9900"))
    assert resp.command_status == 0
    assert isinstance(await client.request(Unbind()), UnbindResp)
    await asyncio.wait_for(client.closed.wait(), 5)
    # A receiver bind cannot submit.
    receiver = await Client.bind(sim, system_id="todoke", kind=BindKind.RECEIVER)
    (resp,) = await receiver.submit(dest("9900"))
    assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
    await receiver.close()


async def test_undecodable_pdu_gets_generic_nack(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators()
    client = await Client.bind(sim)
    # submit_sm whose destination_addr has no NUL within its 21 octets.
    body = b"\0" + b"\1\1" + b"12345\0" + b"\1\1" + b"9" * 30
    nack = await client.raw(0x00000004, body)
    assert isinstance(nack, GenericNack)
    assert nack.command_status == CommandStatus.ESME_RINVDSTADR
    (resp,) = await client.submit(dest("9900"))
    assert resp.command_status == 0
    # Lost framing (an impossible command_length): generic_nack, then the SMSC hangs up.
    client.writer.write(bytes.fromhex("00000004"))
    await asyncio.wait_for(client.closed.wait(), 5)


async def test_throttling_answers_0x58_above_the_rate(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    docomo = dataclasses.replace(DEFAULT_PROFILES[Carrier.DOCOMO], throttle_tps=20)
    sim = await simulators(profiles={**DEFAULT_PROFILES, Carrier.DOCOMO: docomo})
    client = await Client.bind(sim, system_id="docomo")
    resps = await asyncio.gather(*[client.submit(f"81901234{n:04d}") for n in range(40)])
    statuses = [r.command_status for (r,) in resps]
    throttled = statuses.count(CommandStatus.ESME_RTHROTTLED)
    assert 30 <= throttled <= 39  # a burst of 200 ms worth (4) passes
    assert sim.stats.throttled == throttled
    assert classify_smpp_error(CommandStatus.ESME_RTHROTTLED) is Cause.THROTTLED
    await asyncio.sleep(0.2)
    (resp,) = await client.submit(dest("9900"))
    assert resp.command_status == 0
    # au's profile has no limit.
    au = await Client.bind(sim, system_id="au")
    resps = await asyncio.gather(*[au.submit(f"81901234{n:04d}") for n in range(40)])
    assert all(r.command_status == 0 for (r,) in resps)
    await client.close()
    await au.close()


async def test_maintenance_refuses_submits_temporarily(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators()
    au = await Client.bind(sim, system_id="au")
    docomo = await Client.bind(sim, system_id="docomo")
    sim.set_maintenance(Carrier.AU, True)
    (resp,) = await au.submit(dest("9900"))
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert classify_smpp_error(resp.command_status).retryable
    (resp,) = await docomo.submit(dest("9900"))
    assert resp.command_status == 0
    sim.set_maintenance(Carrier.AU, False)
    (resp,) = await au.submit(dest("9900"))
    assert resp.command_status == 0
    sim.set_maintenance(None, True)
    (resp,) = await docomo.submit(dest("9900"))
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL
    assert sim.stats.maintenance_refusals == 2
    await au.close()
    await docomo.close()


async def test_receipts_wait_for_a_receiver_and_survive_disconnects_and_restarts(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    # Every receipt 0.3 s after its submit_sm.
    profiles = {
        c: dataclasses.replace(p, latency_ms=(300, 300), failure_receipt_delay_ms=None)
        for c, p in DEFAULT_PROFILES.items()
    }
    sim = await simulators(time_factor=1.0, profiles=profiles)
    # A transmitter alone: its receipts are queued for its system_id.
    tx = await Client.bind(sim, system_id="todoke", kind=BindKind.TRANSMITTER)
    (resp,) = await tx.submit(dest("9900"))
    await asyncio.sleep(0.5)
    assert sim.stats.receipts_sent == 0 and sim.pending_deliveries == 1
    # Another account's receiver does not get it; a receiver of the same system_id does.
    other = await Client.bind(sim, system_id="someone-else", kind=BindKind.RECEIVER)
    rx = await Client.bind(sim, system_id="todoke", kind=BindKind.RECEIVER)
    (receipt,) = await rx.receipts(1)
    assert correlates(resp.message_id, receipt)
    assert other.delivered.empty()

    # The SMSC drops every connection and restarts; the receipt of a message submitted just
    # before falls due while nothing listens, and waits for the next bind.
    (resp,) = await tx.submit(dest("9900"), "just before the restart")
    restart = asyncio.create_task(sim.restart(down_for=0.6))
    for client in (tx, rx, other):
        await asyncio.wait_for(client.closed.wait(), 5)
    await asyncio.sleep(0.1)
    with pytest.raises(OSError):
        await asyncio.open_connection(*sim.address)
    await restart
    assert sim.stats.receipts_sent == 1 and sim.pending_deliveries == 1
    trx = await Client.bind(sim, system_id="todoke")
    (receipt,) = await trx.receipts(1)
    assert correlates(resp.message_id, receipt)
    (resp,) = await trx.submit(dest("9900"), "after the restart")
    (receipt,) = await trx.receipts(1)
    assert correlates(resp.message_id, receipt)
    assert sim.stats.binds == 4

    # disconnect_all alone: the client sees its connection close and can bind again.
    sim.disconnect_all()
    await asyncio.wait_for(trx.closed.wait(), 5)
    again = await Client.bind(sim, system_id="todoke")
    await again.close()


async def test_receipts_in_flight_when_the_client_drops_are_resent(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(window=8)
    client = await Client.bind(sim)
    client.ack = lambda pdu, n: None  # never answers
    for n in range(20):
        await client.submit(dest(f"{n:04d}"), f"message {n}")
    await wait_for(lambda: client.delivered.qsize() == 8)  # the window
    await asyncio.sleep(0.05)
    assert client.delivered.qsize() == 8
    await client.close()
    again = await Client.bind(sim)
    receipts = await again.receipts(20)
    assert len({r.message_id for r in receipts}) == 20
    await wait_for(lambda: sim.pending_deliveries == 0)
    assert sim.stats.receipts_acked == 20
    await again.close()


async def test_receipts_are_resent_after_an_error_or_no_answer(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(retry_delay=0.05, resp_timeout=0.2, max_attempts=3)
    client = await Client.bind(sim)
    # 1st: ESME_RX_T_APPN, 2nd: no answer, 3rd: OK.
    client.ack = lambda pdu, n: {1: CommandStatus.ESME_RX_T_APPN, 2: None}.get(n, 0)
    (resp,) = await client.submit(dest("9900"))
    receipts = await client.receipts(3)
    assert {r.message_id for r in receipts} == {resp.message_id}
    await wait_for(lambda: sim.stats.receipts_acked == 1)
    assert sim.stats.receipts_sent == 3 and sim.stats.receipts_resent == 2

    # A client that refuses every time: abandoned after max_attempts, counted, not silent.
    client.ack = lambda pdu, n: CommandStatus.ESME_RX_P_APPN
    await client.submit(dest("9901"))
    await wait_for(lambda: sim.stats.receipts_abandoned == 1)
    assert sim.pending_deliveries == 0
    await client.close()


async def test_mo_injection_and_replies(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators(mo_reply_rate=1.0)
    client = await Client.bind(sim)
    text = "ご案内ありがとうございます。明日の予約を変更したいので、" * 3  # 2 UCS-2 parts
    assert 70 < len(text) <= 134
    await sim.send_mo("+819012345678", SENDER, text)
    parts = [await client.next_delivered() for _ in range(2)]
    pieces = {}
    for _at, pdu in parts:
        assert pdu.esm_class == 0x40 and pdu.source_addr == "819012345678"
        assert pdu.destination_addr == SENDER
        piece, info = decode_short_message(pdu.data_coding, pdu.esm_class, pdu.short_message)
        assert info is not None and info.total == 2
        pieces[info.seq] = piece
    assert pieces[1] + pieces[2] == text
    await sim.send_mo("819012345678", SENDER, "STOP")
    _at, pdu = await client.next_delivered()
    assert decode_short_message(pdu.data_coding, pdu.esm_class, pdu.short_message)[0] == "STOP"
    await wait_for(lambda: sim.stats.mo_acked == 3)

    # mo_reply_rate 1.0: a delivered message gets its receipt, then an answer.
    await client.submit(dest("9900"), "Reply YES to confirm")
    (receipt,) = await client.receipts(1)
    assert cause_of(receipt) is Cause.DELIVERED
    _at, reply = await client.next_delivered()
    assert receipt_from_deliver_sm(reply) is None
    assert reply.source_addr == dest("9900") and reply.destination_addr == SENDER
    await client.close()


async def test_counters_messages_and_duplicates(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators()
    client = await Client.bind(sim)
    long_text = "A long message that needs several parts. " * 5  # 205 chars: 2 parts
    await client.submit(dest("9900"), "same text")
    await client.submit(dest("9900"), "same text")
    await client.submit(dest("9900"), long_text, ref=1)
    await client.submit(dest("9900"), long_text, ref=1)  # a resubmission, same reference
    await client.submit(dest("0001"), "same text")
    stats = sim.stats
    assert stats.submits == 7 and stats.parts_accepted == 7 and stats.messages == 5
    assert stats.duplicates == {(dest("9900"), "same text"): 1, (dest("9900"), long_text): 1}
    assert stats.duplicate_count == 2
    assert stats.texts(dest("9900")) == ["same text", "same text", long_text, long_text]
    assert stats.texts("+" + dest("0001")) == ["same text"]
    await client.receipts(7)
    await wait_for(lambda: stats.receipts_acked == 7)
    await client.close()


async def test_receipt_tlvs_follow_the_profile(
    simulators: Callable[..., Awaitable[CarrierSimulator]],
) -> None:
    sim = await simulators()
    client = await Client.bind(sim, system_id="docomo")
    (resp,) = await client.submit(dest("9901"))
    _at, pdu = await client.next_delivered()
    tlv = find_tlv(pdu.tlvs, TlvTag.RECEIPTED_MESSAGE_ID)
    assert tlv is not None and tlv.as_str() == resp.message_id
    state = find_tlv(pdu.tlvs, TlvTag.MESSAGE_STATE)
    assert state is not None and state.as_int() == 5  # UNDELIVERABLE
    net = find_tlv(pdu.tlvs, TlvTag.NETWORK_ERROR_CODE)
    assert net is not None and net.value == bytes((3, 0, 6))
    text = pdu.short_message.decode()
    assert re.search(r"submit date:\d{10} done date:\d{10} stat:UNDELIV err:006 text:", text)
    await client.close()
