"""Message text: repertoire, GSM-7 / UCS-2 measurement, parts, and the MediaSMS byte rules."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todoke.domain.carrier import Carrier
from todoke.domain.text import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    TextInfo,
    analyze,
    check_mediasms_length,
    encode_ucs2,
    gsm7_septets,
    is_allowed,
    is_gsm7,
    sjis_byte_count,
    split_parts,
)
from todoke.errors import InvalidText

ALL_CARRIERS = [*Carrier, None]
NOT_AU = [Carrier.DOCOMO, Carrier.SOFTBANK, Carrier.RAKUTEN, None]


# --- GSM 03.38 data and encodings ---------------------------------------------------------------


def test_gsm7_tables() -> None:
    assert len(GSM7_BASIC) == 128
    assert GSM7_BASIC[0x00] == "@"
    assert GSM7_BASIC[0x02] == "$"
    assert GSM7_BASIC[0x11] == "_"
    assert GSM7_BASIC[0x41] == "A"
    assert GSM7_BASIC[0x7F] == "à"
    assert set(GSM7_EXTENSION) == set("\f^{}\\[~]|€")
    assert not set(GSM7_EXTENSION) & set(GSM7_BASIC)


def test_gsm7_septets() -> None:
    assert gsm7_septets("@£\nA€^") == bytes([0x00, 0x01, 0x0A, 0x41, 0x1B, 0x65, 0x1B, 0x14])
    assert gsm7_septets("{}[]~|\\\f") == bytes.fromhex("1b281b291b3c1b3e1b3d1b401b2f1b0a")
    assert gsm7_septets("") == b""
    with pytest.raises(ValueError, match="GSM"):
        gsm7_septets("あ")
    with pytest.raises(ValueError, match="GSM"):
        gsm7_septets("\x1b")  # the escape code is not a character


def test_encode_ucs2() -> None:
    assert encode_ucs2("あA") == b"\x30\x42\x00\x41"
    assert encode_ucs2("😀") == b"\xd8\x3d\xde\x00"  # a surrogate pair: two code units


@pytest.mark.parametrize(
    ("text", "gsm7"),
    [
        ("Hello, world! 123", True),
        ("Ünïcode? no: Ä Ö Ñ Ü ß é è £ ¥ § ¿ ¡ Δ Ω", False),  # ï is not GSM-7
        ("Ä Ö Ñ Ü ß é è £ ¥ § ¿ ¡ Δ Ω", True),
        ("{braces} [brackets] ~^|\\ €", True),
        ("back`tick", False),  # ASCII, but not in GSM 03.38
        ("ç", False),  # GSM 03.38 has the capital Ç only
        ("こんにちは", False),
        ("ｱｲｳ", False),
        ("", True),
    ],
)
def test_is_gsm7(text: str, gsm7: bool) -> None:
    assert is_gsm7(text) is gsm7


# --- analyze: encodings, units and parts ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("a" * 160, "GSM7", 160, 1),
        ("a" * 161, "GSM7", 161, 2),
        ("a" * 306, "GSM7", 306, 2),
        ("a" * 307, "GSM7", 307, 3),
        ("€" * 80, "GSM7", 160, 1),  # extension characters take two septets each
        ("€" * 80 + "a", "GSM7", 161, 2),
        ("{" * 80, "GSM7", 160, 1),
        ("{" * 152, "GSM7", 304, 2),  # 76 pairs (152 septets) per part: 153 would cut a pair
        ("{" * 153, "GSM7", 306, 3),
        # 152 + pair that does not fit in part 1 -> part 2 is "€" + 151, part 3 is the rest
        ("a" * 152 + "€" + "a" * 152, "GSM7", 306, 3),
        ("あ" * 70, "UCS2", 70, 1),
        ("あ" * 71, "UCS2", 71, 2),
        ("あ" * 134, "UCS2", 134, 2),
        ("あ" * 135, "UCS2", 135, 3),
        ("a" * 69 + "あ", "UCS2", 70, 1),  # one non-GSM character makes the whole text UCS-2
        ("a" * 70 + "あ", "UCS2", 71, 2),
        ("€" * 69 + "あ", "UCS2", 70, 1),  # in UCS-2, € is one unit
        ("a" * 660, "GSM7", 660, 5),
        ("あ" * 660, "UCS2", 660, 10),
    ],
)
def test_analyze_measures(text: str, encoding: str, units: int, parts: int) -> None:
    info = analyze(text)
    assert info == TextInfo(
        encoding=info.encoding,
        characters=len(text),
        units=units,
        parts=parts,
        sjis_bytes=sjis_byte_count(text),
    )
    assert info.encoding == encoding
    assert len(split_parts(text, info.encoding)) == parts


def test_characters_count_code_points_whatever_the_width() -> None:
    assert analyze("あいうABCｱｲｳ").characters == 9


def test_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "a" * 10
    assert split_parts(text, "GSM7") == ["a" * 152, "€" + "a" * 10]
    assert analyze(text).parts == 2


def test_surrogate_pair_is_never_split() -> None:
    # analyze() refuses emoji, but split_parts() is also the SMPP layer's splitter and must be
    # right for any UTF-16 text.
    text = "あ" * 66 + "😀" + "あ" * 10
    assert split_parts(text, "UCS2") == ["あ" * 66, "😀" + "あ" * 10]
    assert split_parts("😀" * 35, "UCS2") == ["😀" * 35]  # 70 units: one part
    parts = split_parts("😀" * 36, "UCS2")  # 72 units: 33 pairs (66 units) per part
    assert parts == ["😀" * 33, "😀" * 3]
    for part in parts:
        assert len(encode_ucs2(part)) % 4 == 0


def test_split_parts_edge_cases() -> None:
    assert split_parts("", "GSM7") == [""]
    assert split_parts("abc", "UCS2") == ["abc"]
    with pytest.raises(ValueError, match="GSM"):
        split_parts("あ", "GSM7")


# --- analyze: refusals -------------------------------------------------------------------------


def test_character_limit() -> None:
    assert analyze("a" * 660).characters == 660
    assert analyze("あ" * 660).characters == 660
    with pytest.raises(InvalidText) as caught:
        analyze("a" * 661)
    assert caught.value.code == "text_too_long"
    assert caught.value.field == "text"
    assert "661 characters" in caught.value.message
    assert "660" in caught.value.message
    assert analyze("あ" * 670, max_characters=670).characters == 670
    with pytest.raises(InvalidText, match="671"):
        analyze("あ" * 671, max_characters=670, field="smstext")


@pytest.mark.parametrize("text", ["", " ", "   ", "\n", "\r\n", "\u3000", " \u3000\n\t"])
def test_empty_or_whitespace_is_refused(text: str) -> None:
    with pytest.raises(InvalidText) as caught:
        analyze(text, field="message")
    assert caught.value.code == "empty_text"
    assert caught.value.field == "message"


@pytest.mark.parametrize(
    ("text", "char", "position"),
    [
        ("①", "①", 1),  # NEC special: circled digit
        ("株式会社㈱", "㈱", 5),  # NEC special: parenthesised ideograph
        ("第Ⅰ期", "Ⅰ", 2),  # NEC special: Roman numeral
        ("ⅰ", "ⅰ", 1),  # IBM extension: small Roman numeral
        ("㍉", "㍉", 1),  # NEC special: squared katakana
        ("髙橋様", "髙", 1),  # IBM extended kanji
        ("山﨑様", "﨑", 2),  # IBM extended kanji
        ("∮", "∮", 1),  # NEC special mathematical symbol
        ("ご予約ありがとうございます😀", "😀", 14),  # emoji, outside the BMP
        ("☀", "☀", 1),  # BMP symbol outside JIS X 0208
        ("a\u00a0b", "\u00a0", 2),  # no-break space
        ("façade", "ç", 3),  # neither GSM-7 nor JIS X 0208
        ("a\x00", "\x00", 2),
        ("a\tb", "\t", 2),
        ("page\fbreak", "\f", 5),  # GSM-7 could carry it; a control character all the same
        ("\x1b", "\x1b", 1),
        ("\x7f", "\x7f", 1),
        ("a\x85", "\x85", 2),  # C1 control (NEL)
        ("a\ud800", "\ud800", 2),  # lone surrogate
    ],
)
def test_unsupported_character_is_named(text: str, char: str, position: int) -> None:
    with pytest.raises(InvalidText) as caught:
        analyze(text)
    error = caught.value
    assert error.code == "unsupported_character"
    assert error.character == char
    assert error.field == "text"
    assert f"U+{ord(char):04X}" in error.message
    assert f"at position {position}" in error.message
    assert repr(char) in error.message
    name = unicodedata.name(char, "")
    if name:
        assert name in error.message


def test_first_unsupported_character_is_reported() -> None:
    with pytest.raises(InvalidText) as caught:
        analyze("ok ① then ②")
    assert caught.value.character == "①"


@pytest.mark.parametrize(
    "char",
    [
        "\u301c",  # 〜 WAVE DASH (JIS, Mac)
        "\uff5e",  # ～ FULLWIDTH TILDE (Windows)
        "\u2212",  # − MINUS SIGN
        "\uff0d",  # － FULLWIDTH HYPHEN-MINUS
        "\u2016",  # ‖ DOUBLE VERTICAL LINE
        "\u2225",  # ∥ PARALLEL TO
        "\u00a2",  # ¢
        "\uffe0",  # ￠
        "\u00a3",  # £
        "\uffe1",  # ￡
        "\u00ac",  # ¬
        "\uffe2",  # ￢
        "\u2014",  # — EM DASH (JIS, Mac)
        "\u2015",  # ― HORIZONTAL BAR (Windows, and Python's shift_jis)
        "\u00a5",  # ¥ (JIS X 0201 Roman / GSM-7)
        "\u203e",  # ‾ (JIS X 0201 Roman)
        "\uffe5",  # ￥
        "\u3000",  # ideographic space
        "ｱ",  # half-width katakana
        "€",  # GSM-7 extension
        "é",  # GSM-7
        "Ω",  # GSM-7 and JIS X 0208
        "Ж",  # JIS X 0208 Cyrillic
        "┼",  # JIS X 0208 box drawing
        "々",
        "\\",
        "~",
        "`",
    ],
)
def test_both_spellings_and_common_characters_are_accepted(char: str) -> None:
    assert is_allowed(char)
    assert analyze(f"ご案内{char}です").characters == 6


def test_repertoire_matches_the_documented_rule_over_the_whole_bmp() -> None:
    # Independent of the module's construction: encode every BMP character.
    windows_spellings = set("\uff5e\uff0d\u2225\uffe0\uffe1\uffe2\u2014")
    gsm7 = set(GSM7_BASIC) | set(GSM7_EXTENSION)
    mismatches = []
    for code_point in range(0x10000):
        char = chr(code_point)
        try:
            char.encode("shift_jis")
            in_shift_jis = True
        except UnicodeEncodeError:
            in_shift_jis = False
        control = unicodedata.category(char) == "Cc" and char not in "\r\n"
        expected = (in_shift_jis or char in gsm7 or char in windows_spellings) and not control
        if is_allowed(char) != expected:
            mismatches.append(f"U+{code_point:04X}")
    assert mismatches == []


# --- Shift_JIS bytes and the MediaSMS rules -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("a", 1),
        ("あ", 2),
        ("ｱ", 1),  # half-width katakana: 1 byte
        ("ﾟ", 1),
        ("Ａ", 2),  # full-width Latin
        ("\n", 2),  # a line break travels as CRLF
        ("\r\n", 2),
        ("\r", 2),
        ("a\n\nb", 6),
        ("€", 2),  # not in Shift_JIS: counted like a full-width character
        ("é", 2),
        ("¥", 2),  # Windows converters do not map it to 0x5C
        ("〜～", 4),
    ],
)
def test_sjis_byte_count(text: str, size: int) -> None:
    assert sjis_byte_count(text) == size


@pytest.mark.parametrize("carrier", ALL_CARRIERS)
@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("a" * 140, True),
        ("a" * 141, False),
        ("ｱ" * 140, True),  # half-width katakana is 1 byte and not a 2-byte character
        ("ｱ" * 141, False),
        ("あ" * 70, True),
        ("あ" * 71, False),  # 142 bytes
        ("a" * 138 + "\n", True),
        ("a" * 138 + "\r\n", True),
        ("a" * 139 + "\n", False),  # the line break makes it 141 bytes
        ("あ" * 69 + "a", True),
    ],
)
def test_mediasms_single_message_limits(text: str, carrier: Carrier | None, fits: bool) -> None:
    _assert_mediasms(text, long_message=False, carrier=carrier, fits=fits)


@pytest.mark.parametrize(
    ("text", "fits_au", "fits_others"),
    [
        ("あ" + "a" * 69, True, True),  # 70 characters, 71 bytes
        ("あ" + "a" * 70, True, False),  # 71 characters with a 2-byte one: cut except on au
        ("あ" + "a" * 138, True, False),  # 140 bytes
        ("あ" + "a" * 139, False, False),  # 141 bytes: too long everywhere
        ("あ" * 69 + "\n", True, False),  # 140 bytes, and the line break is 2 characters
        ("ｱ" * 71, True, True),  # no 2-byte character: only the byte limit applies
    ],
)
def test_mediasms_70_character_rule_spares_au(text: str, fits_au: bool, fits_others: bool) -> None:
    _assert_mediasms(text, long_message=False, carrier=Carrier.AU, fits=fits_au)
    for carrier in NOT_AU:
        _assert_mediasms(text, long_message=False, carrier=carrier, fits=fits_others)


@pytest.mark.parametrize("carrier", ALL_CARRIERS)
@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("あ" * 670, True),  # 1340 bytes, 670 characters
        ("あ" * 671, False),  # 1342 bytes
        ("あ" * 669 + "a", True),
        ("あ" * 669 + "ab", False),  # 671 characters
        ("a" * 670, True),
        ("a" * 671, False),  # 670 characters whatever the bytes
        ("ｱ" * 670, True),
        ("ｱ" * 671, False),
        ("あ" * 669 + "\n", False),  # 1340 bytes but 671 characters with the CRLF
        ("あ" * 668 + "\n", True),  # 1338 bytes, 670 characters
        ("あ" * 100 + "a" * 500, True),  # long messages have no 2-byte 70-character rule
    ],
)
def test_mediasms_long_message_limits(text: str, carrier: Carrier | None, fits: bool) -> None:
    _assert_mediasms(text, long_message=True, carrier=carrier, fits=fits)


@pytest.mark.parametrize("text", ["", "\r\n", "\n\n", " ", "\u3000", " \u3000"])
@pytest.mark.parametrize("long_message", [False, True])
def test_mediasms_refuses_empty_text(text: str, long_message: bool) -> None:
    with pytest.raises(InvalidText) as caught:
        check_mediasms_length(text, long_message=long_message, carrier=Carrier.DOCOMO)
    assert caught.value.code == "empty_text"
    assert caught.value.field == "smstext"


def test_mediasms_error_says_which_limit() -> None:
    with pytest.raises(InvalidText, match=r"142 Shift_JIS bytes.*at most 140"):
        check_mediasms_length("あ" * 71, long_message=False, carrier=Carrier.AU)
    with pytest.raises(InvalidText, match=r"71 characters.*other than au.*at most 70"):
        check_mediasms_length("あ" + "a" * 70, long_message=False, carrier=Carrier.DOCOMO)
    with pytest.raises(InvalidText, match=r"671 characters.*at most 670"):
        check_mediasms_length("a" * 671, long_message=True, carrier=None)


def _assert_mediasms(text: str, *, long_message: bool, carrier: Carrier | None, fits: bool) -> None:
    if fits:
        check_mediasms_length(text, long_message=long_message, carrier=carrier)
        return
    with pytest.raises(InvalidText) as caught:
        check_mediasms_length(text, long_message=long_message, carrier=carrier)
    assert caught.value.code == "text_too_long"
    assert caught.value.field == "smstext"


# --- properties ----------------------------------------------------------------------------


ALLOWED_CHARACTERS = [chr(c) for c in range(0x10000) if is_allowed(chr(c))]
allowed_texts = st.one_of(
    st.text(st.sampled_from(ALLOWED_CHARACTERS), min_size=1, max_size=660),
    # mostly GSM-7 with extension characters, so that pairs land on part boundaries
    st.text(st.sampled_from("a €{}[]^~|\\"), min_size=1, max_size=660),
    # mostly Japanese, the usual case
    st.text(st.sampled_from("あいうアイウｱｲｳ漢字。、ー\n〜～ a1"), min_size=1, max_size=660),
)


def _unit_count(part: str, encoding: str) -> int:
    if encoding == "GSM7":
        return len(gsm7_septets(part))
    return len(encode_ucs2(part)) // 2


@given(allowed_texts)
def test_parts_agree_with_split_parts(text: str) -> None:
    try:
        info = analyze(text)
    except InvalidText as exc:
        assert exc.code == "empty_text"
        return
    parts = split_parts(text, info.encoding)
    assert len(parts) == info.parts
    assert "".join(parts) == text
    assert info.units == _unit_count(text, info.encoding)
    single, concatenated = (160, 153) if info.encoding == "GSM7" else (70, 67)
    limit = single if len(parts) == 1 else concatenated
    assert all(_unit_count(part, info.encoding) <= limit for part in parts)
    assert all(part for part in parts)


@given(st.text(max_size=300))
def test_split_parts_keeps_any_utf16_text_whole(text: str) -> None:
    parts = split_parts(text, "UCS2")
    assert "".join(parts) == text
    units = [len(encode_ucs2(part)) // 2 for part in parts]  # strict: no half pairs
    limit = 70 if len(parts) == 1 else 67
    assert all(count <= limit for count in units)
    if len(parts) > 1:  # greedy: a part is only closed when the next character does not fit
        assert all(count >= limit - 1 for count in units[:-1])


@given(st.text(max_size=700))
def test_analyze_raises_only_invalid_text(text: str) -> None:
    try:
        info = analyze(text)
    except InvalidText as exc:
        assert exc.code in {"empty_text", "text_too_long", "unsupported_character"}
        return
    assert info.characters == len(text)
    assert info.parts == len(split_parts(text, info.encoding))


@given(st.text(st.sampled_from("aZ1 ~\\\r\nｱﾟあ漢Ａ〜−‖¢£¬―"), max_size=200))
def test_sjis_byte_count_matches_the_codec_on_crlf_text(text: str) -> None:
    crlf = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    assert sjis_byte_count(text) == len(crlf.encode("shift_jis"))
