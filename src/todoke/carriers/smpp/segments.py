"""Message parts on the SMPP wire: GSM 03.38 septets, 7-bit packing, UDH concatenation.

This is the carrier-side view only: the text was already checked and counted by the domain
(``domain/text.py``); here it is turned into the ``short_message`` octets of each submit_sm and
inbound ``short_message`` octets are turned back into text. The GSM-7 table below is a private
copy on purpose, so that the codec does not depend on the domain's text rules.

Sizes (3GPP TS 23.040): 140 octets per part. A single part holds 160 GSM-7 septets or 70 UCS-2
code units; with a concatenation UDH (6 octets, or 7 with a 16-bit reference) a part holds 153
(152) septets or 67 (66) code units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

# 3GPP TS 23.038, 6.2.1: the default alphabet; index = septet. 0x1B is the escape to the
# extension table and never stands for a character of its own.
GSM7_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# 23.038, 6.2.1.1: the extension table, reached by 0x1B followed by the code.
GSM7_EXTENSION: Final = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESC: Final = 0x1B
_CR: Final = 0x0D
if len(GSM7_BASIC) != 128:  # pragma: no cover - guards the table literal above
    raise RuntimeError("GSM-7 table must have 128 entries")

_ENCODE: Final[dict[str, bytes]] = {c: bytes((i,)) for i, c in enumerate(GSM7_BASIC) if i != ESC}
_ENCODE.update({c: bytes((ESC, code)) for code, c in GSM7_EXTENSION.items()})

DC_GSM7: Final = 0x00  # "SMSC default alphabet": GSM-7 on the SMSCs todoke talks to
DC_IA5: Final = 0x01
DC_LATIN1: Final = 0x03
DC_UCS2: Final = 0x08
DC_ISO2022JP: Final = 0x0A  # SMPP 3.4, 5.2.19: "ISO-2022-JP (Music Codes)"
ESM_UDHI: Final = 0x40  # esm_class bit 6: short_message starts with a User Data Header

IEI_CONCAT_8: Final = 0x00
IEI_CONCAT_16: Final = 0x08
PART_OCTETS: Final = 140
MAX_PARTS: Final = 255


# --- GSM-7 septets -----------------------------------------------------------------------------


def gsm7_encode_septets(text: str) -> bytes:
    """One septet per octet (extension characters as 0x1B + code); ``ValueError`` names the
    first character that the GSM-7 default alphabet cannot carry."""
    try:
        return b"".join([_ENCODE[c] for c in text])
    except KeyError:
        bad = next(c for c in text if c not in _ENCODE)
        raise ValueError(f"{bad!r} (U+{ord(bad):04X}) is not in the GSM-7 alphabet") from None


def gsm7_decode_septets(septets: bytes) -> str:
    """Text from unpacked septets; never raises.

    Octets above 0x7F become U+FFFD. An unknown escape shows the next septet from the main table
    and a trailing escape shows a space, as 23.038 (6.2.1.1) asks of receivers.
    """
    out: list[str] = []
    escaped = False
    for s in septets:
        if s > 0x7F:
            out.append("\ufffd")
            escaped = False
        elif escaped:
            out.append(" " if s == ESC else (GSM7_EXTENSION.get(s) or GSM7_BASIC[s]))
            escaped = False
        elif s == ESC:
            escaped = True
        else:
            out.append(GSM7_BASIC[s])
    if escaped:
        out.append(" ")
    return "".join(out)


def pack_septets(septets: bytes, *, fill_bits: int = 0) -> bytes:
    """Pack septets 7 bits each, least significant bit first (23.038, 6.1.2.1).

    ``fill_bits`` (0-6) zero bits come first, so that septets after a UDH start on a septet
    boundary (23.040, 9.2.3.24). Only the low 7 bits of each octet are used.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, not {fill_bits}")
    nbits = fill_bits + 7 * len(septets)
    acc = 0
    for i, s in enumerate(septets):
        acc |= (s & 0x7F) << (fill_bits + 7 * i)
    return acc.to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, *, fill_bits: int = 0) -> bytes:
    """The first ``count`` septets packed in ``data`` after ``fill_bits`` bits.

    Returns fewer when ``data`` is too short for ``count``; never raises except ``ValueError``
    for ``fill_bits`` outside 0-6.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, not {fill_bits}")
    count = max(0, min(count, (8 * len(data) - fill_bits) // 7))
    acc = int.from_bytes(data, "little") >> fill_bits
    return bytes((acc >> (7 * i)) & 0x7F for i in range(count))


# --- UDH ---------------------------------------------------------------------------------------


class ConcatInfo(NamedTuple):
    """Concatenation of one part: reference shared by the parts, part count, 1-based number."""

    ref: int
    total: int
    seq: int


def build_concat_udh(ref: int, total: int, seq: int, *, ref16: bool = False) -> bytes:
    """The whole UDH (UDHL included) of one part: IEI 0x00 (8-bit ref) or 0x08 (16-bit ref)."""
    if not (0 <= ref <= (0xFFFF if ref16 else 0xFF)):
        raise ValueError(f"concatenation reference {ref} out of range")
    if not 1 <= seq <= total <= MAX_PARTS:
        raise ValueError(f"part {seq} of {total} is not a valid concatenation")
    if ref16:
        return bytes((6, IEI_CONCAT_16, 4, ref >> 8, ref & 0xFF, total, seq))
    return bytes((5, IEI_CONCAT_8, 3, ref, total, seq))


def parse_udh(short_message: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split a UDHI short_message into its information elements and the payload after the UDH.

    ``ValueError`` when the UDH is malformed (UDHL or an IE length runs past its end).
    """
    if not short_message:
        raise ValueError("empty short_message has no UDH")
    end = 1 + short_message[0]
    if end > len(short_message):
        raise ValueError("UDHL runs past the short_message")
    ies: list[tuple[int, bytes]] = []
    pos = 1
    while pos < end:
        if pos + 2 > end or pos + 2 + short_message[pos + 1] > end:
            raise ValueError("information element runs past the UDH")
        size = short_message[pos + 1]
        ies.append((short_message[pos], bytes(short_message[pos + 2 : pos + 2 + size])))
        pos += 2 + size
    return ies, bytes(short_message[end:])


def concat_info(ies: list[tuple[int, bytes]]) -> ConcatInfo | None:
    """The concatenation IE among ``ies``, or ``None`` when there is none or it is invalid.

    23.040 (9.2.3.24.1) tells receivers to ignore an IE whose total or sequence number is 0 or
    whose sequence number exceeds the total.
    """
    for iei, data in ies:
        if iei == IEI_CONCAT_8 and len(data) == 3:
            info = ConcatInfo(data[0], data[1], data[2])
        elif iei == IEI_CONCAT_16 and len(data) == 4:
            info = ConcatInfo((data[0] << 8) | data[1], data[2], data[3])
        else:
            continue
        if 1 <= info.seq <= info.total:
            return info
    return None


def _fill_bits(udh_octets: int) -> int:
    return (7 - (udh_octets * 8) % 7) % 7


# --- outbound ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodedPart:
    """The submit_sm fields of one part; set esm_class bit 0x40 when ``esm_class_udhi``."""

    data_coding: int
    esm_class_udhi: bool
    short_message: bytes


def encode_parts(
    text: str,
    *,
    encoding: Literal["GSM7", "UCS2"],
    ref: int,
    packed: bool = False,
    ref16: bool = False,
) -> list[EncodedPart]:
    """Encode ``text`` as one part when it fits, else as concatenated parts with a UDH.

    GSM-7 is unpacked (one septet per octet, what most SMSCs expect with data_coding 0) unless
    ``packed``. Parts never split a GSM-7 escape pair or a UTF-16 surrogate pair. ``ref`` is the
    concatenation reference shared by the parts (8 or 16 bits). ``ValueError`` for a character
    outside GSM-7, a reference out of range, or more than 255 parts.
    """
    udh_len = 7 if ref16 else 6
    if encoding == "UCS2":
        raw = text.encode("utf-16-be")
        if len(raw) <= PART_OCTETS:
            return [EncodedPart(DC_UCS2, False, raw)]
        chunks = _split_ucs2(raw, (PART_OCTETS - udh_len) // 2)
        dc = DC_UCS2
    elif encoding == "GSM7":
        septets = gsm7_encode_septets(text)
        if _septet_cost(septets, 0, packed) <= PART_OCTETS * 8 // 7:
            body = _pack_part(septets, 0) if packed else septets
            return [EncodedPart(DC_GSM7, False, body)]
        # The same septet budget packed or not: unpacked septets are packed by the SMSC.
        budget = (PART_OCTETS - udh_len) * 8 // 7
        chunks = _split_septets(septets, budget, _fill_bits(udh_len), packed)
        dc = DC_GSM7
    else:
        raise ValueError(f"unknown encoding {encoding!r}")
    if len(chunks) > MAX_PARTS:
        raise ValueError(f"{len(chunks)} parts exceed the {MAX_PARTS} a UDH can number")
    fill = _fill_bits(udh_len)
    parts = []
    for seq, chunk in enumerate(chunks, 1):
        udh = build_concat_udh(ref, len(chunks), seq, ref16=ref16)
        body = _pack_part(chunk, fill) if packed and dc == DC_GSM7 else chunk
        parts.append(EncodedPart(dc, True, udh + body))
    return parts


def _split_ucs2(raw: bytes, units: int) -> list[bytes]:
    chunks = []
    pos = 0
    while pos < len(raw):
        cut = min(pos + 2 * units, len(raw))
        if cut < len(raw) and 0xD8 <= raw[cut - 2] <= 0xDB:
            cut -= 2  # a high surrogate stays with its low surrogate
        chunks.append(raw[pos:cut])
        pos = cut
    return chunks


def _split_septets(septets: bytes, budget: int, fill: int, packed: bool) -> list[bytes]:
    chunks = []
    pos = 0
    while pos < len(septets):
        cut = min(pos + budget, len(septets))
        if septets[cut - 1] == ESC:
            cut -= 1  # our encoder never emits ESC as an extension code: this one is a prefix
        if _septet_cost(septets[pos:cut], fill, packed) > budget:
            cut -= 1  # leave room for the doubled <CR> (see _pack_part)
        chunks.append(septets[pos:cut])
        pos = cut
    return chunks


def _septet_cost(septets: bytes, fill: int, packed: bool) -> int:
    """Septets a part needs, counting the <CR> that packing adds after a final <CR>."""
    return len(septets) + (1 if packed and _ends_with_cr_on_octet(septets, fill) else 0)


def _ends_with_cr_on_octet(septets: bytes, fill: int) -> bool:
    return bool(septets) and septets[-1] == _CR and (fill + 7 * len(septets)) % 8 == 0


def _pack_part(septets: bytes, fill: int) -> bytes:
    """Pack one part, padding as 23.038 (6.1.2.3.1) asks.

    Seven spare bits at the end would read as '@', so they carry <CR>, which receivers drop; a
    wanted final <CR> that ends exactly on an octet is doubled, or receivers would drop it.
    """
    if (fill + 7 * len(septets)) % 8 == 1 or _ends_with_cr_on_octet(septets, fill):
        septets += bytes((_CR,))
    return pack_septets(septets, fill_bits=fill)


# --- inbound -----------------------------------------------------------------------------------


def decode_short_message(
    data_coding: int, esm_class: int, short_message: bytes, *, packed: bool = False
) -> tuple[str, ConcatInfo | None]:
    """The text of an inbound short_message and its concatenation, if any. Never raises.

    Alphabets: 0 GSM-7 (``packed`` per the SMSC's setting), 1 IA5/ASCII, 3 Latin-1, 8 UCS-2
    (read as UTF-16, so surrogate pairs work), 0x0A ISO-2022-JP, and the 23.038 coding groups
    0x10-0x3F and 0xC0-0xFF; anything else (binary, JIS X 0208 in 0x05) is read as Latin-1 so
    that no octet is lost. Undecodable input becomes U+FFFD. A malformed UDH counts as none.
    """
    payload = bytes(short_message)
    info: ConcatInfo | None = None
    udh_octets = 0
    if esm_class & ESM_UDHI:
        try:
            ies, body = parse_udh(payload)
        except ValueError:
            pass
        else:
            info = concat_info(ies)
            udh_octets = len(payload) - len(body)
            payload = body
    alphabet = _alphabet(data_coding)
    if alphabet == DC_GSM7:
        if not packed:
            return gsm7_decode_septets(payload), info
        fill = _fill_bits(udh_octets) if udh_octets else 0
        nbits = 8 * len(payload) - fill
        septets = unpack_septets(payload, nbits // 7, fill_bits=fill)
        if nbits % 7 == 0 and septets.endswith(b"\r"):
            septets = septets[:-1]  # <CR> padding of seven spare bits (see _pack_part)
        return gsm7_decode_septets(septets), info
    if alphabet == DC_UCS2:
        return payload.decode("utf-16-be", errors="replace"), info
    if alphabet == DC_IA5:
        return payload.decode("ascii", errors="replace"), info
    if alphabet == DC_ISO2022JP:
        return payload.decode("iso2022_jp", errors="replace"), info
    return payload.decode("latin-1"), info


def _alphabet(data_coding: int) -> int:
    if data_coding in (DC_GSM7, DC_IA5, DC_UCS2, DC_ISO2022JP):
        return data_coding
    if 0x10 <= data_coding <= 0x3F:
        # 23.038 general data coding: bits 3-2 are the alphabet (00 GSM-7, 01 8-bit, 10 UCS-2).
        return {0: DC_GSM7, 2: DC_UCS2}.get((data_coding >> 2) & 0x03, DC_LATIN1)
    if 0xC0 <= data_coding <= 0xEF:  # message waiting groups: GSM-7, UCS-2 from 0xE0
        return DC_UCS2 if data_coding >= 0xE0 else DC_GSM7
    if data_coding >= 0xF0:
        return DC_LATIN1 if data_coding & 0x04 else DC_GSM7  # bit 2: 8-bit data, else GSM-7
    return DC_LATIN1
