"""The pure protection rules: flooding filter, duplicates, blocklist causes, opt-out keywords,
IP networks, client addresses behind proxies, and the GCRA rate limiter (with a fake clock)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todoke.domain.protection import (
    DEFAULT_OPT_OUT_KEYWORDS,
    HOUR_MS,
    PLATFORM,
    Recent,
    ScreenPolicy,
    address_in,
    blocked_cause,
    normalize_keyword,
    opt_out_keyword,
    parse_network,
    screen,
)
from todoke.domain.status import Cause
from todoke.services.protection import Protection, ProtectionPolicy
from todoke.services.ratelimit import RateLimiter
from todoke.store.protection import _pg_constant

NOW = 1_800_000_000_000
DEFAULT = ScreenPolicy()


def recent(texts: list[str], ago_ms: int = 1000) -> list[Recent]:
    return [Recent(t, NOW - ago_ms) for t in texts]


# --- flooding filter and duplicates ---------------------------------------------------------


def test_twenty_messages_per_number_per_hour() -> None:
    history = recent([f"code {i}" for i in range(19)])
    assert screen("code 19", history, DEFAULT, NOW) is None
    history = recent([f"code {i}" for i in range(20)])
    assert screen("code 20", history, DEFAULT, NOW) is Cause.FLOODING
    assert Cause.FLOODING.status.name == "REJECTED_FLOODING_FILTER"
    assert Cause.FLOODING.error.name == "EC_DESTINATION_FLOODING"


def test_six_identical_messages_per_number_per_hour() -> None:
    assert screen("same", recent(["same"] * 5), DEFAULT, NOW) is None
    cause = screen("same", recent(["same"] * 6), DEFAULT, NOW)
    assert cause is Cause.TEXT_FLOODING
    assert cause.error.name == "EC_DESTINATION_TXT_FLOODING"
    # Another text to the same number is still fine.
    assert screen("other", recent(["same"] * 6), DEFAULT, NOW) is None


def test_messages_older_than_an_hour_do_not_count() -> None:
    old = recent([f"m{i}" for i in range(30)] + ["same"] * 10, ago_ms=HOUR_MS + 1)
    assert screen("same", old, DEFAULT, NOW) is None
    edge = recent(["same"] * 6, ago_ms=HOUR_MS - 1)
    assert screen("same", edge, DEFAULT, NOW) is Cause.TEXT_FLOODING


def test_zero_switches_a_rule_off() -> None:
    policy = ScreenPolicy(flood_max_messages=0, flood_max_identical=0)
    assert screen("x", recent(["x"] * 500), policy, NOW) is None
    assert policy.history_ms == 0
    assert ScreenPolicy(0, 0, 5000).history_ms == 5000
    assert DEFAULT.history_ms == HOUR_MS


def test_duplicate_window() -> None:
    policy = ScreenPolicy(duplicate_window_ms=600_000)
    cause = screen("hello", recent(["hello"], ago_ms=599_000), policy, NOW)
    assert cause is Cause.DUPLICATE
    assert cause.error.name == "EC_DUPLICATE_MESSAGE"
    assert screen("hello", recent(["hello"], ago_ms=601_000), policy, NOW) is None
    assert screen("bye", recent(["hello"], ago_ms=1), policy, NOW) is None
    # Off by default: a repeat is just a message (until the identical limit).
    assert screen("hello", recent(["hello"]), DEFAULT, NOW) is None


def test_blocklist_causes() -> None:
    assert blocked_cause([]) is None
    assert blocked_cause([(10001, "manual")]) is Cause.BLOCKLISTED
    assert blocked_cause([(10001, "import")]).status.name == "REJECTED_DESTINATION_BLOCKLISTED"  # type: ignore[union-attr]
    assert blocked_cause([(10001, "keyword")]) is Cause.OPTED_OUT
    assert blocked_cause([(10001, "manual"), (PLATFORM, "dnd")]) is Cause.DND
    assert Cause.DND.status.name == "REJECTED_DND"


# --- opt-out keywords ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "配信停止",
        "配信停止。",
        " ていし ",
        "STOP",
        "stop",
        "Stop!",
        "ＳＴＯＰ",
        "ｓｔｏｐ．",
        "配信 停止",
    ],
)
def test_opt_out_replies(reply: str) -> None:
    assert opt_out_keyword(reply, DEFAULT_OPT_OUT_KEYWORDS) is not None


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "ありがとう", "明日の配信停止について教えて", "stopped", "ていしゅつ", "STOP2"],
)
def test_other_replies_do_not_opt_out(reply: str) -> None:
    assert opt_out_keyword(reply, DEFAULT_OPT_OUT_KEYWORDS) is None


def test_keywords_are_configurable() -> None:
    assert opt_out_keyword("解除", ["解除"]) == "解除"
    assert opt_out_keyword("STOP", ["解除"]) is None


@given(
    keyword=st.sampled_from(DEFAULT_OPT_OUT_KEYWORDS),
    before=st.text(alphabet=" 　\t。、.!！?？「」", max_size=5),
    after=st.text(alphabet=" 　\t。、.!！?？「」", max_size=5),
)
def test_spacing_and_punctuation_never_hide_a_keyword(
    keyword: str, before: str, after: str
) -> None:
    assert opt_out_keyword(before + keyword + after, DEFAULT_OPT_OUT_KEYWORDS) == keyword


@given(st.text(max_size=40))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_keyword(text)
    assert normalize_keyword(once) == once


# --- IP networks and client addresses ------------------------------------------------------


def test_allowlist_networks_v4_and_v6() -> None:
    nets = [
        parse_network("192.0.2.0/24"),
        parse_network("2001:db8::/32"),
        parse_network("10.1.1.1"),
    ]
    assert address_in("192.0.2.77", nets)
    assert not address_in("192.0.3.1", nets)
    assert address_in("2001:db8:abcd::1", nets)
    assert not address_in("2001:db9::1", nets)
    assert address_in("10.1.1.1", nets)
    assert address_in("::ffff:192.0.2.5", nets)  # IPv4-mapped IPv6 is the IPv4 address
    assert not address_in("not-an-ip", nets)
    with pytest.raises(ValueError):
        parse_network("192.0.2.0/33")


class _NoStore:
    """Protection without storage, for the pure address logic."""


def _protection(*proxies: str) -> Protection:
    policy = ProtectionPolicy(trusted_proxies=tuple(parse_network(p) for p in proxies))
    return Protection(_NoStore(), policy)  # type: ignore[arg-type]


def test_client_address_is_the_peer_without_trusted_proxies() -> None:
    p = _protection()
    assert p.client_address("203.0.113.9", ["198.51.100.1"]) == "203.0.113.9"
    assert p.client_address(None, []) == "unknown"


def test_forwarded_for_is_read_right_to_left_through_trusted_proxies() -> None:
    p = _protection("10.0.0.0/8")
    # client -> 10.0.0.2 (proxy) -> 10.0.0.1 (proxy, the peer)
    assert p.client_address("10.0.0.1", ["198.51.100.7, 10.0.0.2"]) == "198.51.100.7"
    # A spoofed left part is ignored: the first untrusted hop from the right wins.
    assert p.client_address("10.0.0.1", ["6.6.6.6, 198.51.100.7"]) == "198.51.100.7"
    # Several headers are one list, in order.
    assert p.client_address("10.0.0.1", ["6.6.6.6", "198.51.100.7"]) == "198.51.100.7"
    # All hops trusted: the leftmost is the client.
    assert p.client_address("10.0.0.1", ["10.9.9.9"]) == "10.9.9.9"
    # Garbage stops the walk at the hop that added it.
    assert p.client_address("10.0.0.1", ["198.51.100.7, garbage"]) == "10.0.0.1"
    # An untrusted peer's header is ignored.
    assert p.client_address("203.0.113.9", ["198.51.100.7"]) == "203.0.113.9"
    assert p.client_address("10.0.0.1", []) == "10.0.0.1"


def test_forwarded_for_ipv6_proxies() -> None:
    p = _protection("2001:db8::/32")
    assert p.client_address("2001:db8::1", ["2400:4050::5"]) == "2400:4050::5"


# --- the rate limiter -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    admitted = [limiter.take("k", rate=10, burst=10) is None for _ in range(25)]
    assert admitted.count(True) == 10
    wait = limiter.take("k", rate=10, burst=10)
    assert wait is not None and 0 < wait <= 0.1 + 1e-9
    clock.now += 0.5  # half a second: five more
    assert [limiter.take("k", 10, 10) is None for _ in range(8)].count(True) == 5
    assert limiter.take("other", 10, 10) is None  # keys are independent


@given(
    now=st.floats(min_value=1.6e9, max_value=2.2e9),
    rate=st.integers(min_value=1, max_value=2000),
    burst=st.integers(min_value=1, max_value=2000),
)
def test_an_idle_key_admits_exactly_its_burst(now: float, rate: int, burst: int) -> None:
    # At real epoch times one addition of 1/rate rounds by up to ~1e-7 s: summed over a
    # burst, the rounding must neither cost a request nor admit one more.
    limiter = RateLimiter(lambda: now)
    admitted = 0
    while limiter.take("ip:192.0.2.1", rate, burst) is None:
        admitted += 1
        assert admitted <= burst
    assert admitted == burst


def test_cost_counts_and_oversized_requests_pay_later() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert limiter.take("send", rate=600, burst=600, cost=500) is None
    assert limiter.take("send", rate=600, burst=600, cost=200) is not None
    assert limiter.take("send", rate=600, burst=600, cost=100) is None
    clock.now += 10
    # A batch larger than the burst passes when the key is idle, then the debt is paid.
    assert limiter.take("send", rate=600, burst=600, cost=6000) is None
    wait = limiter.take("send", rate=600, burst=600, cost=1)
    assert wait is not None and wait > 8
    clock.now += 9.01  # the debt (10 s) less the burst (1 s)
    assert limiter.take("send", rate=600, burst=600, cost=1) is None


async def test_sync_shares_consumption_between_processes() -> None:
    clock = Clock()
    shared: dict[str, float] = {}

    async def store(costs: dict[str, float], now: float) -> dict[str, float]:
        for key, cost in costs.items():
            shared[key] = max(shared.get(key, now), now) + cost
        return {k: shared[k] for k in costs}

    a, b = RateLimiter(clock), RateLimiter(clock)
    assert [a.take("ip:x", 5, 5) is None for _ in range(5)] == [True] * 5
    await a.sync(store)
    # b has not synced: it admits on its own view until it learns of a's consumption.
    assert b.take("ip:x", 5, 5) is None
    await b.sync(store)
    assert b.take("ip:x", 5, 5) is not None
    assert await a.sync(store) == 0  # nothing new to share
    clock.now += 2
    a.forget_idle()
    assert len(a) == 0


@given(st.text(max_size=30))
def test_only_numbers_become_sql_constants(value: str) -> None:
    # The guards' look-up writes phone numbers into the SQL on PostgreSQL (store/protection.py).
    try:
        constant = _pg_constant(value)
    except ValueError:
        assert not re.fullmatch(r"\+?[0-9]{1,20}", value)
    else:
        assert constant == f"'{value}'"
        assert re.fullmatch(r"'\+?[0-9]{1,20}'", constant)


def test_sql_constants_of_numbers_and_ids() -> None:
    assert _pg_constant("+819012345678") == "'+819012345678'"
    assert _pg_constant(10001) == "10001"
    for bad in ("1' OR '1'='1", "+81 90", "", "０９０", "1" * 21):
        with pytest.raises(ValueError):
            _pg_constant(bad)
