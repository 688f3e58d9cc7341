"""Inbound messages (MO): attribution rules, the reply link, listeners, the listing API."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.domain.inbound import InboundMessage
from todoke.services.messages import now_ms
from todoke.store.tables import attempts, messages, webhook_deliveries, webhook_events

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)


async def _sent(
    runtime: Runtime,
    client: httpx.AsyncClient,
    who: Tenant,
    to: str,
    *,
    tag: str,
    connector: str = "c1",
) -> str:
    r = await client.post(
        "/v1/messages", json={"to": to, "text": "x", "clientTag": tag}, headers=who.headers
    )
    mid: str = r.json()["id"]
    now = now_ms()
    async with runtime.db.engine.begin() as conn:
        await conn.execute(messages.update().where(messages.c.id == mid).values(sent_at=now))
        await conn.execute(
            attempts.insert().values(
                id=mid,
                message_id=mid,
                account_id=who.client_id,
                number=1,
                connector=connector,
                carrier="docomo",
                state="submitted",
                parts=1,
                created_at=now,
            )
        )
    return mid


async def test_attribution_reply_link_listeners_and_listing(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    inbound = runtime.services.inbound
    webhooks = runtime.services.webhooks
    assert inbound is not None and webhooks is not None
    await webhooks.create(
        tenant.client_id, "https://hooks.example.com/in", events=["message.inbound"]
    )
    older = await _sent(runtime, client, tenant, "090-1111-2222", tag="old")
    newer = await _sent(runtime, client, tenant, "090-1111-2222", tag="new")
    await _sent(runtime, client, other_tenant, "090-1111-2222", tag="theirs", connector="c2")
    seen: list[InboundMessage] = []

    async def listener(m: InboundMessage) -> None:
        seen.append(m)

    async def broken(m: InboundMessage) -> None:
        raise RuntimeError("a listener bug")

    inbound.add_listener(broken)
    inbound.add_listener(listener)

    # 1. To our sender code: that account, answering its newest message to the number.
    a = await inbound.receive(
        connector="c1",
        source="819011112222",
        destination=tenant.sms_code,
        text="はい",
        received_at=None,
    )
    assert (a.account_id, a.reply_to, a.reply_to_client_tag) == (tenant.client_id, newer, "new")
    assert a.from_number == "+819011112222"
    # 2. An unknown destination: the account of the newest message sent to the number through
    #    the same connector.
    b = await inbound.receive(
        connector="c2", source="+819011112222", destination="99999", text="STOP", received_at=None
    )
    assert b.account_id == other_tenant.client_id and b.reply_to is not None
    # 3. Nothing matches: stored without an account.
    c = await inbound.receive(
        connector="c9", source="08012345678", destination="00000", text="?", received_at=None
    )
    assert c.account_id is None and c.reply_to is None
    d = await inbound.receive(
        connector="c1",
        source="ABCDEF",
        destination=tenant.sms_code,
        text="from a name",
        received_at=None,
    )
    assert d.from_number == "ABCDEF" and d.reply_to is None
    assert [m.id for m in seen] == [a.id, b.id, c.id, d.id]  # the broken one did not stop it
    assert older != newer

    r = await client.get("/v1/inbound", headers=tenant.headers)
    assert [m["id"] for m in r.json()["inbound"]] == [d.id, a.id]
    r = await client.get("/v1/inbound", params={"from": "090-1111-2222"}, headers=tenant.headers)
    assert [m["id"] for m in r.json()["inbound"]] == [a.id]
    assert r.json()["inbound"][0]["replyTo"] == newer
    r = await client.get("/v1/inbound", headers=other_tenant.headers)
    assert [m["id"] for m in r.json()["inbound"]] == [b.id]
    assert (
        await client.get(f"/v1/inbound/{a.id}", headers=other_tenant.headers)
    ).status_code == 404
    r = await client.get("/v1/inbound", params={"from": "12"}, headers=tenant.headers)
    assert r.status_code == 400

    # The message.inbound events were written with the rows (only the subscribed account's).
    async with runtime.db.connect() as conn:
        rows = (
            await conn.execute(sa.select(webhook_events.c.type, webhook_events.c.account_id))
        ).all()
        deliveries = (
            await conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries))
        ).scalar()
    assert sorted(r.type for r in rows if r.type == "message.inbound") == ["message.inbound"] * 2
    assert {r.account_id for r in rows if r.type == "message.inbound"} == {tenant.client_id}
    assert deliveries == 2
