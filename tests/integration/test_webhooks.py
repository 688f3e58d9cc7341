"""Webhook endpoints and delivery against real loopback HTTP receivers (SQLite and PostgreSQL).

The webhook worker runs in the test's event loop; the receiver is ``todoke.webhook_receiver``
(asyncio + h11 on a free port), signatures are checked with the reference ``standardwebhooks``
verifier.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from tests.conftest import Tenant, make_settings
from todoke.app import Runtime, create_app
from todoke.domain import webhooks as wh
from todoke.outcomes import WebhookEngine
from todoke.services.webhook_formats import FORM, Rendered, WebhookFormat, form_body
from todoke.services.webhook_types import Endpoint, WebhookEvent
from todoke.store.tables import webhook_attempts, webhook_deliveries
from todoke.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

Client = httpx.AsyncClient
LATER = (datetime.now() + timedelta(days=30)).isoformat(timespec="seconds")


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    settings = make_settings(
        database_url,
        webhooks_allow_private=True,
        webhooks_retry_base_seconds=0.05,
        webhooks_retry_max_seconds=0.2,
        webhooks_timeout_seconds=1.0,
    )
    runtime = Runtime(settings)
    await runtime.start()
    engine = WebhookEngine(settings, runtime.outcomes)
    engine.worker._idle_poll = 0.02
    engine.start()
    try:
        yield runtime
    finally:
        await engine.stop()
        await runtime.stop()


@pytest.fixture
async def api(rt: Runtime) -> AsyncIterator[Client]:
    transport = httpx.ASGITransport(app=create_app(rt.settings, rt), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tenant(rt: Runtime) -> Tenant:
    issued = await rt.services.accounts.create("hooks-a", sms_code="44444")
    return Tenant(issued.account.id, "44444", issued.token)


@pytest.fixture
async def other(rt: Runtime) -> Tenant:
    issued = await rt.services.accounts.create("hooks-b", sms_code="55555")
    return Tenant(issued.account.id, "55555", issued.token)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


async def add_endpoint(api: Client, who: Tenant, url: str, **body: Any) -> dict[str, Any]:
    r = await api.post("/v1/webhooks", json={"url": url, **body}, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_endpoint_crud_and_secret(api: Client, tenant: Tenant, other: Tenant) -> None:
    ep = await add_endpoint(
        api, tenant, "https://hooks.example.com/todoke", events=["message.final"]
    )
    assert ep["secret"].startswith("whsec_")
    assert base64.b64decode(ep["secret"].removeprefix("whsec_"))  # valid base64 key
    assert ep["events"] == ["message.final"] and ep["format"] == "standard"
    listed = (await api.get("/v1/webhooks", headers=tenant.headers)).json()["endpoints"]
    assert [e["id"] for e in listed] == [ep["id"]]
    assert "secret" not in listed[0]
    one = (await api.get(f"/v1/webhooks/{ep['id']}", headers=tenant.headers)).json()
    assert one["secret"] == ep["secret"]
    # Another account sees nothing and can touch nothing.
    assert (await api.get("/v1/webhooks", headers=other.headers)).json()["endpoints"] == []
    for method, path in [
        ("GET", f"/v1/webhooks/{ep['id']}"),
        ("DELETE", f"/v1/webhooks/{ep['id']}"),
        ("POST", f"/v1/webhooks/{ep['id']}/replay"),
        ("GET", f"/v1/webhooks/{ep['id']}/deliveries"),
    ]:
        r = await api.request(method, path, headers=other.headers)
        assert r.status_code == 404, (method, path, r.text)
    r = await api.patch(
        f"/v1/webhooks/{ep['id']}",
        json={
            "events": ["message.status", "message.final"],
            "basicAuth": {"username": "u", "password": "p"},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["basicAuthUser"] == "u" and len(r.json()["events"]) == 2
    r = await api.patch(
        f"/v1/webhooks/{ep['id']}", json={"basicAuth": None}, headers=tenant.headers
    )
    assert "basicAuthUser" not in r.json()
    r = await api.delete(f"/v1/webhooks/{ep['id']}", headers=tenant.headers)
    assert r.status_code == 204
    assert (await api.get("/v1/webhooks", headers=tenant.headers)).json()["endpoints"] == []


async def test_bad_endpoint_input_is_400(api: Client, tenant: Tenant) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://example.com/x", "events": ["message.nope"]}, "events"),
        (
            {"url": "https://example.com/x", "basicAuth": {"username": "a:b", "password": "x"}},
            "basicAuth",
        ),
        ({"url": "https://example.com/x", "bogus": 1}, None),  # type: ignore[list-item]
    ]
    for body, field in cases:
        r = await api.post("/v1/webhooks", json=body, headers=tenant.headers)
        assert r.status_code == 400, (body, r.text)
        if field:
            assert r.json()["error"]["field"] == field, (body, r.json())


async def test_private_targets_refused_without_the_operator_setting(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)  # webhooks_allow_private is off by default
    runtime = Runtime(settings)
    await runtime.start()
    try:
        issued = await runtime.services.accounts.create("guarded", sms_code="66666")
        who = Tenant(issued.account.id, "66666", issued.token)
        app = create_app(settings, runtime)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            for url in [
                "http://127.0.0.1:8080/hook",
                "http://localhost/hook",
                "http://10.1.2.3/hook",
                "http://192.168.0.10/hook",
                "http://172.16.0.1/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://[::1]/hook",
                "http://[::ffff:127.0.0.1]/hook",
                "http://0.0.0.0/hook",
                "http://100.64.0.1/hook",
            ]:
                r = await api.post("/v1/webhooks", json={"url": url}, headers=who.headers)
                assert r.status_code == 400, (url, r.text)
                assert r.json()["error"]["code"] == "invalid_url"
        # At delivery time a name is resolved and each address checked (and pinned).
        sender = runtime.outcomes.sender
        result = await sender.post("http://localhost.:9/x", headers={}, body=b"{}", timeout_ms=2000)
        assert result.status_code is None and result.permanent, result
        import socket

        host = socket.gethostname()
        addresses = {i[4][0] for i in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)}
        if all(wh.is_forbidden_address(a) for a in addresses):
            result = await sender.post(
                f"http://{host}:9/x", headers={}, body=b"{}", timeout_ms=2000
            )
            assert result.permanent and "private" in (result.error or ""), result
    finally:
        await runtime.stop()


async def test_signed_event_verifies_with_the_reference_verifier(
    rt: Runtime, api: Client, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    ep = await add_endpoint(
        api, tenant, receiver.url, basicAuth={"username": "dlr", "password": "p@ss:wörd"}
    )
    receiver.secret = ep["secret"]
    assert rt.services.webhooks is not None
    await rt.services.webhooks.emit(tenant.client_id, "link.clicked", {"linkId": "L1", "n": 1})
    got = await receiver.wait_for(1)
    assert len(got) == 1
    req = got[0]
    assert req.verified is True
    # The reference verifier, by hand, on the raw body and headers:
    payload = Webhook(ep["secret"]).verify(req.body, req.headers)
    assert payload["type"] == "link.clicked"
    assert payload["data"] == {"linkId": "L1", "n": 1}
    assert payload["timestamp"].endswith("+09:00")
    assert req.headers["content-type"] == "application/json"
    assert req.basic_auth() == ("dlr", "p@ss:wörd")
    # A tampered body or another secret fails.
    with pytest.raises(Exception):  # noqa: B017 - WebhookVerificationError
        Webhook(ep["secret"]).verify(req.body + b" ", req.headers)
    other_secret = "whsec_" + base64.b64encode(b"x" * 24).decode()
    with pytest.raises(Exception):  # noqa: B017
        Webhook(other_secret).verify(req.body, req.headers)


async def test_message_events_carry_the_unified_status(
    rt: Runtime, api: Client, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    ep = await add_endpoint(api, tenant, receiver.url)
    receiver.secret = ep["secret"]
    r = await api.post(
        "/v1/messages",
        json={
            "to": "090-1234-5678",
            "text": "予約のお知らせ",
            "clientTag": "order-7",
            "scheduleAt": LATER,
        },
        headers=tenant.headers,
    )
    assert r.status_code == 202
    mid = r.json()["id"]
    await api.delete(f"/v1/messages/{mid}", headers=tenant.headers)
    got = await receiver.wait_for(2)
    assert [g.payload["type"] for g in got] == ["message.status", "message.final"]
    first, final = got[0].payload["data"], got[1].payload["data"]
    assert first["messageId"] == mid and first["clientTag"] == "order-7"
    assert first["status"]["name"] == "PENDING_SCHEDULED" and first["final"] is False
    assert first["to"] == "+819012345678" and first["parts"] == 1
    assert final["status"]["name"] == "CANCELLED" and final["final"] is True
    assert final["billableParts"] == 0
    assert all(g.verified for g in got)
    assert got[0].webhook_id != got[1].webhook_id


async def test_receiver_down_then_back_gets_everything_in_order(
    rt: Runtime, api: Client, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    ep = await add_endpoint(api, tenant, receiver.url)
    receiver.secret = ep["secret"]
    await receiver.stop()  # down
    assert rt.services.webhooks is not None
    chains = [f"chain-{i}" for i in range(5)]
    for n in range(6):
        for c in chains:
            await rt.services.webhooks.emit(
                tenant.client_id, "link.clicked", {"chain": c, "n": n}, chain=c
            )

    async def failed_some() -> bool:
        async with rt.db.connect() as conn:
            count = (
                await conn.execute(sa.select(sa.func.count()).select_from(webhook_attempts))
            ).scalar()
        return bool(count and count >= 5)

    await wait_until(failed_some)
    await receiver.start()  # back, on the same port
    got = await receiver.wait_for(30, timeout=30)
    assert len(got) == 30
    assert all(g.verified for g in got)
    ids = [g.webhook_id for g in got]
    assert len(set(ids)) == 30  # each event accepted exactly once
    for c in chains:
        seq = [g.payload["data"]["n"] for g in got if g.payload["data"]["chain"] == c]
        assert seq == list(range(6)), (c, seq)
    listed = (await api.get(f"/v1/webhooks/{ep['id']}", headers=tenant.headers)).json()
    assert listed["failing"] is False and "lastSuccessAt" in listed


async def test_dead_letter_flag_and_replay(database_url: str, receiver: WebhookReceiver) -> None:
    settings = make_settings(
        database_url,
        webhooks_allow_private=True,
        webhooks_retry_base_seconds=0.05,
        webhooks_retry_max_seconds=0.1,
        webhooks_max_age_seconds=0.4,
    )
    runtime = Runtime(settings)
    await runtime.start()
    engine = WebhookEngine(settings, runtime.outcomes)
    engine.start()
    try:
        issued = await runtime.services.accounts.create("dead", sms_code="77777")
        who = Tenant(issued.account.id, "77777", issued.token)
        transport = httpx.ASGITransport(app=create_app(settings, runtime), client=("127.0.0.1", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
            ep = await add_endpoint(api, who, receiver.url)
            receiver.status = 500
            assert runtime.services.webhooks is not None
            for n in range(3):
                await runtime.services.webhooks.emit(who.client_id, "link.clicked", {"n": n})

            async def all_dead() -> bool:
                r = await api.get(
                    f"/v1/webhooks/{ep['id']}/deliveries?state=dead", headers=who.headers
                )
                return len(r.json()["deliveries"]) == 3

            await wait_until(all_dead)
            info = (await api.get(f"/v1/webhooks/{ep['id']}", headers=who.headers)).json()
            assert info["failing"] is True and "flaggedAt" in info
            dead = (
                await api.get(f"/v1/webhooks/{ep['id']}/deliveries?state=dead", headers=who.headers)
            ).json()
            assert all(d["attempts"] >= 2 and d["lastStatus"] == 500 for d in dead["deliveries"])
            async with runtime.db.connect() as conn:
                attempts = (
                    await conn.execute(sa.select(sa.func.count()).select_from(webhook_attempts))
                ).scalar()
                recorded = (
                    await conn.execute(sa.select(sa.func.sum(webhook_deliveries.c.attempts)))
                ).scalar()
            assert attempts == recorded  # one row per attempt
            failures_before = len(receiver.received)
            receiver.status = 200
            r = await api.post(f"/v1/webhooks/{ep['id']}/replay", headers=who.headers)
            assert r.status_code == 202 and r.json() == {"replayed": 3}
            got = await receiver.wait_for(3)
            assert sorted(g.payload["data"]["n"] for g in got) == [0, 1, 2]
            assert failures_before >= 6

            # The receiver has answered; the success is recorded (and the flag lifted) in
            # the commit that follows, so look until it is.
            async def unflagged() -> bool:
                r = await api.get(f"/v1/webhooks/{ep['id']}", headers=who.headers)
                return bool(r.json()["failing"] is False)

            await wait_until(unflagged)
            info = (await api.get(f"/v1/webhooks/{ep['id']}", headers=who.headers)).json()
            assert info["failing"] is False and "flaggedAt" not in info
            r = await api.post(f"/v1/webhooks/{ep['id']}/replay", headers=who.headers)
            assert r.json() == {"replayed": 0}
            r = await api.post(f"/v1/webhooks/{ep['id']}/replay", content=b"{", headers=who.headers)
            assert r.status_code == 400
    finally:
        await engine.stop()
        await runtime.stop()


async def test_slow_or_redirecting_receiver_is_a_failure(
    rt: Runtime, api: Client, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    ep = await add_endpoint(api, tenant, receiver.url)
    receiver.delay = 1.5  # the settings' timeout is 1 s
    assert rt.services.webhooks is not None
    await rt.services.webhooks.emit(tenant.client_id, "link.clicked", {"n": 1})

    async def timed_out() -> bool:
        async with rt.db.connect() as conn:
            rows = (await conn.execute(sa.select(webhook_attempts.c.error))).all()
        return any(r.error and "timeout" in r.error for r in rows)

    await wait_until(timed_out)
    receiver.delay = 0
    receiver.status = 302
    await asyncio.sleep(0.5)
    deliveries = (
        await api.get(f"/v1/webhooks/{ep['id']}/deliveries", headers=tenant.headers)
    ).json()
    assert deliveries["deliveries"][0]["state"] == "pending"
    receiver.status = 204
    await receiver.wait_for(1)

    async def delivered() -> bool:
        r = await api.get(f"/v1/webhooks/{ep['id']}/deliveries", headers=tenant.headers)
        return bool(r.json()["deliveries"][0]["state"] == "delivered")

    await wait_until(delivered)
    codes = [r.answered for r in receiver.received]
    assert 302 in codes and codes[-1] == 204


async def test_per_message_webhook_url_overrides_the_endpoint_url(
    rt: Runtime, api: Client, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    override = WebhookReceiver()
    await override.start()
    try:
        ep = await add_endpoint(api, tenant, receiver.url)
        override.secret = ep["secret"]
        r = await api.post(
            "/v1/messages",
            json={
                "to": "09012345678",
                "text": "x",
                "scheduleAt": LATER,
                "webhookUrl": override.url,
            },
            headers=tenant.headers,
        )
        mid = r.json()["id"]
        await api.delete(f"/v1/messages/{mid}", headers=tenant.headers)
        got = await override.wait_for(2)
        assert [g.payload["data"]["messageId"] for g in got] == [mid, mid]
        assert all(g.verified for g in got)
        await asyncio.sleep(0.3)
        assert receiver.received == []
    finally:
        await override.stop()


async def test_a_registered_format_with_its_own_policy(
    rt: Runtime, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    """What a compatible API does: its own request shape, 3 retries, skip what it never sends."""

    def render(event: WebhookEvent, endpoint: Endpoint, now_ms: int) -> Rendered | None:
        if event.data.get("skip"):
            return None
        return Rendered(
            form_body({"json": json.dumps({"n": event.data["n"]})}), FORM, {"x-format": "demo"}
        )

    webhooks = rt.services.webhooks
    assert webhooks is not None
    webhooks.formats.register(
        WebhookFormat(
            "demo",
            render,
            wh.RetryPolicy(max_attempts=4, max_age_ms=None, timeout_ms=1000, base_ms=20, cap_ms=50),
        )
    )
    ep = await webhooks.create(
        tenant.client_id, receiver.url, format="demo", basic_user="media", basic_password="sms"
    )
    receiver.status = 503
    await webhooks.emit(tenant.client_id, "link.clicked", {"n": 1, "skip": True})
    await webhooks.emit(tenant.client_id, "link.clicked", {"n": 2})

    async def settled() -> bool:
        found = await webhooks.deliveries(tenant.client_id, ep.id)
        return sorted(d.state for d in found) == ["dead", "skipped"]

    await wait_until(settled)
    assert len(receiver.received) == 4  # 1 attempt + 3 retries
    req = receiver.received[0]
    assert req.headers["content-type"] == FORM and req.headers["x-format"] == "demo"
    assert req.body == b"json=%7B%22n%22%3A+2%7D", req.body
    assert req.basic_auth() == ("media", "sms")
    assert "webhook-signature" not in req.headers
    with pytest.raises(ValueError):
        await webhooks.emit(tenant.client_id, "nothing.happened", {})
