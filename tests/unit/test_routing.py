"""Routing decisions: route precedence, failover, carrier resolution, windows, retry timing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from todoke.domain.routing import (
    ALL_CARRIERS,
    MaintenanceWindow,
    Route,
    RoutingTable,
    WindowEffect,
    WindowState,
    active_window,
    carrier_names,
    pick_connector,
    resolve_carrier,
    retry_delay_ms,
)

TABLE = RoutingTable(
    [
        Route(None, ALL_CARRIERS, ("platform-all",)),
        Route(None, "docomo", ("platform-docomo", "platform-all")),
        Route(7, ALL_CARRIERS, ("acct7-all",)),
        Route(7, "au", ("acct7-au",)),
        Route(8, "au", ()),  # an empty route is no route
    ]
)


def test_most_specific_route_wins() -> None:
    assert TABLE.connectors_for(7, "au") == ("acct7-au",)
    assert TABLE.connectors_for(7, "docomo") == ("acct7-all",)  # account route before platform
    assert TABLE.connectors_for(1, "docomo") == ("platform-docomo", "platform-all")
    assert TABLE.connectors_for(1, "softbank") == ("platform-all",)
    assert TABLE.connectors_for(1, None) == ("platform-all",)  # unknown carrier: the default
    assert TABLE.connectors_for(8, "au") == ("platform-all",)


def test_no_routes() -> None:
    empty = RoutingTable([])
    assert not empty
    assert empty.connectors_for(1, "au") == ()


def test_failover_takes_the_first_ready_connector() -> None:
    route = ("a", "b", "c")
    assert pick_connector(route, {"a": True, "b": True}) == "a"
    assert pick_connector(route, {"a": False, "b": True, "c": True}) == "b"
    assert pick_connector(route, {"c": True}) == "c"
    assert pick_connector(route, {"a": False}) is None
    assert pick_connector((), {"a": True}) is None


@given(
    explicit=st.sampled_from([None, "au"]),
    ported=st.sampled_from([None, "softbank"]),
    block=st.sampled_from([None, "docomo"]),
)
def test_carrier_precedence(explicit: str | None, ported: str | None, block: str | None) -> None:
    expected = explicit or ported or block
    assert resolve_carrier(explicit, ported, block) == expected


def _window(**kw: object) -> MaintenanceWindow:
    values: dict[str, object] = {
        "id": 1,
        "carrier": "au",
        "channel": "sms",
        "starts_at": 1_000,
        "ends_at": 2_000,
        "effect": WindowEffect.HOLD,
    }
    values.update(kw)
    return MaintenanceWindow(**values)  # type: ignore[arg-type]


def test_window_covers_its_carrier_channel_and_period() -> None:
    w = _window()
    assert w.covers("au", "sms", 1_000)
    assert w.covers("au", "sms", 1_999)
    assert not w.covers("au", "sms", 2_000)  # the end is exclusive
    assert not w.covers("au", "sms", 999)
    assert not w.covers("docomo", "sms", 1_500)
    assert not w.covers("au", "rcs", 1_500)
    assert not _window(state=WindowState.CANCELLED).covers("au", "sms", 1_500)
    assert _window(state=WindowState.CHANGED).covers("au", "sms", 1_500)
    assert _window(carrier=ALL_CARRIERS).covers("rakuten", "sms", 1_500)


def test_overlapping_windows_the_one_ending_last_wins() -> None:
    short = _window(id=1, ends_at=1_500)
    long = _window(id=2, ends_at=3_000, effect=WindowEffect.REFUSE)
    assert active_window([short, long], "au", 1_200) == long
    assert active_window([short, long], "au", 2_500) == long
    assert active_window([short], "au", 1_600) is None


@given(attempt=st.integers(min_value=1, max_value=60), base=st.integers(1, 120_000))
def test_retry_delay_grows_with_jitter_and_a_cap(attempt: int, base: int) -> None:
    cap = 3_600_000
    ceiling = min(cap, base * 2 ** (attempt - 1))
    delay = retry_delay_ms(attempt, base_ms=base, cap_ms=cap)
    assert ceiling // 2 <= delay <= ceiling


def test_carrier_names_are_what_the_cli_accepts() -> None:
    assert sorted(carrier_names()) == sorted(["all", "docomo", "au", "softbank", "rakuten"])
