"""How ``/v1`` writes times: ISO 8601 in JST with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from todoke.api.v1.schemas import JST, iso

# 1970 to 2200, in epoch milliseconds.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms_of(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(milliseconds=1)


_MS = st.integers(min_value=0, max_value=7_258_118_400_000)


@settings(max_examples=800)
@given(_MS)
def test_iso_is_the_jst_datetime_with_milliseconds(ms: int) -> None:
    expected = datetime.fromtimestamp(ms / 1000, JST).isoformat(timespec="milliseconds")
    assert iso(ms) == expected
    assert iso(ms) == expected  # again, from the kept second
    assert _ms_of(expected) == ms


@given(st.lists(_MS, min_size=1, max_size=50))
def test_iso_of_many_seconds_in_any_order(values: list[int]) -> None:
    for ms in values:
        assert _ms_of(iso(ms) or "") == ms


def test_iso_examples() -> None:
    assert iso(None) is None
    assert iso(0) == "1970-01-01T09:00:00.000+09:00"
    assert iso(1_795_375_746_249) == "2026-11-23T04:29:06.249+09:00"
    assert iso(1_795_375_746_001) == "2026-11-23T04:29:06.001+09:00"
