"""Webhook rules without I/O: target URLs, the address guard, the retry schedule, formats."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from todoke.domain import webhooks as wh
from todoke.services.webhook_formats import (
    WebhookFormats,
    basic_auth,
    message_payload,
    render_standard,
    sign,
)
from todoke.services.webhook_types import Endpoint, WebhookEvent
from todoke.services.webhooks import new_signing_secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1.2.3:8080/x",
        "http://localhost/x",
        "http://LOCALHOST./x",
        "http://app.localhost/x",
        "http://10.0.0.1/x",
        "http://172.31.255.255/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://[fe80::1]/x",
        "http://[fc00::1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "http://0.0.0.0/x",
        "http://100.64.1.1/x",
        "http://224.0.0.1/x",
    ],
)
def test_private_targets_are_refused(url: str) -> None:
    with pytest.raises(wh.UrlRefused):
        wh.parse_target(url, allow_private=False)
    assert wh.parse_target(url, allow_private=True).host


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "https://u:p@example.com/",
        "https:///x",
        "http://exa mple.com/",
        "",
        "x" * 3000,
        "http://example.com:99999/",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(wh.UrlRefused):
        wh.parse_target(url, allow_private=True)


def test_public_targets_pass() -> None:
    t = wh.parse_target("https://hooks.example.com/dlr?x=1", allow_private=False)
    assert (t.scheme, t.host, t.port, t.literal_ip) == ("https", "hooks.example.com", 443, False)
    t = wh.parse_target("http://8.8.8.8:8080/", allow_private=False)
    assert (t.port, t.literal_ip) == (8080, True)


@given(st.ip_addresses())
def test_forbidden_addresses_are_exactly_the_non_global_ones(ip: ipaddress._BaseAddress) -> None:
    forbidden = wh.is_forbidden_address(str(ip))
    if not ip.is_global or ip.is_multicast:
        assert forbidden
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        assert forbidden == wh.is_forbidden_address(str(ip.ipv4_mapped))


@given(
    attempt=st.integers(1, 100),
    jitter=st.floats(0, 1),
    base=st.integers(1, 10_000),
    extra=st.integers(0, 10_000_000),
)
def test_retry_delay_is_bounded_and_jittered(
    attempt: int, jitter: float, base: int, extra: int
) -> None:
    policy = wh.RetryPolicy(base_ms=base, cap_ms=base + extra)
    delay = wh.retry_delay_ms(attempt, policy, jitter)
    raw = min(policy.cap_ms, base * 2 ** (attempt - 1))
    assert max(1, raw // 2) <= delay <= raw


def test_retries_last_at_least_the_max_age_then_dead() -> None:
    policy = wh.RetryPolicy(max_age_ms=24 * 3600_000, base_ms=5000, cap_ms=3600_000)
    now, first, attempt = 0, 0, 1
    while True:
        nxt = wh.next_after_failure(
            attempt=attempt, first_at=first, now=now, policy=policy, jitter=1.0
        )
        if nxt is None:
            break
        now = nxt
        attempt += 1
    assert now >= 24 * 3600_000  # tried for at least 24 h
    assert 25 <= attempt <= 40
    three = wh.RetryPolicy(max_attempts=4, max_age_ms=None)
    assert wh.next_after_failure(attempt=3, first_at=0, now=0, policy=three, jitter=0) is not None
    assert wh.next_after_failure(attempt=4, first_at=0, now=0, policy=three, jitter=0) is None
    with pytest.raises(ValueError):
        wh.RetryPolicy(max_attempts=None, max_age_ms=None)


def test_event_types() -> None:
    assert wh.event_types(None) == wh.EVENT_TYPES
    assert wh.event_types(["message.final", "message.final"]) == ("message.final",)
    with pytest.raises(ValueError):
        wh.event_types(["message.bogus"])


def _endpoint(secret: str) -> Endpoint:
    return Endpoint(
        id="E1",
        account_id=1,
        url="https://x",
        events=wh.EVENT_TYPES,
        format="standard",
        secret=secret,
        created_at=0,
        updated_at=0,
    )


@given(
    st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=5), st.text(max_size=40)
)
def test_standard_signature_verifies_with_the_reference(
    data: dict[str, str], event_id: str
) -> None:
    secret = new_signing_secret()
    event = WebhookEvent(
        id="evt" + event_id.replace(",", "").replace(" ", ""),
        account_id=1,
        type="link.clicked",
        created_at=1_795_000_000_000,
        data=data,
    )
    now = int(datetime.now(UTC).timestamp() * 1000)
    rendered = render_standard(event, _endpoint(secret), now)
    headers = dict(rendered.headers)
    payload = Webhook(secret).verify(rendered.body, headers)
    assert payload["data"] == data and payload["type"] == "link.clicked"
    assert headers["webhook-timestamp"] == str(now // 1000)


def test_sign_matches_the_spec_example() -> None:
    # Example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330 * 1000, body)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_formats_registry_and_helpers() -> None:
    formats = WebhookFormats(wh.RetryPolicy())
    assert formats.names() == ("standard",)
    assert formats.get("nope") is None
    assert basic_auth("user", "pässword") == "Basic dXNlcjpww6Rzc3dvcmQ="
    event = WebhookEvent(
        id="e",
        account_id=1,
        type="message.final",
        created_at=0,
        data={"status": "DELIVERED_TO_HANDSET", "final": True, "billableParts": 2},
    )
    payload = message_payload(event)
    assert payload["status"]["groupId"] == 3 and payload["billableParts"] == 2
    assert payload["error"] is None and payload["final"] is True
