"""The SMPP PDU codec: round trips, framing, golden bytes from the spec, and fuzzing."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from todoke.carriers.smpp.pdu import (
    MAX_PDU_SIZE,
    BindKind,
    BindRequest,
    BindResponse,
    CommandId,
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
    find_tlv,
    split_frames,
)

S = CommandStatus

# --- strategies ------------------------------------------------------------------------------

_latin1 = st.characters(min_codepoint=1, max_codepoint=255)
u8 = st.integers(0, 255)
u32 = st.integers(0, 2**32 - 1)
tlvs = st.lists(st.builds(Tlv, st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4).map(
    tuple
)


def cstr(size: int) -> st.SearchStrategy[str]:
    """A C-octet string that fits a field of spec size ``size`` (NUL included)."""
    return st.text(_latin1, max_size=size - 1)


def header() -> dict[str, Any]:
    return {"sequence_number": u32, "command_status": u32}


def sm_fields(addr: int) -> dict[str, Any]:
    return {
        "service_type": cstr(6),
        "source_addr_ton": u8,
        "source_addr_npi": u8,
        "source_addr": cstr(addr),
        "dest_addr_ton": u8,
        "dest_addr_npi": u8,
        "destination_addr": cstr(addr),
        "esm_class": u8,
        "registered_delivery": u8,
        "data_coding": u8,
        "tlvs": tlvs,
    }


_short_message = {
    "protocol_id": u8,
    "priority_flag": u8,
    "schedule_delivery_time": cstr(17),
    "validity_period": cstr(17),
    "replace_if_present_flag": u8,
    "sm_default_msg_id": u8,
    "short_message": st.binary(max_size=254),
}
_kinds = st.sampled_from(list(BindKind))

any_pdu: st.SearchStrategy[Pdu] = st.one_of(
    st.builds(
        BindRequest,
        kind=_kinds,
        system_id=cstr(16),
        password=cstr(9),
        system_type=cstr(13),
        interface_version=u8,
        addr_ton=u8,
        addr_npi=u8,
        address_range=cstr(41),
        **header(),
    ),
    st.builds(BindResponse, kind=_kinds, system_id=cstr(16), tlvs=tlvs, **header()),
    st.builds(SubmitSm, **sm_fields(21), **_short_message, **header()),
    st.builds(DeliverSm, **sm_fields(21), **_short_message, **header()),
    st.builds(DataSm, **sm_fields(65), **header()),
    *(
        st.builds(cls, message_id=cstr(65), tlvs=tlvs, **header())
        for cls in (SubmitSmResp, DeliverSmResp, DataSmResp)
    ),
    st.builds(
        QuerySm,
        message_id=cstr(65),
        source_addr_ton=u8,
        source_addr_npi=u8,
        source_addr=cstr(21),
        **header(),
    ),
    st.builds(
        QuerySmResp,
        message_id=cstr(65),
        final_date=cstr(17),
        message_state=u8,
        error_code=u8,
        **header(),
    ),
    *(
        st.builds(cls, **header())
        for cls in (EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack)
    ),
)


# --- round trips -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(any_pdu)
def test_decode_inverts_encode(pdu: Pdu) -> None:
    frame = encode(pdu)
    assert struct.unpack(">II", frame[:8]) == (len(frame), pdu.command_id)
    assert decode(frame) == pdu


@settings(max_examples=200, deadline=None)
@given(st.lists(any_pdu, min_size=1, max_size=8), st.data())
def test_stream_cut_anywhere_yields_the_same_pdus(pdus: list[Pdu], data: st.DataObject) -> None:
    stream = b"".join(encode(p) for p in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    reader = PduReader()
    frames: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += reader.feed(stream[start:end])
    assert [decode(f) for f in frames] == pdus
    assert reader.buffered == 0


def test_split_frames_keeps_the_incomplete_tail() -> None:
    one, two = encode(EnquireLink(sequence_number=1)), encode(Unbind(sequence_number=2))
    buffer = bytearray(one + two[:10])
    assert split_frames(buffer) == [one]
    assert buffer == two[:10]
    buffer += two[10:]
    assert split_frames(buffer) == [two]
    assert buffer == b""


def test_split_frames_returns_good_frames_before_raising_on_a_bad_length() -> None:
    good = encode(EnquireLink(sequence_number=7))
    bad = struct.pack(">IIII", 8, CommandId.ENQUIRE_LINK, 0, 8)
    buffer = bytearray(good + bad)
    assert split_frames(buffer) == [good]
    with pytest.raises(PduError) as e:
        split_frames(buffer)
    assert (e.value.status, e.value.sequence_number) == (S.ESME_RINVCMDLEN, 8)


def test_split_frames_refuses_frames_over_the_size_limit() -> None:
    buffer = bytearray(struct.pack(">I", MAX_PDU_SIZE + 1))
    with pytest.raises(PduError) as e:
        split_frames(buffer)
    assert e.value.status == S.ESME_RINVCMDLEN and e.value.sequence_number is None
    assert split_frames(bytearray(struct.pack(">I", 100)), max_size=100) == []


# --- golden vectors, written from SMPP 3.4 by hand -------------------------------------------


def _cross_check(command_id: int, seq: int, body: bytes) -> bytes:
    """The second computation: header and body assembled with struct, not with the codec."""
    return struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body


def test_golden_bind_transceiver() -> None:
    pdu = BindRequest(
        kind=BindKind.TRANSCEIVER, system_id="todoke", password="secret", sequence_number=1
    )
    golden = bytes.fromhex(
        "00000023 00000009 00000000 00000001"  # length 35, bind_transceiver, status, seq 1
        "746f646f6b6500"  # system_id "todoke"
        "73656372657400"  # password "secret"
        "00"  # system_type ""
        "34 00 00"  # interface_version 0x34, addr_ton, addr_npi
        "00"  # address_range ""
    )
    assert golden == _cross_check(0x09, 1, b"todoke\0secret\0\0\x34\0\0\0")
    assert encode(pdu) == golden
    assert decode(golden) == pdu
    assert "secret" not in repr(pdu)


def test_golden_submit_sm() -> None:
    pdu = SubmitSm(
        source_addr_ton=5,
        source_addr="TODOKE",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="819012345678",
        registered_delivery=1,
        data_coding=8,
        short_message="テスト".encode("utf-16-be"),
        tlvs=(Tlv.of_int(TlvTag.USER_MESSAGE_REFERENCE, 1),),
        sequence_number=2,
    )
    golden = bytes.fromhex(
        "0000003F 00000004 00000000 00000002"  # length 63, submit_sm, status, seq 2
        "00"  # service_type ""
        "05 00 544f444f4b4500"  # source ton 5 (alphanumeric), npi 0, "TODOKE"
        "01 01 38313930313233343536373800"  # dest ton 1, npi 1 (E.164), "819012345678"
        "00 00 00"  # esm_class, protocol_id, priority_flag
        "00 00"  # schedule_delivery_time "", validity_period ""
        "01 00 08 00"  # registered_delivery 1, replace_if_present, data_coding 8, default id
        "06 30c6 30b9 30c8"  # sm_length 6, テスト in UCS-2
        "0204 0002 0001"  # user_message_reference = 1
    )
    body = (
        b"\0\x05\0TODOKE\0\x01\x01819012345678\0"
        + bytes([0, 0, 0, 0, 0, 1, 0, 8, 0, 6])
        + "テスト".encode("utf-16-be")
        + struct.pack(">HHH", 0x0204, 2, 1)
    )
    assert golden == _cross_check(0x04, 2, body)
    assert encode(pdu) == golden
    assert decode(golden) == pdu


RECEIPT_TEXT = (
    b"id:0000006699 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
    b" stat:DELIVRD err:000 text:"
)


def test_golden_deliver_sm_receipt() -> None:
    pdu = DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="819012345678",
        dest_addr_ton=5,
        destination_addr="TODOKE",
        esm_class=0x04,
        short_message=RECEIPT_TEXT,
        tlvs=(Tlv.of_str(TlvTag.RECEIPTED_MESSAGE_ID, "1A2B"), Tlv.of_int(TlvTag.MESSAGE_STATE, 2)),
        sequence_number=7,
    )
    golden = (
        bytes.fromhex(
            "000000A7 00000005 00000000 00000007"  # length 167, deliver_sm, status, seq 7
            "00"  # service_type
            "01 01 38313930313233343536373800"  # source: the handset
            "05 00 544f444f4b4500"  # destination: our sender id
            "04 00 00"  # esm_class 0x04 = SMSC delivery receipt, protocol_id, priority
            "00 00"  # schedule_delivery_time, validity_period
            "00 00 00 00"  # registered_delivery, replace_if_present, data_coding, default id
            "66"  # sm_length 102
        )
        + RECEIPT_TEXT
        + bytes.fromhex("001E 0005 31413242 00 0427 0001 02")  # receipted_message_id, state 2
    )
    body = (
        b"\0\x01\x01819012345678\0\x05\0TODOKE\0\x04\0\0\0\0\0\0\0\0"
        + bytes([len(RECEIPT_TEXT)])
        + RECEIPT_TEXT
        + struct.pack(">HH5sHHB", 0x001E, 5, b"1A2B\0", 0x0427, 1, 2)
    )
    assert golden == _cross_check(0x05, 7, body)
    assert encode(pdu) == golden
    assert decode(golden) == pdu


# --- responses without a body ----------------------------------------------------------------


def test_error_responses_omit_the_body_and_decode_without_one() -> None:
    nack = SubmitSmResp(command_status=S.ESME_RTHROTTLED, sequence_number=9)
    assert encode(nack) == struct.pack(">IIII", 16, 0x80000004, 0x58, 9)
    assert decode(encode(nack)) == nack
    # Some SMSCs also answer success without a body: the id is then empty, not an error.
    assert decode(struct.pack(">IIII", 16, 0x80000004, 0, 3)) == SubmitSmResp(sequence_number=3)
    bind = struct.pack(">IIII", 16, 0x80000009, S.ESME_RINVPASWD, 1)
    assert decode(bind) == BindResponse(
        kind=BindKind.TRANSCEIVER, command_status=S.ESME_RINVPASWD, sequence_number=1
    )


def test_error_response_with_a_message_id_keeps_its_body() -> None:
    resp = SubmitSmResp(message_id="abc", command_status=S.ESME_RSUBMITFAIL, sequence_number=1)
    assert decode(encode(resp)) == resp


# --- decoding errors -------------------------------------------------------------------------


def _frame(command_id: int, body: bytes, seq: int = 42) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (b"\0\0\0\x10\0\0", S.ESME_RINVCMDLEN),
        (_frame(0x00000015, b"")[:15], S.ESME_RINVCMDLEN),
        (struct.pack(">IIII", 20, 0x15, 0, 42), S.ESME_RINVCMDLEN),
        (_frame(0x00000042, b""), S.ESME_RINVCMDID),
        (_frame(0x00000021, b"\0" * 20), S.ESME_RINVCMDID),  # submit_multi is not supported
        (_frame(0x00000015, b"\0"), S.ESME_RINVCMDLEN),  # enquire_link with a body
        (_frame(0x00000009, b"x" * 16 + b"\0"), S.ESME_RINVSYSID),  # system_id of 16 octets
        (_frame(0x00000009, b"todoke"), S.ESME_RINVCMDLEN),  # truncated inside system_id
        (_frame(0x00000009, b"a\0b\0\0\x34\0"), S.ESME_RINVCMDLEN),  # truncated in the octets
        (_frame(0x00000004, b"\0\0\0\0\0\0b\0" + b"\0" * 9 + b"\x05ab"), S.ESME_RINVMSGLEN),
        (_frame(0x80000004, b"1\0\x04\x27\0"), S.ESME_RINVOPTPARSTREAM),  # 3-octet TLV header
        (_frame(0x80000004, b"1\0\x04\x27\0\x09\0"), S.ESME_RINVPARLEN),  # TLV past the end
    ],
)
def test_malformed_frames_raise_pdu_error_with_the_status_to_answer(
    frame: bytes, status: int
) -> None:
    with pytest.raises(PduError) as e:
        decode(frame)
    assert e.value.status == status
    if len(frame) >= 16:
        assert e.value.sequence_number == 42
        assert e.value.command_id == struct.unpack(">I", frame[4:8])[0]


def test_decode_refuses_frames_over_max_size() -> None:
    frame = encode(SubmitSm(short_message=b"x" * 200))
    with pytest.raises(PduError):
        decode(frame, max_size=100)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    frame = encode(SubmitSm(short_message=b"hi", sequence_number=1))
    assert decode(bytearray(frame)) == decode(memoryview(frame)) == decode(frame)
    pdu = decode(bytearray(frame))
    assert isinstance(pdu, SubmitSm) and type(pdu.short_message) is bytes


# --- encoding errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pdu", "status"),
    [
        (SubmitSm(destination_addr="8" * 21), S.ESME_RINVDSTADR),
        (SubmitSm(source_addr="送信者"), S.ESME_RINVSRCADR),
        (SubmitSm(service_type="a\0b"), S.ESME_RINVSERTYP),
        (SubmitSm(short_message=b"x" * 255), S.ESME_RINVMSGLEN),
        (SubmitSm(esm_class=256), S.ESME_RSYSERR),
        (EnquireLink(sequence_number=2**32), S.ESME_RSYSERR),
        (SubmitSm(tlvs=(Tlv(0x10000, b""),)), S.ESME_RSYSERR),
        (SubmitSm(tlvs=(Tlv(0x0424, b"x" * 40_000),) * 2), S.ESME_RINVCMDLEN),
    ],
)
def test_encode_refuses_out_of_range_fields(pdu: Pdu, status: int) -> None:
    with pytest.raises(PduError) as e:
        encode(pdu)
    assert e.value.status == status


def test_encode_refuses_unknown_classes() -> None:
    with pytest.raises(PduError):
        encode(Pdu())


# --- TLVs ------------------------------------------------------------------------------------


def test_tlv_helpers() -> None:
    assert Tlv.of_int(TlvTag.SAR_MSG_REF_NUM, 0x1234) == Tlv(0x020C, b"\x12\x34")
    assert Tlv.of_int(TlvTag.SAR_TOTAL_SEGMENTS, 3).value == b"\x03"
    assert Tlv.of_int(0x1400, 7, size=4).as_int() == 7
    with pytest.raises(ValueError, match="size needed"):
        Tlv.of_int(0x1400, 7)
    with pytest.raises(ValueError, match="does not fit"):
        Tlv.of_int(TlvTag.MESSAGE_STATE, 256)
    assert Tlv.network_error_code(3, 0x0102).value == b"\x03\x01\x02"
    assert Tlv(0x001E, b"abc").as_str() == "abc"  # SMSC quirk: no NUL
    assert Tlv(0x001E, b"abc\0\0").as_str() == "abc"
    assert Tlv(0x0427, b"").as_int() is None
    tlvs = (Tlv(0x1500, b"vendor"), Tlv.of_int(TlvTag.MESSAGE_STATE, 2))
    assert find_tlv(tlvs, TlvTag.MESSAGE_STATE) == tlvs[1]
    assert find_tlv(tlvs, TlvTag.NETWORK_ERROR_CODE) is None


def test_unknown_tlvs_survive_a_round_trip() -> None:
    pdu = DeliverSm(tlvs=(Tlv(0x1500, b"vendor"), Tlv(0xFFFF, b""), Tlv(0x1500, b"again")))
    assert decode(encode(pdu)) == pdu


# --- fuzzing ---------------------------------------------------------------------------------

_KNOWN_IDS = [int(c) for c in CommandId]


def _decode_only_pdu_error(data: bytes) -> Pdu | None:
    try:
        return decode(data)
    except PduError as e:
        assert e.status in set(CommandStatus)
        return None


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_raises_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_error(data)
    buffer = bytearray(data)
    with contextlib.suppress(PduError):
        for frame in split_frames(buffer):
            assert struct.unpack(">I", frame[:4])[0] == len(frame) >= 16
            _decode_only_pdu_error(frame)


@settings(max_examples=800, deadline=None)
@given(st.sampled_from(_KNOWN_IDS), u32, st.binary(max_size=120))
def test_random_bodies_raise_only_pdu_error(command_id: int, seq: int, body: bytes) -> None:
    pdu = _decode_only_pdu_error(struct.pack(">IIII", 16 + len(body), command_id, 0, seq) + body)
    if pdu is not None:
        _check_reencodes(pdu)


def _check_reencodes(pdu: Pdu) -> None:
    """Whatever decodes re-encodes to an equal PDU (sm_length 255 is read but never sent)."""
    if len(getattr(pdu, "short_message", b"")) == 255:
        return
    assert decode(encode(pdu)) == pdu


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(encode(draw(any_pdu)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "length", "flip", "byte", "insert", "delete"]))
        i = draw(st.integers(0, max(len(frame) - 1, 0)))
        if op == "truncate":
            del frame[i:]
        elif op == "length" and len(frame) >= 4:
            frame[0:4] = struct.pack(">I", draw(st.sampled_from([0, 15, 16, len(frame) + 1])))
        elif op == "flip" and frame:
            frame[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and frame:
            frame[i] = draw(u8)
        elif op == "insert":
            frame.insert(i, draw(u8))
        elif op == "delete" and frame:
            del frame[i]
    if draw(st.booleans()) and len(frame) >= 4:
        frame[0:4] = struct.pack(">I", len(frame))  # keep framing right to reach the body
    return bytes(frame)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_pdus_raise_only_pdu_error(data: bytes) -> None:
    pdu = _decode_only_pdu_error(data)
    if pdu is not None:
        _check_reencodes(pdu)
