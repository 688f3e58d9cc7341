"""The native /v1 messages API over a real database (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import sqlalchemy as sa

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.store.tables import api_tokens, messages

Client = httpx.AsyncClient

# A schedule time a month ahead, in JST, without offset.
LATER = (datetime.now(timezone(timedelta(hours=9))) + timedelta(days=30)).strftime(
    "%Y-%m-%dT%H:%M:%S"
)


async def send(client: Client, tenant: Tenant, body: dict[str, Any], **headers: str) -> Any:
    return await client.post("/v1/messages", json=body, headers={**tenant.headers, **headers})


async def test_send_then_get(client: Client, tenant: Tenant) -> None:
    r = await send(client, tenant, {"to": "090-1234-5678", "text": "こんにちは"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["to"] == "+819012345678"
    assert body["encoding"] == "UCS2"
    assert body["parts"] == 1
    assert body["status"]["name"] == "PENDING_ACCEPTED"
    assert body["status"]["groupName"] == "PENDING"
    assert body["from"] == tenant.sms_code

    got = await client.get(f"/v1/messages/{body['id']}", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json()["id"] == body["id"]
    assert got.json()["text"] == "こんにちは"

    events = await client.get(f"/v1/messages/{body['id']}/events", headers=tenant.headers)
    assert [e["status"]["name"] for e in events.json()["events"]] == ["PENDING_ACCEPTED"]


async def test_gsm7_long_message_counts_parts(client: Client, tenant: Tenant) -> None:
    r = await send(client, tenant, {"to": "+818012345678", "text": "a" * 161})
    assert r.status_code == 202
    assert r.json()["encoding"] == "GSM7"
    assert r.json()["parts"] == 2


async def test_validation_errors_name_the_field(client: Client, tenant: Tenant) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"to": "03-1234-5678", "text": "x"}, "to", "invalid_phone_number"),
        ({"to": "090-1234-5678", "text": "   "}, "text", "empty_text"),
        ({"to": "090-1234-5678", "text": "あ" * 661}, "text", "text_too_long"),
        ({"to": "090-1234-5678", "text": "株式会社①"}, "text", "unsupported_character"),
        ({"to": "090-1234-5678", "text": "x", "from": "99999"}, "from", "unknown_sender_code"),
        (
            {"to": "090-1234-5678", "text": "x", "validityPeriod": 5},
            "validityPeriod",
            "out_of_range",
        ),
        (
            {"to": "090-1234-5678", "text": "x", "scheduleAt": "2001-01-01T00:00:00"},
            "scheduleAt",
            "past_time",
        ),
        (
            {"to": "090-1234-5678", "text": "x", "webhookUrl": "ftp://x"},
            "webhookUrl",
            "invalid_url",
        ),
    ]
    for body, field, code in cases:
        r = await send(client, tenant, body)
        assert r.status_code == 400, (body, r.text)
        error = r.json()["error"]
        assert error["field"] == field, (body, error)
        assert error["code"] == code, (body, error)
    r = await send(client, tenant, {"to": "090-1234-5678", "text": "株式会社①"})
    assert r.json()["error"]["character"] == "①"


async def test_schema_errors_are_400_not_500(client: Client, tenant: Tenant) -> None:
    for raw in [
        b"{",
        b"[]",
        b'{"to": 1, "text": "x"}',
        b'{"text": "x"}',
        b'{"to": "09012345678", "text": "x", "bogus": 1}',
        "\xff".encode("latin-1"),
    ]:
        r = await client.post(
            "/v1/messages",
            content=raw,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    r = await send(client, tenant, {"to": "090-1234-5678", "text": "x", "carrier": "ymobile"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "carrier"


async def test_authentication(client: Client, tenant: Tenant) -> None:
    r = await client.post("/v1/messages", json={"to": "09012345678", "text": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"
    r = await client.get("/v1/messages/X", headers={"Authorization": "Bearer " + "z" * 32})
    assert r.status_code == 401
    r = await client.get("/v1/messages/X", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_unknown_route_and_method(client: Client, tenant: Tenant) -> None:
    r = await client.get("/v1/nothing", headers=tenant.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await client.put("/v1/messages", headers=tenant.headers)
    assert r.status_code == 405


async def test_idempotency_same_key_same_body_returns_first_answer(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    body = {"to": "090-1234-5678", "text": "otp 1234"}
    first = await send(client, tenant, body, **{"Idempotency-Key": "k-1"})
    second = await send(client, tenant, body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await _count(runtime, messages) == 1


async def test_idempotency_same_key_other_body_is_refused(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    await send(client, tenant, {"to": "090-1234-5678", "text": "a"}, **{"Idempotency-Key": "k"})
    r = await send(client, tenant, {"to": "090-1234-5678", "text": "b"}, **{"Idempotency-Key": "k"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await _count(runtime, messages) == 1


async def test_idempotency_concurrent_same_key_creates_one(
    client: Client, tenant: Tenant, runtime: Runtime
) -> None:
    body = {"to": "090-1234-5678", "text": "concurrent"}
    answers = await asyncio.gather(
        *[send(client, tenant, body, **{"Idempotency-Key": "same"}) for _ in range(20)]
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await _count(runtime, messages) == 1


async def test_idempotency_keys_are_per_account(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = {"to": "090-1234-5678", "text": "x"}
    a = await send(client, tenant, body, **{"Idempotency-Key": "shared"})
    b = await send(client, other_tenant, body, **{"Idempotency-Key": "shared"})
    assert a.json()["id"] != b.json()["id"]


async def test_client_tag_unique_per_account(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    body = {"to": "090-1234-5678", "text": "x", "clientTag": "order-1"}
    assert (await send(client, tenant, body)).status_code == 202
    r = await send(client, tenant, body)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate_client_tag"
    assert (await send(client, other_tenant, body)).status_code == 202
    found = await client.get("/v1/messages?clientTag=order-1", headers=tenant.headers)
    assert len(found.json()["messages"]) == 1


async def test_concurrent_same_client_tag_one_wins(client: Client, tenant: Tenant) -> None:
    body = {"to": "090-1234-5678", "text": "x", "clientTag": "race"}
    answers = await asyncio.gather(*[send(client, tenant, body) for _ in range(10)])
    assert sorted(a.status_code for a in answers) == [202] + [409] * 9


async def test_account_isolation(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    r = await send(client, tenant, {"to": "090-1234-5678", "text": "secret"})
    mid = r.json()["id"]
    for method, path in [
        ("GET", f"/v1/messages/{mid}"),
        ("GET", f"/v1/messages/{mid}/events"),
        ("DELETE", f"/v1/messages/{mid}"),
    ]:
        other = await client.request(method, path, headers=other_tenant.headers)
        assert other.status_code == 404, (method, path)
    listing = await client.get("/v1/messages", headers=other_tenant.headers)
    assert listing.json()["messages"] == []


async def test_batch_per_item_results(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    items = [{"to": f"0901234{i:04d}", "text": f"hello {i}"} for i in range(50)]
    items[7] = {"to": "12345", "text": "bad number"}
    items[9] = {"to": "09012340009", "text": "dup", "clientTag": "t"}
    items[10] = {"to": "09012340010", "text": "dup", "clientTag": "t"}
    r = await client.post("/v1/messages/batch", json={"messages": items}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["accepted"] == 48
    assert out["rejected"] == 2
    assert out["results"][7]["error"]["code"] == "invalid_phone_number"
    assert out["results"][10]["error"]["code"] == "duplicate_client_tag"
    assert out["results"][0]["status"]["name"] == "PENDING_ACCEPTED"
    assert await _count(runtime, messages) == 48


async def test_batch_limits(client: Client, tenant: Tenant) -> None:
    r = await client.post("/v1/messages/batch", json={"messages": []}, headers=tenant.headers)
    assert r.status_code == 400
    too_many = [{"to": "09012345678", "text": "x"}] * 10_001
    r = await client.post("/v1/messages/batch", json={"messages": too_many}, headers=tenant.headers)
    assert r.status_code == 400


async def test_batch_idempotent(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    body = {"messages": [{"to": "09012345678", "text": f"m{i}"} for i in range(5)]}
    h = {**tenant.headers, "Idempotency-Key": "batch-1"}
    a = await client.post("/v1/messages/batch", json=body, headers=h)
    b = await client.post("/v1/messages/batch", json=body, headers=h)
    assert a.json() == b.json()
    assert await _count(runtime, messages) == 5


async def test_list_filters_and_cursor(client: Client, tenant: Tenant) -> None:
    for i in range(7):
        await send(
            client,
            tenant,
            {"to": "09012345678", "text": f"n{i}", "groupTag": "g" if i % 2 else "h"},
        )
    page1 = (await client.get("/v1/messages?limit=3", headers=tenant.headers)).json()
    assert len(page1["messages"]) == 3
    page2 = (
        await client.get(
            f"/v1/messages?limit=3&cursor={page1['nextCursor']}", headers=tenant.headers
        )
    ).json()
    page3 = (
        await client.get(
            f"/v1/messages?limit=3&cursor={page2['nextCursor']}", headers=tenant.headers
        )
    ).json()
    ids = [m["id"] for p in (page1, page2, page3) for m in p["messages"]]
    assert len(ids) == len(set(ids)) == 7
    assert ids == sorted(ids, reverse=True)
    g = (await client.get("/v1/messages?groupTag=g", headers=tenant.headers)).json()
    assert len(g["messages"]) == 3
    pending = (await client.get("/v1/messages?statusGroup=1", headers=tenant.headers)).json()
    assert len(pending["messages"]) == 7
    bad = await client.get("/v1/messages?statusGroup=9", headers=tenant.headers)
    assert bad.status_code == 400


async def test_scheduled_cancel_and_409_when_final(client: Client, tenant: Tenant) -> None:
    r = await send(
        client, tenant, {"to": "09012345678", "text": "later", "scheduleAt": LATER + "+09:00"}
    )
    assert r.status_code == 202
    scheduled = r.json()
    assert scheduled["scheduleAt"].startswith(LATER)
    assert scheduled["status"]["groupName"] == "PENDING"
    assert scheduled["status"]["name"] != "PENDING_ACCEPTED"
    cancelled = await client.delete(f"/v1/messages/{scheduled['id']}", headers=tenant.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"]["name"] != scheduled["status"]["name"]
    again = await client.delete(f"/v1/messages/{scheduled['id']}", headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"


async def test_naive_schedule_is_jst(client: Client, tenant: Tenant) -> None:
    r = await send(client, tenant, {"to": "09012345678", "text": "x", "scheduleAt": LATER})
    assert r.json()["scheduleAt"] == LATER + ".000+09:00"


async def test_bulk_cancel_by_group_tag(client: Client, tenant: Tenant) -> None:
    for i in range(4):
        await send(
            client,
            tenant,
            {
                "to": "09012345678",
                "text": "x",
                "groupTag": "camp" if i < 3 else "other",
                "scheduleAt": LATER,
            },
        )
    await send(client, tenant, {"to": "09012345678", "text": "now", "groupTag": "camp"})
    r = await client.post("/v1/messages/cancel", json={"groupTag": "camp"}, headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["cancelled"] == 3
    r = await client.post("/v1/messages/cancel", json={}, headers=tenant.headers)
    assert r.status_code == 400
    r = await client.post("/v1/messages/cancel", json={"all": True}, headers=tenant.headers)
    assert r.json()["cancelled"] == 1


async def test_tokens_are_never_stored(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    async with runtime.db.connect() as conn:
        rows = (await conn.execute(sa.select(api_tokens))).all()
    stored = " ".join(str(v) for row in rows for v in row)
    assert tenant.token not in stored
    assert len(rows) == 1 and len(rows[0].token_hash) == 64


async def test_token_rotation(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    new = await runtime.services.accounts.rotate_token(tenant.client_id)
    r = await client.get("/v1/messages", headers=tenant.headers)
    assert r.status_code == 401
    r = await client.get("/v1/messages", headers={"Authorization": f"Bearer {new}"})
    assert r.status_code == 200


async def test_health_and_openapi(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    doc = (await client.get("/openapi.json")).json()
    assert "/v1/messages" in doc["paths"]
    assert "/v1/messages/batch" in doc["paths"]


async def test_body_too_large_is_413(client: Client, tenant: Tenant) -> None:
    big = b'{"messages": [' + b'{"to":"09012345678","text":"x"},' * 800_000 + b"]}"
    r = await client.post(
        "/v1/messages/batch",
        content=big,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413


async def _count(runtime: Runtime, table: sa.Table) -> int:
    async with runtime.db.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())
