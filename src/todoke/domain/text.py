"""Message text: which characters may be sent, encodings, parts, and the Shift_JIS byte rules.

Character repertoire (the 環境依存文字 decision)
-----------------------------------------------
Japanese carriers carry any UCS-2 text, but the providers todoke imitates refuse 機種依存文字
(環境依存文字): handsets render them differently or not at all. todoke accepts a character when

1. Python's strict ``shift_jis`` codec can encode it: JIS X 0208 (kanji levels 1 and 2, kana,
   full-width forms, Greek, Cyrillic, box drawing) and JIS X 0201 (ASCII, half-width katakana,
   and ``¥`` / ``‾``, which the codec writes as 0x5C / 0x7E); or
2. it is a GSM 03.38 character (``€``, accented Latin letters such as ``é`` ``ß`` ``Ä``); or
3. it is one of the Windows (cp932) spellings of a JIS X 0208 character. The same key gives a
   different code point on Windows than on a Mac or in JIS-based software, users type both, and
   both are accepted (JIS/Mac form first, Windows form second):

   - wave dash (1-33):            U+301C 〜 and U+FF5E ～
   - minus sign (1-61):           U+2212 − and U+FF0D －
   - double vertical line (1-34): U+2016 ‖ and U+2225 ∥
   - cent sign (1-81):            U+00A2 ¢ and U+FFE0 ￠
   - pound sign (1-82):           U+00A3 £ and U+FFE1 ￡
   - not sign (2-44):             U+00AC ¬ and U+FFE2 ￢
   - em dash (1-29):              U+2014 — and U+2015 ―

   Python's ``shift_jis`` already has the JIS/Mac forms, except that it maps 1-29 to U+2015 like
   Windows; so the added characters are U+FF5E, U+FF0D, U+2225, U+FFE0, U+FFE1, U+FFE2, U+2014;

and it is not a control character: C0 controls other than LF and CR, DEL and C1 controls are
refused (form feed too, although GSM-7 could carry it).

Refused, among others: NEC special characters (①, ㈱, Ⅰ, ㍉), NEC-selected and IBM extended
kanji (髙, 﨑), emoji and everything outside the BMP, the no-break space, lone surrogates.
The set is one precomputed ``frozenset``: :func:`analyze` runs for every submitted message.

Encodings and parts
-------------------
Text made only of GSM 03.38 characters goes as GSM-7: 160 septets in one part, 153 per part of
a concatenated message; an extension character (``^{}\\[~]|€`` and form feed) takes two septets
(0x1B + code), and the pair is never split across parts. Anything else goes as UCS-2 (UTF-16-BE):
70 code units in one part, 67 per part; a character outside the BMP is a surrogate pair, counts
two units and is never split. The character count that limits a message (660 for 絶対リーチ!
CommonMT, seeds/002 "全角/半角問わず文字数でカウント") is ``len(text)`` in code points.

MediaSMS byte rules (seeds/003, parameter ``smstext``)
-------------------------------------------------------
The seed's rules for ``smstext``, quoted from its parameter table (585 is its error code)::

    140byte 環境依存文字を除くいずれかの値  長文の場合は 1340 byte
    通信キャリア側の仕様により、au 以外では本文中に 2byte 文字が 1 文字でも存在すると半角全角
    問わず 70 文字まで、Shift_JIS 換算で 140byte を超えた値は切り捨てられます。
    (585 エラー:) 本文が空の場合 / 改行のみ / スペースのみ（半角・全角スペースのみ）/
    「文字数オーバー制限オプション」が有効の状態で、140byte（長文オプション有効時は 1340byte）
    を超過した文字数を送信しようとした場合
    ※長文オプション利用時にはこのパラメータで 670 文字まで指定できます。
    byte 数は Shift_JIS で換算し 140byte 以内（UTF-16 から Shift_JIS へ変換し処理するため）

todoke refuses what MediaSMS would truncate (the 文字数オーバー制限 behaviour). Bytes are counted
as Shift_JIS: ASCII and half-width katakana 1 byte, every other character 2 bytes (also the ones
Shift_JIS lacks, such as ``é``, and ``¥``, which a Windows converter would not map to 0x5C),
and a line break 2 bytes, because it travels as CRLF (LF, CR or CRLF each count as one line
break). For the same reason a line break counts as 2 characters in the 70 / 670 character
limits: MediaSMS sees the CRLF form. Single-part messages: at most 140 bytes, and, except for
au, at most 70 characters once any 2-byte character is present. An unknown carrier gets the
stricter non-au rule. Long messages (長文オプション): at most 1340 bytes and 670 characters, for
all four carriers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from todoke.domain.carrier import Carrier
from todoke.errors import InvalidText

__all__ = [
    "GSM7_BASIC",
    "GSM7_CONCATENATED",
    "GSM7_EXTENSION",
    "GSM7_SINGLE",
    "MAX_CHARACTERS",
    "MEDIASMS_LONG_BYTES",
    "MEDIASMS_LONG_CHARACTERS",
    "MEDIASMS_SINGLE_BYTES",
    "MEDIASMS_WIDE_CHARACTERS",
    "UCS2_CONCATENATED",
    "UCS2_SINGLE",
    "Encoding",
    "TextInfo",
    "analyze",
    "check_mediasms_length",
    "encode_ucs2",
    "gsm7_septets",
    "is_allowed",
    "is_gsm7",
    "sjis_byte_count",
    "split_parts",
]

Encoding = Literal["GSM7", "UCS2"]

MAX_CHARACTERS = 660  # 絶対リーチ! CommonMT ``message``
GSM7_SINGLE, GSM7_CONCATENATED = 160, 153  # septets; 7 septets go to the UDH when concatenated
UCS2_SINGLE, UCS2_CONCATENATED = 70, 67  # UTF-16 code units; 6 octets of UDH = 3 units
MEDIASMS_SINGLE_BYTES, MEDIASMS_LONG_BYTES = 140, 1340
MEDIASMS_WIDE_CHARACTERS, MEDIASMS_LONG_CHARACTERS = 70, 670

ESCAPE = 0x1B

# GSM 03.38 default alphabet: the character at index i has code i. Index 0x1B is the escape to
# the extension table, not a character; 0x09 is the capital Ç the standard names.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: sent as ESCAPE followed by the code.
GSM7_EXTENSION: Mapping[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_GSM7_CODES = {c: code for code, c in enumerate(GSM7_BASIC) if code != ESCAPE}
_GSM7_CHARS = frozenset(_GSM7_CODES) | frozenset(GSM7_EXTENSION)
_SEPTET_TRANSLATION = {ord(c): chr(code) for c, code in _GSM7_CODES.items()} | {
    ord(c): chr(ESCAPE) + chr(code) for c, code in GSM7_EXTENSION.items()
}

# Windows (cp932) spellings of JIS X 0208 characters; see the table in the module docstring.
_WINDOWS_VARIANTS = "\uff5e\uff0d\u2225\uffe0\uffe1\uffe2\u2014"


def _shift_jis_repertoire() -> frozenset[str]:
    """Every character the strict ``shift_jis`` codec encodes.

    Decoding every 1- and 2-byte sequence is 5x faster at import than trying to encode the
    whole BMP; the codec's only encode-only characters are ``¥`` and ``‾`` (JIS X 0201 Roman,
    written as 0x5C and 0x7E), added by hand. A test compares this with the whole BMP.
    """
    found = {"\u00a5", "\u203e"}
    candidates = [bytes([b]) for b in range(0x100)] + [
        bytes([lead, trail])
        for lead in (*range(0x81, 0xA0), *range(0xE0, 0xFD))
        for trail in range(0x40, 0xFD)
    ]
    for candidate in candidates:
        try:
            found.add(candidate.decode("shift_jis"))
        except UnicodeDecodeError:
            continue
    return frozenset(c for c in found if len(c) == 1)


_CONTROLS = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))) - {"\n", "\r"}
_ALLOWED = (_shift_jis_repertoire() | _GSM7_CHARS | frozenset(_WINDOWS_VARIANTS)) - _CONTROLS
_GSM7_ALLOWED = _GSM7_CHARS & _ALLOWED  # GSM-7 minus form feed


@dataclass(slots=True)  # not frozen: one per accepted message (see Message)
class TextInfo:
    """What :func:`analyze` measured about a valid message text."""

    encoding: Encoding
    characters: int  # code points: the 絶対リーチ! "全角/半角問わず文字数"
    units: int  # GSM-7 septets (extension characters count 2) or UTF-16 code units
    parts: int  # SMS parts (segments) the carrier will bill
    sjis_bytes: int  # MediaSMS Shift_JIS byte count, see sjis_byte_count()


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM 03.38 alphabet or extension table."""
    return _GSM7_CHARS.issuperset(text)


def is_allowed(char: str) -> bool:
    """Whether todoke accepts ``char`` in a message (see the module docstring)."""
    return char in _ALLOWED


def gsm7_septets(text: str) -> bytes:
    """The unpacked GSM-7 septets of ``text``, one per byte; extension characters are 0x1B + code.

    Raises ``ValueError`` when ``text`` is not GSM-7 (check with :func:`is_gsm7` first).
    """
    if not is_gsm7(text):
        raise ValueError("text holds characters outside the GSM 03.38 alphabet")
    # Every septet is below 0x80, so latin-1 turns the translated text into the bytes 1:1.
    return text.translate(_SEPTET_TRANSLATION).encode("latin-1")


def encode_ucs2(text: str) -> bytes:
    """``text`` as UTF-16-BE: what SMSCs call UCS-2 (data_coding 0x08), with surrogate pairs.

    Raises ``UnicodeEncodeError`` for a lone surrogate, which :func:`analyze` refuses anyway.
    """
    return text.encode("utf-16-be")


def analyze(text: str, *, max_characters: int = MAX_CHARACTERS, field: str = "text") -> TextInfo:
    """Validate a message text and measure it.

    Raises :class:`InvalidText` (with ``field``) coded ``empty_text`` when the text is empty or
    only whitespace, ``text_too_long`` when it has more than ``max_characters`` code points, and
    ``unsupported_character`` for the first character todoke does not accept; that error names
    the character, its code point and its 1-based position, and carries it as ``character``.
    """
    if not text or text.isspace():
        raise InvalidText(f"{field} is empty or only whitespace", field=field, code="empty_text")
    characters = len(text)
    if characters > max_characters:
        raise InvalidText(
            f"{field} has {characters} characters; at most {max_characters} are allowed",
            field=field,
            code="text_too_long",
        )
    if _GSM7_ALLOWED.issuperset(text):
        units = characters + _extension_count(text)
        encoding: Encoding = "GSM7"
    elif _ALLOWED.issuperset(text):
        # Allowed characters are all in the BMP: one UTF-16 unit each.
        units = characters
        encoding = "UCS2"
    else:
        raise _unsupported(text, field)
    return TextInfo(
        encoding=encoding,
        characters=characters,
        units=units,
        parts=_count_parts(text, encoding, units),
        sjis_bytes=sjis_byte_count(text),
    )


def split_parts(text: str, encoding: Encoding) -> list[str]:
    """Cut ``text`` into the parts it is sent in; ``"".join(parts) == text``.

    One part when the whole text fits a single SMS (160 septets / 70 units), else parts of at
    most 153 septets / 67 units, filled greedily; an escape pair or a surrogate pair is never
    cut. An empty text is one empty part. ``ValueError`` when ``encoding`` is ``"GSM7"`` and the
    text is not GSM-7. ``len(split_parts(t, e)) == analyze(t).parts``.
    """
    if encoding == "GSM7" and not is_gsm7(text):
        raise ValueError("text holds characters outside the GSM 03.38 alphabet")
    starts = _part_starts(text, encoding)
    ends = [*starts[1:], len(text)]
    return [text[start:end] for start, end in zip(starts, ends, strict=True)]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TWO_BYTE = re.compile(r"[^\x00-\x7f\uff61-\uff9f]")  # not ASCII, not half-width katakana


def sjis_byte_count(text: str) -> int:
    """The MediaSMS byte count: Shift_JIS, every line break as CRLF (see the module docstring)."""
    return len(text) + _two_byte_count(text) + _lone_line_break_count(text)


def check_mediasms_length(text: str, *, long_message: bool, carrier: Carrier | None) -> None:
    """Refuse what MediaSMS would refuse (585) or truncate, for ``smstext``.

    ``long_message`` is the 長文オプション; ``carrier`` is the destination's carrier (``None``
    when unknown: the stricter non-au rule applies). Raises :class:`InvalidText` with
    ``field="smstext"`` coded ``empty_text`` or ``text_too_long``. Characters are not checked
    here; :func:`analyze` does that.
    """
    if not text or text.isspace():
        raise InvalidText("smstext is empty or only whitespace", field="smstext", code="empty_text")
    two_byte = _two_byte_count(text)
    characters = len(text) + _lone_line_break_count(text)
    size = characters + two_byte
    if long_message:
        byte_limit, character_limit = MEDIASMS_LONG_BYTES, MEDIASMS_LONG_CHARACTERS
        reason = "long messages"
    else:
        byte_limit, character_limit = MEDIASMS_SINGLE_BYTES, None
        reason = "a single message"
        # MediaSMS: carriers other than au cut a text holding any 2-byte character at 70
        # characters, half- and full-width alike.
        if carrier is not Carrier.AU and two_byte:
            character_limit = MEDIASMS_WIDE_CHARACTERS
            reason = "a single message with a full-width character to carriers other than au"
    if size > byte_limit:
        raise InvalidText(
            f"smstext is {size} Shift_JIS bytes; {reason} allow at most {byte_limit}",
            field="smstext",
            code="text_too_long",
        )
    if character_limit is not None and characters > character_limit:
        raise InvalidText(
            f"smstext has {characters} characters (line breaks count 2);"
            f" {reason} allow at most {character_limit}",
            field="smstext",
            code="text_too_long",
        )


def _two_byte_count(text: str) -> int:
    return 0 if text.isascii() else _TWO_BYTE.subn("", text)[1]


def _lone_line_break_count(text: str) -> int:
    # A CRLF is already 2 characters; a lone LF or CR is 1 and becomes 2 as CRLF.
    if "\n" not in text and "\r" not in text:
        return 0
    return sum(1 for m in _LINE_BREAK.finditer(text) if len(m.group()) == 1)


def _extension_count(text: str) -> int:
    return sum(text.count(c) for c in GSM7_EXTENSION if c in text)


def _unsupported(text: str, field: str) -> InvalidText:
    """The error for the first character of ``text`` that todoke does not accept."""
    position, char = next((i, c) for i, c in enumerate(text) if c not in _ALLOWED)
    name = unicodedata.name(char, "")
    described = f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"
    return InvalidText(
        f"{field} contains {char!r} ({described}) at position {position + 1}, which mobile"
        " carriers cannot carry: 機種依存文字 (環境依存文字), emoji and characters outside"
        " JIS X 0208 are refused",
        field=field,
        code="unsupported_character",
        character=char,
    )


def _count_parts(text: str, encoding: Encoding, units: int) -> int:
    """``len(split_parts(text, encoding))`` without building the parts."""
    single, concatenated = _LIMITS[encoding]
    if units <= single:
        return 1
    if units == len(text):  # every character is one unit: no pair to keep whole
        return -(-units // concatenated)
    return len(_part_starts(text, encoding))


_LIMITS: Mapping[Encoding, tuple[int, int]] = {
    "GSM7": (GSM7_SINGLE, GSM7_CONCATENATED),
    "UCS2": (UCS2_SINGLE, UCS2_CONCATENATED),
}


def _width(char: str, encoding: Encoding) -> int:
    """Units ``char`` takes: 2 for an escape pair (GSM-7) or a surrogate pair (UCS-2)."""
    if encoding == "GSM7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if char > "\uffff" else 1


def _part_starts(text: str, encoding: Encoding) -> list[int]:
    """Index in ``text`` where each part begins (greedy filling, pairs kept whole)."""
    single, concatenated = _LIMITS[encoding]
    widths = [_width(char, encoding) for char in text]
    if sum(widths) <= single:
        return [0]
    starts = [0]
    used = 0
    for index, needed in enumerate(widths):
        if used + needed > concatenated:
            starts.append(index)
            used = 0
        used += needed
    return starts
