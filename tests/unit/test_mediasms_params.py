"""MediaSMS façade, pure parts: parameters and their codes, the smstext rules, error mapping."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from todoke import errors
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.params import (
    check_text,
    parse_datetime,
    parse_mobilenumber,
    parse_send,
)
from todoke.domain.carrier import Carrier
from todoke.services.messages import JST

BASE = {"mobilenumber": "09012345678", "smstext": "hello"}


def code_of(values: dict[str, str]) -> int:
    try:
        parse_send(values)
    except errors.InvalidInput as exc:
        return codes.code_for(exc)
    return codes.OK


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"mobilenumber": ""}, codes.MOBILE_NUMBER),
        ({"mobilenumber": "0312345678"}, codes.MOBILE_NUMBER),
        ({"mobilenumber": "090123456789"}, codes.MOBILE_NUMBER),
        ({"mobilenumber": "0901234567a"}, codes.MOBILE_NUMBER),
        ({"mobilenumber": "14155550100"}, codes.MOBILE_NUMBER),  # international: no route
        ({"mobilenumber": "81901234567890"}, codes.MOBILE_NUMBER),
        ({"smstextid": "1234567"}, codes.TEXT_ID),
        ({"smstextid": "12"}, codes.TEXT_ID),  # with smstext: exclusive
        ({"smstitle": "1234"}, codes.SMS_TITLE),  # digits only
        ({"smstitle": "a"}, codes.SMS_TITLE),
        ({"smstitle": "abcdefghijkl"}, codes.SMS_TITLE),
        ({"smstitle": "ab cd"}, codes.SMS_TITLE),
        ({"smstext": ""}, codes.SMS_TEXT),  # nothing to send
        ({"status": "2"}, codes.STATUS),
        ({"status": "1"}, codes.SMS_ID),  # smsid required with status=1
        ({"smsid": "a-b"}, codes.SMS_ID),
        ({"smsid": "a" * 51}, codes.SMS_ID),
        ({"originalurl": "ftp://x"}, codes.ORIGINAL_URL),
        ({"originalurl": "https://x/" + "a" * 2080}, codes.ORIGINAL_URL),
        ({"originalurl2": "notaurl"}, codes.ORIGINAL_URL_2),
        ({"originalurl3": "https://a b"}, codes.ORIGINAL_URL_3),
        ({"originalurl4": "javascript:x"}, codes.ORIGINAL_URL_4),
        ({"originalurlcode": "abc"}, codes.ORIGINAL_URL_CODE),  # code without its URL
        ({"originalurl": "https://x", "originalurlcode": "a" * 21}, codes.ORIGINAL_URL_CODE),
        ({"originalurl2": "https://x", "originalurlcode2": "ab<"}, codes.ORIGINAL_URL_CODE_2),
        ({"originalurl3": "https://x", "originalurlcode3": "日本"}, codes.ORIGINAL_URL_CODE_3),
        ({"originalurlcode4": "x"}, codes.ORIGINAL_URL_CODE_4),
        ({"smstext": "see {URL}"}, codes.ORIGINAL_URL),  # placeholder without its URL
        ({"smstext": "see {URL3}"}, codes.ORIGINAL_URL_3),
        ({"senddatetime": "2026010112"}, codes.START_DATE),
        ({"senddatetime": "202613011200"}, codes.START_DATE),
        ({"senddatetime": "20260101120a"}, codes.START_DATE),
        ({"sendingattempts": "3"}, codes.SENDING_ATTEMPTS),
        ({"resendinginterval": "10"}, codes.RESENDING_INTERVAL),
        ({"gateway": "1"}, codes.GATEWAY),
        ({"docomo": "2"}, codes.DOCOMO),
        ({"au": "x"}, codes.AU),
        ({"docomo": "1", "softbank": "1"}, codes.SOFTBANK),
        ({"docomotitle": "1"}, codes.DOCOMO_TITLE),
        ({"autitle": "toolongtitle1"}, codes.AU_TITLE),
        ({"softbanktitle": "a"}, codes.SOFTBANK_TITLE),
    ],
)
def test_each_parameter_has_its_code(extra: dict[str, str], code: int) -> None:
    assert code_of({**BASE, **extra}) == code


def test_neither_text_nor_template_is_585() -> None:
    assert code_of({"mobilenumber": "09012345678"}) == codes.SMS_TEXT


def test_empty_values_are_absent() -> None:
    """Client libraries send every field, empty when unused."""
    empty = dict.fromkeys(
        ["smstextid", "smstitle", "status", "smsid", "originalurl", "originalurlcode",
         "senddatetime", "sendingattempts", "gateway", "docomo", "autitle"],
        "",
    )  # fmt: skip
    spec = parse_send({**BASE, **empty})
    assert spec.smsid is None and not spec.notify and spec.carrier is None


def test_valid_send() -> None:
    spec = parse_send(
        {
            **BASE,
            "username": "user1",
            "password": "secret1",
            "smstext": "見て {URL} と {URL2}",
            "status": "1",
            "smsid": "Abc123",
            "originalurl": "https://example.jp/a",
            "originalurl2": "http://example.jp/b?x=1",
            "originalurlcode2": "a@%+/'!#$^?:;.,(){}[]~-_"[:20],
            "senddatetime": "203001021530",
            "au": "1",
            "docomo": "0",
            "smstitle": "Shop-1.jp",
            "autitle": "AuTitle",
        }
    )
    assert spec.to == "+819012345678"
    assert spec.carrier is Carrier.AU
    assert spec.notify and spec.smsid == "Abc123"
    assert [link.placeholder for link in spec.links] == ["{URL}", "{URL2}"]
    assert spec.links[1].access_code is not None
    assert spec.schedule_at == datetime(2030, 1, 2, 15, 30, tzinfo=JST)
    assert spec.titles == {"smstitle": "Shop-1.jp", "autitle": "AuTitle"}
    assert "password" not in spec.params and "username" not in spec.params
    assert spec.params["smsid"] == "Abc123"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("09012345678", "+819012345678"),
        ("090-1234-5678", "+819012345678"),
        ("07012345678", "+817012345678"),
        ("819012345678", "+819012345678"),
        ("812012345678", "+812012345678"),
        ("02012345678901", "+812012345678901"),
    ],
)
def test_mobile_numbers(raw: str, e164: str) -> None:
    assert parse_mobilenumber(raw) == e164


def test_datetime_is_jst() -> None:
    assert parse_datetime("202602280900", "senddatetime") == datetime(2026, 2, 28, 9, 0, tzinfo=JST)
    with pytest.raises(errors.InvalidInput):
        parse_datetime("202602300900", "senddatetime")


# --- smstext: Shift_JIS bytes, the au / non-au 70-character rule, 長文 ---------------------------


def text_code(body: str, *, long_message: bool = False, carrier: Carrier | None = None) -> int:
    try:
        check_text(body, long_message=long_message, carrier=carrier)
    except errors.InvalidInput as exc:
        return codes.code_for(exc)
    return codes.OK


def test_empty_newline_and_space_only_texts_are_585() -> None:
    for body in ["", "\n", "\r\n\r\n", " ", "\u3000", " \u3000 \n"]:
        assert text_code(body) == codes.SMS_TEXT, repr(body)


def test_140_byte_boundary() -> None:
    assert text_code("a" * 140) == codes.OK
    assert text_code("a" * 141) == codes.SMS_TEXT
    assert text_code("ｱ" * 140) == codes.OK  # half-width kana: 1 byte each
    assert text_code("ｱ" * 141) == codes.SMS_TEXT
    # a line break is CRLF: 2 bytes
    assert text_code("a" * 138 + "\n") == codes.OK
    assert text_code("a" * 139 + "\n") == codes.SMS_TEXT


def test_au_and_the_70_character_rule() -> None:
    # 70 full-width characters: 140 bytes, fine for everyone
    for carrier in [*Carrier, None]:
        assert text_code("あ" * 70, carrier=carrier) == codes.OK
        assert text_code("あ" * 71, carrier=carrier) == codes.SMS_TEXT
    # one 2-byte character among half-width ones: non-au carriers stop at 70 characters
    mixed = "あ" + "a" * 70  # 71 characters, 72 bytes
    assert text_code(mixed, carrier=Carrier.AU) == codes.OK
    for carrier in [Carrier.DOCOMO, Carrier.SOFTBANK, Carrier.RAKUTEN, None]:
        assert text_code(mixed, carrier=carrier) == codes.SMS_TEXT


def test_long_message_boundaries() -> None:
    assert text_code("あ" * 670, long_message=True) == codes.OK
    assert text_code("あ" * 671, long_message=True) == codes.SMS_TEXT
    assert text_code("a" * 670, long_message=True) == codes.OK
    assert text_code("a" * 671, long_message=True) == codes.SMS_TEXT  # 670 characters
    assert text_code("あ" * 669 + "\n", long_message=True) == codes.SMS_TEXT  # LF counts 2


def test_characters_carriers_cannot_carry_are_585() -> None:
    assert text_code("株式会社①") == codes.SMS_TEXT
    assert text_code("絵文字😀") == codes.SMS_TEXT


_SJIS_WIDE = st.sampled_from("あいうアイウ漢字カナ、。「」ー")
_SJIS_NARROW = st.sampled_from("abcXYZ019 !?-ｱｲｳｶﾞﾊﾟ")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(_SJIS_WIDE, _SJIS_NARROW, st.just("\n")), min_size=1, max_size=200),
    st.sampled_from([*Carrier, None]),
    st.booleans(),
)
def test_text_rule_matches_a_reference_count(
    chars: list[str], carrier: Carrier | None, long_message: bool
) -> None:
    """The façade refuses exactly what a direct Shift_JIS (CRLF) count says is too long."""
    body = "".join(chars)
    crlf = body.replace("\n", "\r\n")
    size = len(crlf.encode("cp932"))
    characters = len(crlf)
    wide = any(len(c.encode("cp932")) == 2 for c in body)
    if not body.strip(" \u3000\r\n"):
        expected_ok = False
    elif long_message:
        expected_ok = size <= 1340 and characters <= 670
    else:
        expected_ok = size <= 140 and (carrier is Carrier.AU or not wide or characters <= 70)
    got = text_code(body, long_message=long_message, carrier=carrier)
    assert (got == codes.OK) == expected_ok, (body, size, characters)
    if not expected_ok:
        assert got == codes.SMS_TEXT


# --- todoke's error tree -> MediaSMS codes -----------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code", "http"),
    [
        (errors.Unauthenticated("x"), 401, 401),
        (errors.Forbidden("ip not allowed"), 401, 403),
        (errors.IpBlocked("blocked"), 555, 200),
        (errors.RateLimited("slow down", retry_after=2), 503, 503),
        (errors.QuotaExceeded("month used up"), 402, 402),
        (errors.ServiceUnavailable("db down"), 503, 503),
        (errors.MaintenanceRefused("au"), 503, 503),
        (errors.DuplicateClientTag("dup"), 587, 200),
        (errors.NotFound("none"), 514, 200),
        (errors.NotCancellable("sent"), 550, 200),
        (errors.InvalidPhoneNumber("bad", field="to"), 560, 200),
        (errors.InvalidText("long", field="text"), 585, 200),
        (errors.InvalidInput("past", field="scheduleAt", code="past_time"), 592, 200),
        (errors.InvalidInput("bad", field="senddatetime"), 562, 200),
        (errors.InvalidInput("?", field="unknown"), 550, 200),
        (RuntimeError("bug"), 550, 500),
    ],
)
def test_error_mapping(exc: BaseException, code: int, http: int) -> None:
    assert codes.code_for(exc) == code
    assert codes.http_status_for(exc) == http


def test_every_seed_code_has_a_description() -> None:
    seed = [200, 401, 402, 414, 503, 550, 555, 560, 562, 568, 569, 570, 571, 572, 573, 574,
            575, 576, 577, 579, 580, 585, 587, 590, 591, 592, 596, 597, 598]  # fmt: skip
    assert set(seed) <= set(codes.DESCRIPTIONS)
    assert {codes.http_status(c) for c in seed if c >= 550} == {200}
