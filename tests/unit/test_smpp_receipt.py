"""Delivery receipts: Appendix B text variants, TLV receipts, and message id correlation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todoke.carriers.smpp.pdu import DataSm, DeliverSm, Tlv, TlvTag
from todoke.carriers.smpp.receipt import (
    Receipt,
    ReceiptText,
    message_id_candidates,
    normalize_message_id,
    parse_receipt_text,
    receipt_from_deliver_sm,
)

JST = timezone(timedelta(hours=9))


def _dt(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A naive datetime: receipt dates are SMSC local time unless a ``tz`` is passed."""
    return datetime(year, month, day, hour, minute, second)


# Each case: receipt text as an SMSC sent it, and the fields expected (others as in BASE).
BASE: dict[str, Any] = {
    "sub": 1,
    "dlvrd": 1,
    "submit_date": _dt(2024, 1, 1, 12, 0),
    "done_date": _dt(2024, 1, 1, 12, 1),
    "stat": "DELIVRD",
    "err": "000",
    "text": None,
}
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "spec appendix B",
        "id:0123456789 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
        " stat:DELIVRD err:000 text:Hello world",
        {"message_id": "0123456789", "text": "Hello world"},
    ),
    (
        "12-digit dates with seconds",
        "id:42 sub:001 dlvrd:001 submit date:240101120030 done date:240101120145"
        " stat:DELIVRD err:000 text:",
        {
            "message_id": "42",
            "submit_date": _dt(2024, 1, 1, 12, 0, 30),
            "done_date": _dt(2024, 1, 1, 12, 1, 45),
            "text": "",
        },
    ),
    (
        "upper-case keys",
        "ID:ABC123 SUB:001 DLVRD:000 SUBMIT DATE:2401011200 DONE DATE:2401011201 STAT:UNDELIV"
        " ERR:001 TEXT:abc",
        {"message_id": "ABC123", "dlvrd": 0, "stat": "UNDELIV", "err": "001", "text": "abc"},
    ),
    (
        "no text field",
        "id:777 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000",
        {"message_id": "777"},
    ),
    (
        "underscore date keys",
        "id:778 sub:001 dlvrd:001 submit_date:2401011200 done_date:2401011201 stat:DELIVRD"
        " err:000 text:x",
        {"message_id": "778", "text": "x"},
    ),
    (
        "lower-case hex id",
        "id:5f3a1b2c sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
        " stat:DELIVRD err:000 text:",
        {"message_id": "5f3a1b2c", "text": ""},
    ),
    (
        "zero-padded decimal id, Kannel-style capitalised Text",
        "id:0000006699 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
        " stat:DELIVRD err:000 Text:こんにちは",
        {"message_id": "0000006699", "text": "こんにちは"},
    ),
    (
        "extra spaces everywhere",
        "  id: 31337   sub:001  dlvrd:001   submit date: 2401011200  done date:2401011201"
        "  stat: DELIVRD   err:000   text: hi ",
        {"message_id": "31337", "text": " hi "},
    ),
    (
        "only id, stat and err",
        "id:9 stat:EXPIRED err:027",
        {
            "message_id": "9",
            "sub": None,
            "dlvrd": None,
            "submit_date": None,
            "done_date": None,
            "stat": "EXPIRED",
            "err": "027",
        },
    ),
    (
        "stat spelled out and lower case",
        "id:10 sub:1 dlvrd:1 submit date:2401011200 done date:2401011201 stat:delivered err:0",
        {"message_id": "10", "err": "0"},
    ),
    (
        "text that looks like a receipt",
        "id:11 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD"
        " err:000 text:id:999 stat:REJECTD",
        {"message_id": "11", "text": "id:999 stat:REJECTD"},
    ),
    (
        "14-digit dates, no err",
        "id:12 sub:001 dlvrd:001 submit date:20240101120000 done date:20240101120100 stat:DELIVRD",
        {"message_id": "12", "err": None},
    ),
    (
        "impossible date is dropped, receipt kept",
        "id:13 sub:001 dlvrd:001 submit date:2413011200 done date:24010112 stat:REJECTD err:008",
        {
            "message_id": "13",
            "submit_date": None,
            "done_date": None,
            "stat": "REJECTD",
            "err": "008",
        },
    ),
    (
        "UUID id, compact submitdate",
        "id:550e8400-e29b-41d4-a716-446655440000 sub:001 dlvrd:001 submitdate:2401011200"
        " donedate:2401011201 stat:ACCEPTD err:000",
        {"message_id": "550e8400-e29b-41d4-a716-446655440000", "stat": "ACCEPTD"},
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_receipt_text_variants(text: str, expected: dict[str, Any]) -> None:
    assert parse_receipt_text(text) == ReceiptText(**{**BASE, **expected})


@pytest.mark.parametrize(
    "text",
    ["", "Hello, see you at 10:30", "id:123 only an id", "stat:DELIVRD without id", "id: stat:X"],
)
def test_texts_that_are_not_receipts(text: str) -> None:
    assert parse_receipt_text(text) is None


def test_receipt_dates_take_the_carrier_time_zone() -> None:
    parsed = parse_receipt_text("id:1 done date:2401011201 stat:DELIVRD", tz=JST)
    assert parsed is not None and parsed.done_date == datetime(2024, 1, 1, 12, 1, tzinfo=JST)


@given(st.text(max_size=200))
def test_parse_receipt_text_never_raises(text: str) -> None:
    parse_receipt_text(text)


# --- receipts from deliver_sm ----------------------------------------------------------------

TEXT = (
    b"id:0000006699 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
    b" stat:DELIVRD err:000 text:"
)


def test_text_receipt() -> None:
    receipt = receipt_from_deliver_sm(DeliverSm(esm_class=0x04, short_message=TEXT))
    assert receipt == Receipt(
        message_id="0000006699",
        stat="DELIVRD",
        err="000",
        done_date=_dt(2024, 1, 1, 12, 1),
        submit_date=_dt(2024, 1, 1, 12, 0),
        dlvrd=1,
        sub=1,
    )


def test_tlv_only_receipt() -> None:
    pdu = DeliverSm(
        esm_class=0x04,
        tlvs=(
            Tlv.of_str(TlvTag.RECEIPTED_MESSAGE_ID, "1a2b"),
            Tlv.of_int(TlvTag.MESSAGE_STATE, 5),
            Tlv.network_error_code(3, 34),
        ),
    )
    assert receipt_from_deliver_sm(pdu) == Receipt(
        message_id="1a2b", stat="UNDELIV", err="034", network_type=3
    )


def test_tlvs_win_over_the_text_which_fills_the_rest() -> None:
    pdu = DeliverSm(
        esm_class=0x04,
        short_message=TEXT,
        tlvs=(
            Tlv(TlvTag.RECEIPTED_MESSAGE_ID, b"1A2B"),  # SMSC quirk: no NUL
            Tlv.of_int(TlvTag.MESSAGE_STATE, 8),
        ),
    )
    receipt = receipt_from_deliver_sm(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err) == ("1A2B", "REJECTD", "000")
    assert receipt.done_date == _dt(2024, 1, 1, 12, 1)


def test_unknown_message_state_falls_back_to_the_text_or_unknown() -> None:
    state = Tlv.of_int(TlvTag.MESSAGE_STATE, 42)
    with_text = receipt_from_deliver_sm(DeliverSm(esm_class=4, short_message=TEXT, tlvs=(state,)))
    assert with_text is not None and with_text.stat == "DELIVRD"
    tlv_id = Tlv.of_str(TlvTag.RECEIPTED_MESSAGE_ID, "x")
    bare = receipt_from_deliver_sm(DeliverSm(esm_class=4, tlvs=(tlv_id, state)))
    assert bare is not None and bare.stat == "UNKNOWN"


def test_intermediate_notification() -> None:
    pdu = DeliverSm(esm_class=0x20, short_message=b"id:5 stat:ENROUTE err:000")
    assert receipt_from_deliver_sm(pdu) == Receipt(
        message_id="5", stat="ENROUTE", err="000", intermediate=True
    )


def test_ordinary_inbound_message_is_not_a_receipt() -> None:
    assert receipt_from_deliver_sm(DeliverSm(short_message=b"see you at 10:30")) is None
    # An MO that happens to look like a receipt is only read as one when asked to sniff.
    assert receipt_from_deliver_sm(DeliverSm(short_message=TEXT)) is None
    assert receipt_from_deliver_sm(DeliverSm(short_message=b"hello"), sniff=True) is None


def test_sniffing_finds_receipts_sent_with_esm_class_0() -> None:
    sniffed = receipt_from_deliver_sm(DeliverSm(short_message=TEXT), sniff=True)
    assert sniffed is not None and sniffed.message_id == "0000006699"
    tlv_id = Tlv.of_str(TlvTag.RECEIPTED_MESSAGE_ID, "77")
    by_tlv = receipt_from_deliver_sm(DeliverSm(tlvs=(tlv_id,)), sniff=True)
    assert by_tlv is not None and by_tlv.message_id == "77"


def test_receipt_without_any_id_is_dropped() -> None:
    assert receipt_from_deliver_sm(DeliverSm(esm_class=0x04, short_message=b"stat:DELIVRD")) is None


def test_receipt_in_message_payload_and_in_ucs2() -> None:
    payload = Tlv(TlvTag.MESSAGE_PAYLOAD, TEXT)
    from_data_sm = receipt_from_deliver_sm(DataSm(esm_class=0x04, tlvs=(payload,)))
    assert from_data_sm is not None and from_data_sm.message_id == "0000006699"
    ucs2 = TEXT.decode().replace("submit date", "submit_date").encode("utf-16-be")
    from_ucs2 = receipt_from_deliver_sm(DeliverSm(esm_class=4, data_coding=8, short_message=ucs2))
    assert from_ucs2 is not None and from_ucs2.submit_date == _dt(2024, 1, 1, 12, 0)


# --- correlation -----------------------------------------------------------------------------


def test_candidates_for_a_zero_padded_decimal_receipt_id() -> None:
    candidates = message_id_candidates("0000006699")
    assert candidates[0] == "0000006699"
    assert {"6699", "1A2B", "1a2b"} <= set(candidates)
    assert normalize_message_id("1A2B") in candidates  # resp "1A2B", stored as its key
    assert normalize_message_id("00001a2b") in candidates


def test_candidates_for_a_hex_receipt_id() -> None:
    candidates = message_id_candidates("1a2b")
    assert candidates[0] == "1a2b"
    assert {"1A2B", "6699"} <= set(candidates)
    assert normalize_message_id("0000006699") in candidates


def test_candidates_for_opaque_ids_vary_case_only() -> None:
    assert message_id_candidates("msg-Ab1") == ("msg-Ab1", "MSG-AB1", "msg-ab1")
    assert message_id_candidates(" 12\0") == ("12", "C", "c", "18")
    assert message_id_candidates("") == ()
    assert "0" in message_id_candidates("0000")


def test_normalize_message_id() -> None:
    assert normalize_message_id(" 00001a2b\0") == "1A2B"
    assert normalize_message_id("0000006699") == "6699"
    assert normalize_message_id("000") == "0"
    assert normalize_message_id("msg-Ab1 ") == "msg-Ab1"  # opaque ids keep their case


def test_very_long_ids_are_not_converted() -> None:
    long_id = "9" * 64
    assert message_id_candidates(long_id) == (long_id,)


_forms = st.sampled_from(["hex", "HEX", "dec"])


@given(st.integers(0, 2**63), _forms, _forms, st.integers(0, 12), st.integers(0, 12))
def test_any_hex_or_decimal_form_of_an_id_correlates(
    n: int, resp_form: str, receipt_form: str, resp_pad: int, receipt_pad: int
) -> None:
    def render(form: str, pad: int) -> str:
        digits = {"hex": f"{n:x}", "HEX": f"{n:X}", "dec": str(n)}[form]
        return "0" * pad + digits

    resp, receipt = render(resp_form, resp_pad), render(receipt_form, receipt_pad)
    assert normalize_message_id(resp) in message_id_candidates(receipt)
