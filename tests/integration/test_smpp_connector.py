"""The SMPP connector over real loopback sockets, against a scripted in-test SMSC.

What is checked is what the SMSC sees on the wire (window, resubmissions, answers to its
deliver_sm and their timing) and what the dispatcher sees (outcomes, errors, callbacks, stats).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from structlog.testing import capture_logs

from todoke.carriers.smpp.connector import (
    InboundMessage,
    PartOutcome,
    ReceiptEvent,
    SmppConfig,
    SmppConnector,
    Submission,
)
from todoke.carriers.smpp.pdu import (
    CommandStatus,
    DataSm,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    Tlv,
    TlvTag,
    Unbind,
    UnbindResp,
)
from todoke.carriers.smpp.receipt import message_id_candidates, normalize_message_id
from todoke.carriers.smpp.segments import build_concat_udh, decode_short_message, parse_udh
from todoke.errors import PermanentCarrierError, TemporaryCarrierError

from .smsc_stub import StubSmsc, eventually, receipt_pdu

S = CommandStatus


class Sink:
    """The dispatcher's callbacks: records what it is handed; ``gate`` holds on_receipt."""

    def __init__(self) -> None:
        self.receipts: list[ReceiptEvent] = []
        self.inbound: list[InboundMessage] = []
        self.gate: asyncio.Event | None = None
        self.fail_receipts = False
        self.entered = asyncio.Event()

    async def on_receipt(self, event: ReceiptEvent) -> None:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_receipts:
            raise RuntimeError("store unavailable")
        self.receipts.append(event)

    async def on_inbound(self, message: InboundMessage) -> None:
        self.inbound.append(message)


@pytest.fixture
async def smsc() -> AsyncIterator[StubSmsc]:
    stub = StubSmsc()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
def sink() -> Sink:
    return Sink()


def config(smsc: StubSmsc, **overrides: Any) -> SmppConfig:
    values: dict[str, Any] = {
        "name": "stub",
        "host": "127.0.0.1",
        "port": smsc.port,
        "system_id": "todoke",
        "password": "secret",
        "response_timeout": 1.0,
        "reconnect_min": 0.02,
        "reconnect_max": 0.1,
        "throttle_pause": 0.01,
    }
    values.update(overrides)
    return SmppConfig(**values)


@asynccontextmanager
async def running(cfg: SmppConfig, sink: Sink) -> AsyncIterator[SmppConnector]:
    connector = SmppConnector(cfg, on_receipt=sink.on_receipt, on_inbound=sink.on_inbound)
    await connector.start()
    try:
        assert await connector.wait_ready(3.0)
        yield connector
    finally:
        await connector.stop()


def sub(text: str, encoding: Any = "GSM7", key: str = "k") -> Submission:
    return Submission(key, "12345", "+819012345678", text, encoding)


# --- submitting --------------------------------------------------------------------------------


async def test_submit_gives_the_smsc_id_and_the_receipt_correlates(
    smsc: StubSmsc, sink: Sink
) -> None:
    with capture_logs() as logs:
        async with running(config(smsc), sink) as connector:
            [outcome] = await connector.submit(sub("hello"))
            assert outcome == PartOutcome(1, 1, outcome.message_id, 0)
            assert outcome.message_id is not None
            pdu = smsc.accepted[outcome.message_id]
            assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == (
                "819012345678",
                1,
                1,
            )
            assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("12345", 0, 1)
            assert (pdu.registered_delivery, pdu.data_coding, pdu.esm_class) == (1, 0, 0)
            assert pdu.short_message == b"hello"
            # The SMSC quotes its hex id in decimal in the receipt: still one part.
            decimal = str(int(outcome.message_id, 16))
            resp = await smsc.request(receipt_pdu(decimal))
            assert resp.command_status == S.ESME_ROK
            [event] = sink.receipts
            assert event.connector == "stub" and event.receipt.stat == "DELIVRD"
            key = normalize_message_id(outcome.message_id)
            assert key in message_id_candidates(event.receipt.message_id)
            stats = connector.stats
            assert (stats.submitted, stats.acked, stats.receipts, stats.errors) == (1, 1, 1, 0)
    events = [entry["event"] for entry in logs]
    assert "smpp.bound" in events and "smpp.stopped" in events
    assert all(entry.get("connector") == "stub" for entry in logs)
    assert "secret" not in repr(logs) and "hello" not in repr(logs)
    assert smsc.unbinds == 1  # stop() unbinds gracefully


async def test_window_is_never_exceeded(smsc: StubSmsc, sink: Sink) -> None:
    smsc.resp_delay = 0.005
    async with running(config(smsc, window=5), sink) as connector:
        results = await asyncio.gather(*(connector.submit(sub(f"m{i}")) for i in range(60)))
    assert all(outcome.command_status == 0 for [outcome] in results)
    assert smsc.max_outstanding == 5


async def test_throttling_slows_down_and_resubmits_without_failing(
    smsc: StubSmsc, sink: Sink
) -> None:
    smsc.throttle_every = 3
    with capture_logs() as logs:
        async with running(config(smsc), sink) as connector:
            results = await asyncio.gather(*(connector.submit(sub(f"m{i}")) for i in range(30)))
            stats = connector.stats
    assert all(outcome.command_status == 0 for [outcome] in results)
    assert len({outcome.message_id for [outcome] in results}) == 30 == len(smsc.accepted)
    assert stats.throttled == len(smsc.submits) // 3 > 0
    assert stats.errors == 0 and stats.submitted == len(smsc.submits)
    assert any(entry["event"] == "smpp.throttled" for entry in logs)


async def test_long_ucs2_message_goes_in_parts_with_a_udh(smsc: StubSmsc, sink: Sink) -> None:
    text = "こんにちは、届けです。" * 40  # 440 UCS-2 code units
    async with running(config(smsc), sink) as connector:
        outcomes = await connector.submit(sub(text, "UCS2"))
    assert [(o.seq, o.total, o.command_status) for o in outcomes] == [
        (i, 7, 0) for i in range(1, 8)
    ]
    parts = sorted(smsc.submits, key=lambda pdu: parse_udh(pdu.short_message)[0][0][1][2])
    refs = set()
    decoded = []
    for seq, pdu in enumerate(parts, 1):
        assert (pdu.esm_class & 0x40, pdu.data_coding) == (0x40, 0x08)
        [(iei, data)], _ = parse_udh(pdu.short_message)
        assert iei == 0x00 and data[1:] == bytes((7, seq))
        refs.add(data[0])
        decoded.append(decode_short_message(pdu.data_coding, pdu.esm_class, pdu.short_message)[0])
    assert len(refs) == 1 and "".join(decoded) == text


async def test_refused_part_stops_the_remaining_parts(smsc: StubSmsc, sink: Sink) -> None:
    smsc.status_for = lambda _pdu: S.ESME_RINVDSTADR
    async with running(config(smsc, window=1), sink) as connector:
        outcomes = await connector.submit(sub("x" * 400))  # 3 GSM-7 parts
        assert outcomes == [PartOutcome(1, 3, None, S.ESME_RINVDSTADR)]
        assert len(smsc.submits) == 1
        assert connector.stats.errors == 1


async def test_text_that_cannot_be_encoded_is_a_permanent_error(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc), sink) as connector:
        with pytest.raises(PermanentCarrierError):
            await connector.submit(sub("漢字", "GSM7"))
    assert smsc.submits == []


async def test_addresses_and_validity_period_on_the_wire(smsc: StubSmsc, sink: Sink) -> None:
    until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with running(config(smsc), sink) as connector:
        alpha = Submission("k", "TODOKE", "+819012345678", "hi", "GSM7")
        await connector.submit(dataclasses.replace(alpha, validity_until_ms=_ms(until)))
        await connector.submit(dataclasses.replace(alpha, source="+81312345678"))
    first, second = smsc.submits
    assert (first.source_addr, first.source_addr_ton, first.source_addr_npi) == ("TODOKE", 5, 0)
    assert first.validity_period == "300102030405000+"
    assert (second.source_addr, second.source_addr_ton, second.source_addr_npi) == (
        "81312345678",
        1,
        1,
    )
    assert second.validity_period == ""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def test_endless_throttling_gives_up_as_temporary(smsc: StubSmsc, sink: Sink) -> None:
    smsc.status_for = lambda _pdu: S.ESME_RTHROTTLED
    async with running(config(smsc, throttle_give_up=0.1), sink) as connector:
        with pytest.raises(TemporaryCarrierError) as caught:
            await connector.submit(sub("never"))
        assert caught.value.cause == "throttled"
        assert connector.stats.throttled >= 2


async def test_tps_limits_the_send_rate(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc, tps=100.0), sink) as connector:
        started = time.monotonic()
        await asyncio.gather(*(connector.submit(sub(f"m{i}")) for i in range(40)))
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3  # 40 at 100/s, minus the slack of a couple of sends


# --- receipts and inbound ------------------------------------------------------------------------


async def test_receipt_is_acknowledged_only_after_on_receipt_completed(
    smsc: StubSmsc, sink: Sink
) -> None:
    sink.gate = asyncio.Event()
    async with running(config(smsc), sink):
        answer = asyncio.create_task(smsc.request(receipt_pdu("1A2B")))
        await asyncio.wait_for(sink.entered.wait(), 2.0)
        await asyncio.sleep(0.05)
        assert not answer.done() and smsc.events == []  # no deliver_sm_resp while storing
        sink.gate.set()
        resp = await answer
        assert resp.command_status == S.ESME_ROK and len(sink.receipts) == 1


async def test_receipt_callback_failure_is_answered_temporary_app_error(
    smsc: StubSmsc, sink: Sink
) -> None:
    sink.fail_receipts = True
    with capture_logs() as logs:
        async with running(config(smsc), sink) as connector:
            resp = await smsc.request(receipt_pdu("1A2B"))
            assert resp.command_status == S.ESME_RX_T_APPN
            assert connector.stats.receipts == 0
    assert any(entry["event"] == "smpp.receipt_failed" for entry in logs)


async def test_inbound_beyond_the_bound_is_answered_at_once(smsc: StubSmsc, sink: Sink) -> None:
    sink.gate = asyncio.Event()
    async with running(config(smsc, max_inbound=1), sink):
        first = asyncio.create_task(smsc.request(receipt_pdu("1")))
        await asyncio.wait_for(sink.entered.wait(), 2.0)
        second = await smsc.request(receipt_pdu("2"))
        assert second.command_status == S.ESME_RX_T_APPN
        sink.gate.set()
        assert (await first).command_status == S.ESME_ROK


def _mo_part(text: str, seq: int, kind: str) -> DeliverSm:
    body = text.encode("utf-16-be")
    common: dict[str, Any] = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": "819012345678",
        "destination_addr": "12345",
        "data_coding": 0x08,
    }
    if kind == "sar":
        tlvs = (
            Tlv.of_int(TlvTag.SAR_MSG_REF_NUM, 0x1234),
            Tlv.of_int(TlvTag.SAR_TOTAL_SEGMENTS, 2),
            Tlv.of_int(TlvTag.SAR_SEGMENT_SEQNUM, seq),
        )
        return DeliverSm(short_message=body, tlvs=tlvs, **common)
    udh = build_concat_udh(0x42, 2, seq, ref16=kind == "udh16")
    return DeliverSm(esm_class=0x40, short_message=udh + body, **common)


@pytest.mark.parametrize("kind", ["udh8", "udh16", "sar"])
async def test_two_part_mo_is_reassembled(smsc: StubSmsc, sink: Sink, kind: str) -> None:
    async with running(config(smsc), sink) as connector:
        # The second part first: SMSCs do not promise order.
        second = await smsc.request(_mo_part("です。", 2, kind))
        assert second.command_status == S.ESME_ROK and sink.inbound == []
        first = await smsc.request(_mo_part("届けテスト", 1, kind))
        assert first.command_status == S.ESME_ROK
        [message] = sink.inbound
        assert (message.source, message.destination) == ("+819012345678", "12345")
        assert message.text == "届けテストです。" and message.connector == "stub"
        assert connector.stats.inbound == 1


async def test_data_sm_mo_and_incomplete_mo_after_timeout(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc, mo_reassembly_timeout=0.1), sink):
        payload = Tlv(TlvTag.MESSAGE_PAYLOAD, b"STOP")
        resp = await smsc.request(DataSm(source_addr="09012345678", tlvs=(payload,)))
        assert resp.command_status == S.ESME_ROK
        await smsc.request(_mo_part("前半", 1, "udh8"))  # the second part never comes
        await eventually(lambda: len(sink.inbound) == 2)
    assert [(m.source, m.text) for m in sink.inbound] == [
        ("09012345678", "STOP"),
        ("+819012345678", "前半"),
    ]


# --- the link --------------------------------------------------------------------------------


async def test_peer_closing_mid_load_fails_in_flight_parts_then_reconnects(
    smsc: StubSmsc, sink: Sink
) -> None:
    smsc.resp_delay = 0.002
    smsc.close_after = 40
    async with running(config(smsc, window=20), sink) as connector:
        results = await asyncio.gather(
            *(connector.submit(sub(f"m{i}")) for i in range(100)), return_exceptions=True
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        assert failed and all(isinstance(r, TemporaryCarrierError) for r in failed)
        assert all(
            r.cause == "system_error" for r in failed if isinstance(r, TemporaryCarrierError)
        )
        assert await connector.wait_ready(3.0)
        retried = await asyncio.gather(*(connector.submit(sub("again")) for _ in failed))
        assert all(outcome.command_status == 0 for [outcome] in retried)
        assert connector.stats.reconnects == 1


async def test_response_timeout_breaks_the_link(smsc: StubSmsc, sink: Sink) -> None:
    smsc.withhold = True
    with capture_logs() as logs:
        async with running(config(smsc, response_timeout=0.2), sink) as connector:
            with pytest.raises(TemporaryCarrierError):
                await connector.submit(sub("lost"))
            smsc.withhold = False
            assert await connector.wait_ready(3.0)
            [outcome] = await connector.submit(sub("found"))
            assert outcome.command_status == 0
    assert any(entry["event"] == "smpp.response_timeout" for entry in logs)


async def test_enquire_link_both_ways(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc, enquire_link_interval=0.05), sink):
        resp = await smsc.request(EnquireLink())
        assert isinstance(resp, EnquireLinkResp)
        await eventually(lambda: smsc.enquire_links >= 2)


async def test_unbind_from_peer_is_answered_then_reconnects(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc), sink) as connector:
        resp = await smsc.request(Unbind())
        assert isinstance(resp, UnbindResp)
        await eventually(lambda: smsc.binds == 2 and connector.ready)
        [outcome] = await connector.submit(sub("after unbind"))
        assert outcome.command_status == 0


async def test_garbage_from_peer_reconnects_without_crashing(smsc: StubSmsc, sink: Sink) -> None:
    async with running(config(smsc), sink) as connector:
        # A well-framed unknown command is answered generic_nack; the link stays.
        smsc.write_raw(b"\x00\x00\x00\x10\x00\x00\x09\x99\x00\x00\x00\x00\x00\x00\x00\x07")
        await eventually(lambda: smsc.nacks == [S.ESME_RINVCMDID])
        assert connector.stats.reconnects == 0
        # An impossible command_length loses framing: the connector drops the link.
        smsc.write_raw(b"\x00\x00\x00\x05junk")
        await eventually(lambda: connector.stats.reconnects == 1 and connector.ready)
        [outcome] = await connector.submit(sub("still here"))
        assert outcome.command_status == 0


@pytest.mark.parametrize(
    ("status", "level"), [(S.ESME_RBINDFAIL, "warning"), (S.ESME_RINVPASWD, "error")]
)
async def test_bind_refused_then_accepted(
    smsc: StubSmsc, sink: Sink, status: int, level: str
) -> None:
    smsc.refuse_binds = 2
    smsc.refuse_status = status
    with capture_logs() as logs:
        async with running(config(smsc), sink) as connector:
            [outcome] = await connector.submit(sub("bound at last"))
            assert outcome.command_status == 0
    failures = [entry for entry in logs if entry["event"] == "smpp.bind_failed"]
    assert [entry["log_level"] for entry in failures] == [level, level]
    assert failures[0]["configuration_error"] is (status == S.ESME_RINVPASWD)
    assert smsc.binds == 3
    assert "secret" not in repr(logs)


async def test_submit_when_not_bound_is_temporary(sink: Sink) -> None:
    cfg = SmppConfig("down", "127.0.0.1", 9, "todoke", "secret", response_timeout=0.1)
    connector = SmppConnector(cfg, on_receipt=sink.on_receipt, on_inbound=sink.on_inbound)
    await connector.start()
    try:
        with pytest.raises(TemporaryCarrierError, match="connector down not bound"):
            await connector.submit(sub("nowhere"))
        assert not connector.ready
    finally:
        await connector.stop()


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="window"):
        SmppConfig("x", "h", 1, "id", "pw", window=0)
    assert "pw" not in repr(SmppConfig("x", "h", 1, "id", "pw"))
    with pytest.raises(ValueError, match="bind parameters"):
        SmppConnector(
            dataclasses.replace(SmppConfig("x", "h", 1, "id", "pw"), password="far-too-long"),
            on_receipt=_noop,
            on_inbound=_noop,
        )


_noop: Callable[[Any], Awaitable[None]] = lambda _event: asyncio.sleep(0)  # noqa: E731
