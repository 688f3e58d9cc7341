"""Japanese mobile numbers: accepted forms, refusals with their reasons, display forms, blocks."""

from __future__ import annotations

import re

import phonenumbers.carrierdata
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from todoke.domain import phone
from todoke.domain.carrier import Carrier
from todoke.domain.phone import carrier_of_block, format_hyphenated, normalize, to_domestic
from todoke.errors import InvalidPhoneNumber

# The 絶対リーチ! OpenAPI patterns (request and answer forms), copied from the reference document.
REQUEST_PATTERN = re.compile(r"^(\+81|0)(([26789]0[1-9][0-9]{7}$)|(20[1-9][0-9]{10}$))")
ANSWER_PATTERN = re.compile(r"^\+81(([26789]0[0-9]{8}$)|(20[0-9]{11}$))")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # every mobile prefix, domestic form
        ("09012345678", "+819012345678"),
        ("08012345678", "+818012345678"),
        ("07012345678", "+817012345678"),
        ("06012345678", "+816012345678"),
        ("02012345678", "+812012345678"),
        # 14-digit 020 (M2M)
        ("02012345678901", "+812012345678901"),
        ("020-1234-5678-901", "+812012345678901"),
        ("+81 20 1234 5678 901", "+812012345678901"),
        # international forms
        ("+819012345678", "+819012345678"),
        ("+81-90-1234-5678", "+819012345678"),
        ("+81 (0)90 1234 5678", "+819012345678"),
        ("+8109012345678", "+819012345678"),
        ("819012345678", "+819012345678"),  # MediaSMS mobilenumber form
        ("00819012345678", "+819012345678"),
        ("0081 90 1234 5678", "+819012345678"),
        # separators from spreadsheets, word processors and IMEs
        ("090-1234-5678", "+819012345678"),
        ("090 1234 5678", "+819012345678"),
        ("090(1234)5678", "+819012345678"),
        ("(090)1234-5678", "+819012345678"),
        ("  09012345678\r\n", "+819012345678"),
        ("090\t1234\u00a05678", "+819012345678"),
        ("090\u20101234\u20135678", "+819012345678"),
        ("090\u22121234\u20155678", "+819012345678"),
        # full-width digits, hyphens, plus, spaces, parentheses, the IME's ー for a hyphen
        ("０９０－１２３４－５６７８", "+819012345678"),
        ("０９０ー１２３４ー５６７８", "+819012345678"),
        ("０９０ｰ１２３４ｰ５６７８", "+819012345678"),
        ("＋８１　９０　１２３４　５６７８", "+819012345678"),
        ("（０９０）１２３４－５６７８", "+819012345678"),
        # a 0 as fourth digit: refused by the request pattern, allowed by the answer pattern
        ("09001234567", "+819001234567"),
        ("+819001234567", "+819001234567"),
    ],
)
def test_normalize_accepts(raw: str, expected: str) -> None:
    assert normalize(raw) == expected
    assert ANSWER_PATTERN.match(expected)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("- ( )", "empty"),
        ("+", "no digits"),
        ("090-1234-567a", "'a' (U+0061)"),
        ("090.1234.5678", "'.' (U+002E)"),
        ("090+12345678", "'+' (U+002B)"),
        ("090１２３４５６７８x", "'x'"),
        ("٠٩٠١٢٣٤٥٦٧٨", "U+0660"),  # Arabic-Indic digits are not accepted as digits
        ("0312345678", "0312 is not a mobile number"),  # Tokyo landline
        ("0120123456", "0120 is not a mobile number"),  # toll-free
        ("0570123456", "0570 is not a mobile number"),  # navi dial
        ("05012345678", "0501 is not a mobile number"),  # IP phone
        ("+81312345678", "0312 is not a mobile number"),
        ("0", "not a mobile number"),
        ("+15551234567", "not Japanese (it starts +155"),
        ("+8612345678901", "not Japanese"),
        ("0015551234567", "not Japanese"),
        ("9012345678", "lacks its leading 0"),
        ("2012345678901", "lacks its leading 0"),
        ("12345678", "must start with 0"),
        ("0901234567", "10 digits written domestically, where a number starting 090 has 11"),
        ("090123456789", "12 digits"),
        ("0901234567890", "13 digits"),
        ("020123456789", "number starting 020 has 11 or 14"),
        ("02012345678901234", "17 digits"),
        ("+8190123456", "wrong length"),
        ("+81 (0)90 1234 567", "10 digits written domestically"),
        ("+81 (0)3 1234 5678", "0312 is not a mobile number"),
        ("0" * 65, "too long (65 characters)"),
    ],
)
def test_normalize_refuses_with_reason(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw)
    assert fragment in caught.value.message
    assert caught.value.field == "to"
    assert caught.value.code == "invalid_phone_number"


def test_error_messages_do_not_repeat_the_whole_number() -> None:
    # They end up in logs; naming the problem is enough.
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize("090123456789")
    assert "090123456789" not in caught.value.message


@pytest.mark.parametrize(
    ("e164", "domestic", "hyphenated"),
    [
        ("+819012345678", "09012345678", "090-1234-5678"),
        ("+818087654321", "08087654321", "080-8765-4321"),
        ("+817011112222", "07011112222", "070-1111-2222"),
        ("+816012345678", "06012345678", "060-1234-5678"),
        ("+812012345678", "02012345678", "020-1234-5678"),
        ("+812012345678901", "02012345678901", "020-1234-5678-901"),
    ],
)
def test_display_forms(e164: str, domestic: str, hyphenated: str) -> None:
    assert to_domestic(e164) == domestic
    assert format_hyphenated(e164) == hyphenated
    # both take any accepted form, not only E.164
    assert to_domestic(hyphenated) == domestic
    assert format_hyphenated(domestic) == hyphenated


def test_display_forms_refuse_what_normalize_refuses() -> None:
    with pytest.raises(InvalidPhoneNumber):
        to_domestic("0312345678")
    with pytest.raises(InvalidPhoneNumber):
        format_hyphenated("")


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=1)
national_numbers = st.one_of(
    st.builds(
        lambda head, rest: f"{head}0{rest}",
        st.sampled_from("26789"),
        st.text(alphabet="0123456789", min_size=8, max_size=8),
    ),
    st.builds(lambda rest: f"20{rest}", st.text(alphabet="0123456789", min_size=11, max_size=11)),
)


@given(national_numbers)
def test_any_domestic_number_normalizes_and_round_trips(nsn: str) -> None:
    domestic = "0" + nsn
    e164 = normalize(domestic)
    assert e164 == "+81" + nsn
    assert ANSWER_PATTERN.match(e164)
    assert to_domestic(e164) == domestic
    hyphenated = format_hyphenated(e164)
    assert hyphenated.replace("-", "") == domestic
    assert normalize(hyphenated) == e164


@given(national_numbers)
def test_everything_the_request_pattern_accepts_is_accepted(nsn: str) -> None:
    for written in ("0" + nsn, "+81" + nsn):
        if REQUEST_PATTERN.match(written):
            assert normalize(written) == "+81" + nsn


@given(st.text(max_size=80))
@example("+81")
@example("00")
@example("81")
@example("+0081")
def test_garbage_raises_only_invalid_phone_number(raw: str) -> None:
    try:
        result = normalize(raw)
    except InvalidPhoneNumber as exc:
        assert exc.message
        return
    assert ANSWER_PATTERN.match(result)
    assert normalize(result) == result  # idempotent


@given(st.one_of(national_numbers.map(lambda n: "0" + n), st.text(max_size=30)))
def test_normalize_is_idempotent(raw: str) -> None:
    try:
        once = normalize(raw)
    except InvalidPhoneNumber:
        return
    assert normalize(once) == once


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+819010000000", Carrier.DOCOMO),  # 090-10xx: NTT Docomo
        ("+818010000000", Carrier.DOCOMO),
        ("+817010000000", Carrier.DOCOMO),
        ("+819011000000", Carrier.AU),  # 090-11xx: KDDI
        ("+818050000000", Carrier.AU),
        ("+819019400000", Carrier.AU),  # 090-194x: Okinawa Cellular (au)
        ("+818060000000", Carrier.AU),  # 080-60xx: Okinawa Cellular (au)
        ("+819013000000", Carrier.SOFTBANK),
        ("+818030000000", Carrier.SOFTBANK),
        ("+817011000000", Carrier.SOFTBANK),
        ("+817083000000", Carrier.RAKUTEN),  # 070-83xx: Rakuten
        ("+816012000000", Carrier.RAKUTEN),
        ("+816014000000", Carrier.DOCOMO),
        ("+819000000000", None),  # no block
        ("+812012345678", None),  # 020: not in phonenumbers' data
        ("+812012345678901", None),
    ],
)
def test_carrier_of_block(e164: str, expected: Carrier | None) -> None:
    assert carrier_of_block(e164) is expected
    # the rest of the number does not matter, only the block
    assert carrier_of_block(e164[:-4] + "9876") is expected
    assert carrier_of_block(to_domestic(e164)) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NTT Docomo", Carrier.DOCOMO),
        ("NTT DOCOMO", Carrier.DOCOMO),
        ("NTT docomo, Inc.", Carrier.DOCOMO),
        ("KDDI", Carrier.AU),
        ("au", Carrier.AU),
        ("au by KDDI", Carrier.AU),
        ("Okinawa Cellular", Carrier.AU),
        ("Softbank", Carrier.SOFTBANK),
        ("SoftBank Corp.", Carrier.SOFTBANK),
        ("Y!mobile", Carrier.SOFTBANK),
        ("Willcom", Carrier.SOFTBANK),
        ("Rakuten Communications", Carrier.RAKUTEN),
        ("Rakuten Mobile", Carrier.RAKUTEN),
        ("", None),
        ("Aurora Telecom", None),  # "au" inside another word is not au
        ("Sakura Internet", None),
    ],
)
def test_carrier_names_map_robustly(name: str, expected: Carrier | None) -> None:
    assert phone._carrier_from_name(name) is expected


def test_every_japanese_carrier_name_in_phonenumbers_maps_to_a_carrier() -> None:
    # A new name after a phonenumbers upgrade should be mapped, not silently become None.
    names = {
        data["en"]
        for prefix, data in phonenumbers.carrierdata.CARRIER_DATA.items()
        if prefix.startswith("81")
    }
    assert names
    assert {
        name: phone._carrier_from_name(name)
        for name in names
        if phone._carrier_from_name(name) is None
    } == {}


def test_block_cache_key_is_long_enough_for_phonenumbers_data() -> None:
    # carrier_of_block caches on the first _PREFIX_DIGITS of the NSN; that is only right while
    # phonenumbers keys Japanese blocks by at most that many digits.
    longest = max(len(p) for p in phonenumbers.carrierdata.CARRIER_DATA if p.startswith("81"))
    assert longest - len("81") <= phone._PREFIX_DIGITS
