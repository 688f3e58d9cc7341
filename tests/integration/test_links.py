"""Short links: /v1/links, the redirect with click counting and access codes, per-message
links inserted into /v1 sends, billing on click, click events, account scoping."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.services.links import ClickEvent
from todoke.services.messages import now_ms
from todoke.store.tables import messages

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

Client = httpx.AsyncClient


async def create(client: Client, who: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/links", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_link_redirects_and_counts(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    events: list[ClickEvent] = []

    async def listen(event: ClickEvent) -> None:
        events.append(event)

    runtime.services.links.on_click = listen
    link = await create(client, tenant, longUrl="https://example.com/sale?x=1", name="sale")
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/s/[A-Za-z0-9]{7}", link["shortUrl"])
    assert link["clicks"] == 0 and link["hasAccessCode"] is False
    for _ in range(3):
        r = await client.get(f"/s/{link['code']}", headers={"user-agent": "Mobile Safari"})
        assert r.status_code == 302
        assert r.headers["location"] == "https://example.com/sale?x=1"
        assert r.headers["cache-control"] == "no-store"
    got = (await client.get(f"/v1/links/{link['id']}", headers=tenant.headers)).json()
    assert got["clicks"] == 3 and got["firstClickedAt"] and got["lastClickedAt"]
    clicks = (await client.get(f"/v1/links/{link['id']}/clicks", headers=tenant.headers)).json()
    assert len(clicks["clicks"]) == 3
    assert clicks["clicks"][0]["userAgent"] == "Mobile Safari"
    assert [e.clicks for e in events] == [1, 2, 3]
    assert events[0].to_dict()["type"] == "link.clicked"
    assert events[0].account_id == tenant.client_id and events[0].message_id is None


async def test_unknown_and_disabled_links_are_not_found(client: Client, tenant: Tenant) -> None:
    assert (await client.get("/s/Nope123")).status_code == 404
    assert (await client.get("/s/bad!code")).status_code == 404
    link = await create(client, tenant, longUrl="https://example.com")
    r = await client.delete(f"/v1/links/{link['id']}", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["disabledAt"]
    r = await client.get(f"/s/{link['code']}")
    assert r.status_code == 404 and "Link not found" in r.text


async def test_access_code_is_asked_checked_and_locks(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    link = await create(client, tenant, longUrl="https://example.com/private", accessCode="4321")
    assert link["hasAccessCode"] is True
    form = await client.get(f"/s/{link['code']}")
    assert form.status_code == 200 and "text/html" in form.headers["content-type"]
    assert "アクセスコード" in form.text and "Access code" in form.text
    wrong = await client.post(f"/s/{link['code']}", data={"accessCode": "0000"})
    assert wrong.status_code == 403 and "正しくありません" in wrong.text
    right = await client.post(f"/s/{link['code']}", data={"accessCode": "4321"})
    assert right.status_code == 302 and right.headers["location"] == "https://example.com/private"
    limit = runtime.settings.link_access_code_attempts
    for _ in range(limit):
        await client.post(f"/s/{link['code']}", data={"accessCode": "9999"})
    locked = await client.post(f"/s/{link['code']}", data={"accessCode": "4321"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    got = (await client.get(f"/v1/links/{link['id']}", headers=tenant.headers)).json()
    assert got["clicks"] == 1


async def test_custom_domain_links(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    r = await client.post(
        "/v1/links",
        json={"longUrl": "https://e.com", "domain": "go.example.jp"},
        headers=tenant.headers,
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "domain"
    await runtime.services.zettai.update(tenant.client_id, short_domain="go.example.jp")
    link = await create(client, tenant, longUrl="https://e.com/x", domain="go.example.jp")
    assert link["shortUrl"] == f"https://go.example.jp/s/{link['code']}"
    r = await client.get(f"/s/{link['code']}", headers={"host": "go.example.jp"})
    assert r.status_code == 302 and r.headers["location"] == "https://e.com/x"


async def test_links_inserted_into_messages(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    parent = await create(client, tenant, longUrl="https://shop.example.jp/", name="shop")
    body = {
        "to": "090-1234-5678",
        "text": "セール開始 {URL} 詳細 {URL2}",
        "links": {"URL": {"linkId": parent["id"]}, "URL2": {"longUrl": "https://e.com/info"}},
    }
    r = await client.post("/v1/messages", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    sent = r.json()
    urls = re.findall(r"http://127\.0\.0\.1:8080/s/([A-Za-z0-9]{7})", sent["text"])
    assert len(urls) == 2 and "{URL" not in sent["text"]
    per_message = (
        await client.get(f"/v1/links?messageId={sent['id']}", headers=tenant.headers)
    ).json()["links"]
    assert {link["placeholder"] for link in per_message} == {"URL", "URL2"}
    first = next(link for link in per_message if link["placeholder"] == "URL")
    assert first["parentId"] == parent["id"] and first["code"] == urls[0]
    assert sent["billableParts"] == 0
    # handed to a carrier: a click before that bills nothing (see test_click_before_sending)
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            messages.update().where(messages.c.id == sent["id"]).values(sent_at=now_ms())
        )
    r = await client.get(f"/s/{urls[0]}")
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example.jp/"
    message = (await client.get(f"/v1/messages/{sent['id']}", headers=tenant.headers)).json()
    assert message["billableParts"] == message["parts"]  # clicked = リダイレクト: billable
    parent_now = (await client.get(f"/v1/links/{parent['id']}", headers=tenant.headers)).json()
    assert parent_now["clicks"] == 1  # counted on the account's link too
    clicks = (await client.get(f"/v1/links/{parent['id']}/clicks", headers=tenant.headers)).json()
    assert clicks["clicks"][0]["messageId"] == sent["id"]


async def test_link_refusals_name_the_placeholder(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign = await create(client, other_tenant, longUrl="https://other.example")
    cases = [
        ({"text": "no placeholder", "links": {"URL": {"longUrl": "https://e.com"}}}, "links.URL"),
        ({"text": "{URL}", "links": {"URL": {"longUrl": "javascript:alert(1)"}}}, "links.URL"),
        ({"text": "{URL}", "links": {"URL": {"linkId": foreign["id"]}}}, "links.URL"),
        ({"text": "{URL}", "links": {"URL": {}}}, "links.URL"),
        ({"text": "{1x}", "links": {"1x": {"longUrl": "https://e.com"}}}, "links"),
    ]
    for extra, field in cases:
        r = await client.post(
            "/v1/messages", json={"to": "09012345678", **extra}, headers=tenant.headers
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["field"] == field, r.text
    listed = (await client.get("/v1/links", headers=tenant.headers)).json()["links"]
    assert listed == []  # nothing was left behind


async def test_batch_with_links_keeps_only_stored_messages_links(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    items = [
        {
            "to": "09012345678",
            "text": "a {URL}",
            "links": {"URL": {"longUrl": "https://e.com/a"}},
            "clientTag": "t1",
        },
        {
            "to": "09012345678",
            "text": "b {URL}",
            "links": {"URL": {"longUrl": "https://e.com/b"}},
            "clientTag": "t1",
        },  # duplicate clientTag: refused after its links were made
        {"to": "0312345678", "text": "c {URL}", "links": {"URL": {"longUrl": "https://e.com/c"}}},
    ]
    r = await client.post("/v1/messages/batch", json={"messages": items}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    results = r.json()["results"]
    assert "id" in results[0] and "error" in results[1] and "error" in results[2]
    async with runtime.db.engine.connect() as conn:
        from sqlalchemy import func, select

        from todoke.store.tables import links

        count = (await conn.execute(select(func.count()).select_from(links))).scalar_one()
    assert count == 1


async def test_links_are_per_account(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = await create(client, tenant, longUrl="https://e.com")
    assert (
        await client.get(f"/v1/links/{mine['id']}", headers=other_tenant.headers)
    ).status_code == 404
    assert (
        await client.get(f"/v1/links/{mine['id']}/clicks", headers=other_tenant.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/v1/links/{mine['id']}", headers=other_tenant.headers)
    ).status_code == 404
    assert (await client.get("/v1/links", headers=other_tenant.headers)).json()["links"] == []


@pytest.mark.parametrize(
    "bad", [{"longUrl": "ftp://x"}, {"longUrl": "https://e.com", "accessCode": "a b"}]
)
async def test_create_refusals(client: Client, tenant: Tenant, bad: dict[str, Any]) -> None:
    r = await client.post("/v1/links", json=bad, headers=tenant.headers)
    assert r.status_code == 400, r.text


async def test_click_after_failure_receipt_makes_message_billable(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    r = await client.post(
        "/v1/messages",
        json={"to": "09012345678", "text": "{URL}", "links": {"URL": {"longUrl": "https://e.com"}}},
        headers=tenant.headers,
    )
    sent = r.json()
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.id == sent["id"])
            .values(
                status="EXPIRED_DLR_UNKNOWN",
                status_group=4,
                cause="unknown",
                sent_at=now_ms(),
            )
        )
    code = sent["text"].rsplit("/", 1)[1]
    await client.get(f"/s/{code}")
    await client.get(f"/s/{code}")  # a second click changes nothing more
    message = (await client.get(f"/v1/messages/{sent['id']}", headers=tenant.headers)).json()
    assert message["billableParts"] == 1


async def test_click_before_sending(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    """A click on the link of a message that has not left (the account opening the text it
    was shown) is counted but bills nothing, not even once the message is cancelled."""
    r = await client.post(
        "/v1/messages",
        json={
            "to": "09012345678",
            "text": "{URL}",
            "links": {"URL": {"longUrl": "https://e.com"}},
            "scheduleAt": datetime.fromtimestamp(now_ms() / 1000 + 86400, UTC).isoformat(),
        },
        headers=tenant.headers,
    )
    assert r.status_code == 202, r.text
    sent = r.json()
    code = sent["text"].rsplit("/", 1)[1]
    assert (await client.get(f"/s/{code}")).status_code == 302
    links = (await client.get(f"/v1/links?messageId={sent['id']}", headers=tenant.headers)).json()[
        "links"
    ]
    assert links[0]["clicks"] == 1
    r = await client.delete(f"/v1/messages/{sent['id']}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    message = (await client.get(f"/v1/messages/{sent['id']}", headers=tenant.headers)).json()
    assert message["billableParts"] == 0


async def test_nul_characters_are_refused_not_crashed(client: Client, tenant: Tenant) -> None:
    """PostgreSQL cannot hold NUL in text: every such input is a 4xx, never a 500."""
    h = tenant.headers
    assert (await client.get("/v1/links/a%00b", headers=h)).status_code == 404
    assert (await client.get("/v1/links/a%00b/clicks", headers=h)).status_code == 404
    assert (
        await client.get("/v1/links", params={"messageId": "a\x00"}, headers=h)
    ).status_code == 400
    assert (await client.get("/v1/templates/a%00b", headers=h)).status_code == 404
    r = await client.post(
        "/v1/links", json={"longUrl": "https://e.com", "name": "a\x00"}, headers=h
    )
    assert r.status_code == 400
    r = await client.post("/v1/templates", json={"title": "a\x00", "content": "x"}, headers=h)
    assert r.status_code == 400
    r = await client.post(
        "/v1/messages",
        json={"to": "09012345678", "text": "{URL}", "links": {"URL": {"linkId": "x\x00"}}},
        headers=h,
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "links.URL"
    # The same for the messages API itself (MessageService).
    for extra in ({"clientTag": "a\x00"}, {"groupTag": "\x00"}, {"webhookUrl": "https://e\x00"}):
        r = await client.post(
            "/v1/messages", json={"to": "09012345678", "text": "x", **extra}, headers=h
        )
        assert r.status_code == 400, (extra, r.text)
    r = await client.get("/v1/messages", params={"clientTag": "a\x00"}, headers=h)
    assert r.status_code == 200 and r.json()["messages"] == []


async def test_japanese_long_url_redirects(client: Client, tenant: Tenant) -> None:
    link = await create(client, tenant, longUrl="https://例え.jp/セール?q=春")
    r = await client.get(f"/s/{link['code']}")
    assert r.status_code == 302
    assert r.headers["location"] == "https://xn--r8jz45g.jp/%E3%82%BB%E3%83%BC%E3%83%AB?q=%E6%98%A5"


async def test_clicks_in_one_group_commit_count_as_if_one_by_one(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    """Clicks that arrive together share one transaction: each still gets its own count, the
    links' totals add up, and only one of them is the click that made the message billable."""
    parent = await create(client, tenant, longUrl="https://shop.example.jp/", name="shop")
    texts = []
    for to in ("090-1111-0001", "090-1111-0002"):
        r = await client.post(
            "/v1/messages",
            json={"to": to, "text": "{URL}", "links": {"URL": {"linkId": parent["id"]}}},
            headers=tenant.headers,
        )
        assert r.status_code == 202, r.text
        texts.append(r.json())
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.id.in_([t["id"] for t in texts]))
            .values(sent_at=now_ms())
        )
    assert runtime.services.links is not None
    store = runtime.services.links._store
    per_message = [await store.by_code(t["text"].rsplit("/", 1)[1]) for t in texts]
    assert all(link is not None for link in per_message)
    records = await asyncio.gather(
        *[
            store.record_click(link, at=now_ms(), ip="192.0.2.1", user_agent="test")
            for link in per_message * 6
            if link is not None
        ]
    )
    assert runtime.writer.stats.largest_batch >= 2  # they did share transactions
    for i, link in enumerate(per_message):
        mine = records[i::2]
        assert sorted(r.clicks for r in mine) == [1, 2, 3, 4, 5, 6]
        assert [r.message_billable for r in mine].count(True) == 1
        assert link is not None
        listed = (await client.get(f"/v1/links/{link.id}", headers=tenant.headers)).json()
        assert listed["clicks"] == 6
    parent_now = (await client.get(f"/v1/links/{parent['id']}", headers=tenant.headers)).json()
    assert parent_now["clicks"] == 12
    for t in texts:
        message = (await client.get(f"/v1/messages/{t['id']}", headers=tenant.headers)).json()
        assert message["billableParts"] == message["parts"]
    assert len({r.click_id for r in records}) == 12
