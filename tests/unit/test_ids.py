"""Message ids: 26 Crockford base32 digits of (48-bit milliseconds, 80 random bits)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from todoke.domain import ids

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MS = st.integers(min_value=0, max_value=(1 << 48) - 1)
_RANDOM = st.binary(min_size=10, max_size=10)


def _reference(now_ms: int, random: bytes) -> str:
    """The id spelled digit by digit, most significant first."""
    value = now_ms << 80 | int.from_bytes(random, "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _id_with(monkeypatch: pytest.MonkeyPatch, now_ms: int, random: bytes) -> str:
    monkeypatch.setattr(ids.os, "urandom", lambda n: random[:n])
    return ids.time_ordered_id(now_ms)


@settings(max_examples=500)
@given(now_ms=_MS, random=_RANDOM)
def test_an_id_is_its_time_and_randomness_in_crockford_base32(now_ms: int, random: bytes) -> None:
    with pytest.MonkeyPatch.context() as mp:
        assert _id_with(mp, now_ms, random) == _reference(now_ms, random)


@given(a=_MS, b=_MS, random_a=_RANDOM, random_b=_RANDOM)
def test_ids_sort_by_time(a: int, b: int, random_a: bytes, random_b: bytes) -> None:
    with pytest.MonkeyPatch.context() as mp:
        first, second = _id_with(mp, a, random_a), _id_with(mp, b, random_b)
    if a < b:
        assert first < second
    elif a > b:
        assert first > second


def test_ids_are_26_characters_and_differ() -> None:
    made = {ids.time_ordered_id(1_795_464_742_286) for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(i) == 26 and set(i) <= set(_CROCKFORD) for i in made)
    assert ids.time_ordered_id(0) < ids.time_ordered_id(1) < ids.time_ordered_id((1 << 48) - 1)
