"""The one-match parse of canonical receipt texts gives exactly what the lenient scan gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from todoke.carriers.smpp import receipt
from todoke.carriers.smpp.outbound import validity_period

_word = st.text(alphabet=st.characters(blacklist_categories=["Zs", "Cc"]), max_size=12)
_digits = st.text(alphabet="0123456789", max_size=14)


def _scan_only(text: str) -> receipt.ReceiptText | None:
    original = receipt._CANONICAL
    receipt._CANONICAL = receipt.re.compile(r"(?!)")  # never matches: always the scan
    try:
        return receipt.parse_receipt_text(text)
    finally:
        receipt._CANONICAL = original


@given(
    mid=_word.filter(bool),
    sub=_digits,
    dlvrd=_digits,
    submit=_digits,
    done=_digits,
    stat=_word,
    err=_word,
    body=st.none() | st.text(max_size=30),
)
def test_canonical_text_parses_as_the_scan(
    mid: str,
    sub: str,
    dlvrd: str,
    submit: str,
    done: str,
    stat: str,
    err: str,
    body: str | None,
) -> None:
    text = (
        f"id:{mid} sub:{sub} dlvrd:{dlvrd} submit date:{submit} done date:{done} "
        f"stat:{stat} err:{err}"
    )
    if body is not None:
        text += f" text:{body}"
    assert receipt.parse_receipt_text(text) == _scan_only(text)


@given(st.text(max_size=120))
def test_any_text_parses_as_the_scan(text: str) -> None:
    assert receipt.parse_receipt_text(text) == _scan_only(text)


def test_canonical_receipt_fields() -> None:
    parsed = receipt.parse_receipt_text(
        "id:0A1B sub:001 dlvrd:001 submit date:2311231200 done date:2311231201 "
        "stat:DELIVRD err:000 text:認証コード"
    )
    assert parsed is not None
    assert (parsed.message_id, parsed.stat, parsed.err, parsed.text) == (
        "0A1B",
        "DELIVRD",
        "000",
        "認証コード",
    )
    assert parsed.done_date is not None and parsed.done_date.minute == 1


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_validity_period_is_the_utc_time_to_the_tenth(until_ms: int) -> None:
    from datetime import UTC, datetime

    t = datetime.fromtimestamp(until_ms // 1000, tz=UTC)
    assert validity_period(until_ms) == f"{t:%y%m%d%H%M%S}{until_ms % 1000 // 100}00+"
