"""GSM-7 septets and packing, UDH concatenation, and splitting text into submit_sm parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from todoke.carriers.smpp.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    ConcatInfo,
    EncodedPart,
    build_concat_udh,
    concat_info,
    decode_short_message,
    encode_parts,
    gsm7_decode_septets,
    gsm7_encode_septets,
    pack_septets,
    parse_udh,
    unpack_septets,
)

GSM_CHARS = "".join(c for c in GSM7_BASIC if c != "\x1b") + "".join(GSM7_EXTENSION.values())
gsm_text = st.text(st.sampled_from(GSM_CHARS), max_size=700)
septet_lists = st.lists(st.integers(0, 0x7F), max_size=300).map(bytes)

# --- GSM-7 septets and packing ---------------------------------------------------------------


def test_gsm7_table_has_128_septets_and_escape_pairs() -> None:
    assert len(GSM7_BASIC) == 128
    assert gsm7_encode_septets("@£A_€{") == bytes([0x00, 0x01, 0x41, 0x11, 0x1B, 0x65, 0x1B, 0x28])
    assert gsm7_decode_septets(bytes([0x00, 0x01, 0x41, 0x11, 0x1B, 0x65])) == "@£A_€"


def test_gsm7_refuses_characters_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match=r"U\+3042"):
        gsm7_encode_septets("abcあ")


def test_gsm7_decoding_is_lenient() -> None:
    assert gsm7_decode_septets(b"a\x80") == "a\ufffd"  # not a septet
    assert gsm7_decode_septets(b"\x1b\x41") == "A"  # unknown escape: the main-table character
    assert gsm7_decode_septets(b"\x1b\x1b\x41") == " A"  # escape to escape: a space
    assert gsm7_decode_septets(b"\x41\x1b") == "A "  # trailing escape: a space


@given(gsm_text)
def test_gsm7_text_round_trips(text: str) -> None:
    assert gsm7_decode_septets(gsm7_encode_septets(text)) == text


@given(st.binary(max_size=200))
def test_gsm7_decoding_never_raises(data: bytes) -> None:
    gsm7_decode_septets(data)


def test_pack_septets_known_vectors() -> None:
    # 23.038, 6.1.2.1.1 style example: "hellohello" packs to these 9 octets.
    septets = gsm7_encode_septets("hellohello")
    assert pack_septets(septets) == bytes.fromhex("E8329BFD4697D9EC37")
    # With one fill bit (after a 6-octet UDH) every bit moves up by one.
    assert pack_septets(b"\x01", fill_bits=1) == b"\x02"
    assert pack_septets(b"\x7f\x7f", fill_bits=1) == bytes([0xFE, 0x7F])
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10) == septets


@settings(max_examples=300)
@given(septet_lists, st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill: int) -> None:
    packed = pack_septets(septets, fill_bits=fill)
    assert len(packed) == (fill + 7 * len(septets) + 7) // 8
    assert unpack_septets(packed, len(septets), fill_bits=fill) == septets


def test_unpack_is_lenient_and_fill_bits_are_checked() -> None:
    assert unpack_septets(b"\xff", 5) == b"\x7f"  # one octet holds one septet only
    assert unpack_septets(b"", 3, fill_bits=6) == b""
    with pytest.raises(ValueError):
        pack_septets(b"a", fill_bits=7)
    with pytest.raises(ValueError):
        unpack_septets(b"a", 1, fill_bits=-1)


# --- UDH ------------------------------------------------------------------------------------


def test_concat_udh_8_and_16_bit() -> None:
    assert build_concat_udh(0xAB, 3, 2) == bytes([5, 0x00, 3, 0xAB, 3, 2])
    assert build_concat_udh(0x1234, 3, 1, ref16=True) == bytes([6, 0x08, 4, 0x12, 0x34, 3, 1])
    ies, payload = parse_udh(build_concat_udh(0x1234, 3, 1, ref16=True) + b"xy")
    assert ies == [(0x08, bytes([0x12, 0x34, 3, 1]))] and payload == b"xy"
    assert concat_info(ies) == ConcatInfo(0x1234, 3, 1)


@pytest.mark.parametrize(
    ("ref", "total", "seq", "ref16"),
    [
        (256, 2, 1, False),
        (-1, 2, 1, False),
        (65536, 2, 1, True),
        (1, 2, 3, False),
        (1, 0, 0, False),
    ],
)
def test_concat_udh_refuses_bad_values(ref: int, total: int, seq: int, ref16: bool) -> None:
    with pytest.raises(ValueError):
        build_concat_udh(ref, total, seq, ref16=ref16)


def test_parse_udh_skips_other_elements_and_refuses_overruns() -> None:
    # A port-addressing IE (0x05) before the concatenation IE.
    udh = bytes([11, 0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x00, 3, 7, 2, 2])
    ies, payload = parse_udh(udh + b"body")
    assert [iei for iei, _ in ies] == [0x05, 0x00] and payload == b"body"
    assert concat_info(ies) == ConcatInfo(7, 2, 2)
    for bad in (b"", bytes([5, 0, 3, 1]), bytes([3, 0, 3, 1]), bytes([1, 0])):
        with pytest.raises(ValueError):
            parse_udh(bad)


def test_concat_info_ignores_invalid_elements() -> None:
    assert concat_info([(0x00, bytes([1, 2, 3]))]) is None  # part 3 of 2
    assert concat_info([(0x00, bytes([1, 0, 0]))]) is None
    assert concat_info([(0x00, bytes([1, 2]))]) is None  # wrong length
    assert concat_info([(0x24, b"")]) is None


# --- outbound parts -------------------------------------------------------------------------


def _reassemble(parts: list[EncodedPart], *, packed: bool = False) -> str:
    texts = []
    refs = set()
    for i, part in enumerate(parts, 1):
        esm = 0x40 if part.esm_class_udhi else 0
        text, info = decode_short_message(part.data_coding, esm, part.short_message, packed=packed)
        if len(parts) > 1:
            assert info is not None and (info.total, info.seq) == (len(parts), i)
            refs.add(info.ref)
        else:
            assert info is None and not part.esm_class_udhi
        texts.append(text)
    assert len(refs) <= 1
    return "".join(texts)


def test_japanese_text_of_400_characters_takes_six_ucs2_parts() -> None:
    text = ("いろはにほへとちりぬるを、わかよたれそつねならむ。" * 20)[:400]
    parts = encode_parts(text, encoding="UCS2", ref=0x42)
    assert len(parts) == 6  # ceil(400 / 67)
    for seq, part in enumerate(parts, 1):
        assert part.data_coding == 0x08 and part.esm_class_udhi
        assert part.short_message[:6] == bytes([5, 0, 3, 0x42, 6, seq])
        assert len(part.short_message) <= 140
    assert _reassemble(parts) == text


def test_single_part_limits() -> None:
    assert len(encode_parts("a" * 160, encoding="GSM7", ref=1)) == 1
    assert len(encode_parts("a" * 161, encoding="GSM7", ref=1)) == 2
    assert len(encode_parts("€" * 80, encoding="GSM7", ref=1)) == 1  # 160 septets
    assert len(encode_parts("あ" * 70, encoding="UCS2", ref=1)) == 1
    assert len(encode_parts("あ" * 71, encoding="UCS2", ref=1)) == 2
    assert len(encode_parts("a" * 306, encoding="GSM7", ref=1)) == 2  # 2 x 153
    assert len(encode_parts("a" * 304, encoding="GSM7", ref=1, ref16=True)) == 2  # 2 x 152
    assert len(encode_parts("a" * 305, encoding="GSM7", ref=1, ref16=True)) == 3
    assert encode_parts("", encoding="GSM7", ref=1) == [EncodedPart(0x00, False, b"")]


def test_gsm7_escape_pair_is_not_split_at_the_153_boundary() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = encode_parts(text, encoding="GSM7", ref=9)
    assert len(parts) == 2
    first = parts[0].short_message[6:]
    assert len(first) == 152 and first[-1] != 0x1B  # "€" moved whole to part 2
    assert parts[1].short_message[6:8] == bytes([0x1B, 0x65])
    assert _reassemble(parts) == text


def test_surrogate_pair_is_not_split() -> None:
    text = "あ" * 66 + "😀" + "い" * 10
    parts = encode_parts(text, encoding="UCS2", ref=9)
    assert len(parts) == 2
    assert len(parts[0].short_message) == 6 + 66 * 2
    assert _reassemble(parts) == text


def test_packed_parts_fit_140_octets() -> None:
    text = "x" * 153 * 3
    for ref16, per_part in ((False, 153), (True, 152)):
        parts = encode_parts(text, encoding="GSM7", ref=1, packed=True, ref16=ref16)
        assert len(parts) == -(-len(text) // per_part)
        assert all(len(p.short_message) <= 140 for p in parts)
        assert _reassemble(parts, packed=True) == text


def test_packing_pads_seven_spare_bits_with_cr_so_no_at_sign_appears() -> None:
    parts = encode_parts("1234567", encoding="GSM7", ref=1, packed=True)
    assert len(parts[0].short_message) == 7  # 7 septets + <CR> fill exactly 8 x 7 bits
    assert unpack_septets(parts[0].short_message, 8)[-1] == 0x0D
    assert _reassemble(parts, packed=True) == "1234567"
    at_end = encode_parts("123456@", encoding="GSM7", ref=1, packed=True)
    assert _reassemble(at_end, packed=True) == "123456@"


def test_packing_doubles_a_final_cr_that_ends_on_an_octet() -> None:
    # 23.038, 6.1.2.3.1: receivers drop one <CR> there, so a wanted one is sent twice.
    parts = encode_parts("abcdefg\r", encoding="GSM7", ref=1, packed=True)
    assert _reassemble(parts, packed=True) == "abcdefg\r\r"
    # A full part must not end on such a <CR>: there is no room to double it.
    text = "a" * 152 + "\r" + "b" * 20
    parts = encode_parts(text, encoding="GSM7", ref=1, packed=True)
    assert all(len(p.short_message) <= 140 for p in parts)
    assert _reassemble(parts, packed=True) == text


@settings(max_examples=150, deadline=None)
@given(gsm_text, st.booleans(), st.booleans(), st.integers(0, 255))
def test_gsm7_parts_reassemble(text: str, packed: bool, ref16: bool, ref: int) -> None:
    if packed:
        text = text.replace("\r", "")  # a final <CR> may come back doubled (see above)
    parts = encode_parts(text, encoding="GSM7", ref=ref, packed=packed, ref16=ref16)
    for part in parts:
        body = part.short_message[(7 if ref16 else 6) if part.esm_class_udhi else 0 :]
        assert len(body) <= (140 if packed else 160)
    assert _reassemble(parts, packed=packed) == text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.booleans())
def test_ucs2_parts_reassemble(text: str, ref16: bool) -> None:
    text = text.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
    parts = encode_parts(text, encoding="UCS2", ref=300 if ref16 else 3, ref16=ref16)
    assert all(len(p.short_message) <= 140 for p in parts)
    assert _reassemble(parts) == text


def test_encode_parts_refusals() -> None:
    with pytest.raises(ValueError):
        encode_parts("あ", encoding="GSM7", ref=1)
    with pytest.raises(ValueError):
        encode_parts("a" * 200, encoding="GSM7", ref=256)
    with pytest.raises(ValueError):
        encode_parts("a" * 153 * 256, encoding="GSM7", ref=1)
    with pytest.raises(ValueError):
        encode_parts("a", encoding="UTF8", ref=1)  # type: ignore[arg-type]


# --- inbound ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_coding", "raw", "text"),
    [
        (0x00, bytes([0x48, 0x11, 0x1B, 0x65]), "H_€"),
        (0x01, b"plain \xff", "plain \ufffd"),
        (0x03, b"caf\xe9", "café"),
        (0x08, "日本語😀".encode("utf-16-be"), "日本語😀"),
        (0x08, b"\x30", "\ufffd"),  # odd length
        (0x0A, "漢字".encode("iso2022_jp"), "漢字"),
        (0x04, b"\x00\xff", "\x00\xff"),  # binary: every octet kept
        (0x18, "あ".encode("utf-16-be"), "あ"),  # 23.038 group 00xx, UCS-2
        (0xF0, bytes([0x41]), "A"),  # 23.038 group 1111, GSM-7
        (0xF4, b"\x41\x80", "A\x80"),  # 23.038 group 1111, 8-bit
        (0xE0, "い".encode("utf-16-be"), "い"),
    ],
)
def test_decode_short_message_alphabets(data_coding: int, raw: bytes, text: str) -> None:
    assert decode_short_message(data_coding, 0, raw) == (text, None)


def test_decode_short_message_with_udh() -> None:
    sm = build_concat_udh(5, 2, 1) + "日本".encode("utf-16-be")
    assert decode_short_message(0x08, 0x40, sm) == ("日本", ConcatInfo(5, 2, 1))
    # A malformed UDH counts as no UDH: the octets stay in the text rather than vanish.
    assert decode_short_message(0x03, 0x40, b"\x09ab") == ("\tab", None)


@settings(max_examples=500)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=200), st.booleans())
def test_decode_short_message_never_raises(dc: int, esm: int, data: bytes, packed: bool) -> None:
    text, _ = decode_short_message(dc, esm, data, packed=packed)
    assert isinstance(text, str)
