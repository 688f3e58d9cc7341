"""The guards of the send path on a real database: flooding filter (per hour window),
blocklists (``/v1/blocklist`` CRUD and CSV import, the platform list), opt-out by reply, and
duplicate detection. A refused message is stored as a final REJECTED message with the seed's
status and error, and is never queued for a carrier."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.protection_helpers import client_from, running, send, status_of, tenant_of
from todoke.app import Runtime
from todoke.domain.protection import HOUR_MS, PLATFORM
from todoke.services.blocklist import OptOut
from todoke.store.tables import messages

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

NUMBER = "090-1234-5678"
E164 = "+819012345678"


async def queued(rt: Runtime, message_id: str) -> bool:
    """Whether the dispatcher would ever look at the message."""
    async with rt.db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(messages.c.due_at, messages.c.done_at).where(messages.c.id == message_id)
            )
        ).one()
    return row.due_at is not None


async def test_flooding_filter_counts_per_number_and_hour(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        other = await tenant_of(rt, "b", "22222")
        async with client_from(rt) as c:
            for _ in range(6):
                assert status_of(await send(c, tenant, NUMBER, "same"))[0] == "PENDING_ACCEPTED"
            r = await send(c, tenant, NUMBER, "same")
            assert status_of(r) == ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_TXT_FLOODING")
            assert r.json()["status"]["groupName"] == "REJECTED"
            assert not await queued(rt, r.json()["id"])
            events = await c.get(f"/v1/messages/{r.json()['id']}/events", headers=tenant.headers)
            assert [e["status"]["name"] for e in events.json()["events"]] == [
                "REJECTED_FLOODING_FILTER"
            ]
            # 6 sent so far (the refused one does not count): 14 more different texts pass.
            for i in range(14):
                assert status_of(await send(c, tenant, NUMBER, f"text {i}"))[0] == (
                    "PENDING_ACCEPTED"
                )
            r = await send(c, tenant, NUMBER, "the 21st")
            assert status_of(r) == ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_FLOODING")
            # Per account and per number: others are unaffected.
            assert status_of(await send(c, other, NUMBER, "same"))[0] == "PENDING_ACCEPTED"
            assert status_of(await send(c, tenant, "090-1234-0000", "x"))[0] == ("PENDING_ACCEPTED")
            # An hour later the window is empty again.
            async with rt.db.engine.begin() as conn:
                await conn.execute(
                    messages.update().values(created_at=messages.c.created_at - HOUR_MS - 1)
                )
            assert status_of(await send(c, tenant, NUMBER, "same"))[0] == "PENDING_ACCEPTED"


async def test_flooding_counts_inside_one_batch_and_per_account_settings(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        batch = {"messages": [{"to": NUMBER, "text": f"b{i}"} for i in range(25)]}
        async with client_from(rt) as c:
            r = await c.post("/v1/messages/batch", json=batch, headers=tenant.headers)
            assert r.status_code == 202
            names = [item["status"]["name"] for item in r.json()["results"]]
            assert names == ["PENDING_ACCEPTED"] * 20 + ["REJECTED_FLOODING_FILTER"] * 5
            assert r.json()["accepted"] == 25  # stored: the refusal is the message's status

            await rt.protection.update_limits(
                tenant.client_id, {"flood_max_messages": 0, "flood_max_identical": 2}
            )
            assert status_of(await send(c, tenant, NUMBER, "more"))[0] == "PENDING_ACCEPTED"
            assert status_of(await send(c, tenant, NUMBER, "more"))[0] == "PENDING_ACCEPTED"
            assert status_of(await send(c, tenant, NUMBER, "more"))[1] == (
                "EC_DESTINATION_TXT_FLOODING"
            )


async def test_blocklist_crud_import_and_send(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        other = await tenant_of(rt, "b", "22222")
        h = tenant.headers
        async with client_from(rt) as c:
            r = await c.post("/v1/blocklist", json={"number": NUMBER, "note": "asked"}, headers=h)
            assert r.status_code == 201, r.text
            assert r.json() == {
                "number": E164,
                "reason": "manual",
                "createdAt": r.json()["createdAt"],
                "note": "asked",
            }
            r = await c.post("/v1/blocklist", json={"number": "+81 90 1234 5678"}, headers=h)
            assert r.status_code == 200  # already listed: unchanged
            assert r.json()["note"] == "asked"
            assert (await c.get(f"/v1/blocklist/{NUMBER}", headers=h)).status_code == 200

            r = await send(c, tenant, NUMBER, "hello")
            assert status_of(r) == (
                "REJECTED_DESTINATION_BLOCKLISTED",
                "EC_BLACKLISTED_DESTINATIONADDRESS",
            )
            assert r.json()["error"]["permanent"] is True
            assert not await queued(rt, r.json()["id"])

            # Another account's list is its own.
            assert (await c.get(f"/v1/blocklist/{NUMBER}", headers=other.headers)).status_code == (
                404
            )
            assert status_of(await send(c, other, NUMBER, "hello"))[0] == "PENDING_ACCEPTED"

            assert (await c.delete(f"/v1/blocklist/{NUMBER}", headers=h)).status_code == 204
            assert (await c.delete(f"/v1/blocklist/{NUMBER}", headers=h)).status_code == 404
            assert status_of(await send(c, tenant, NUMBER, "again"))[0] == "PENDING_ACCEPTED"

            r = await c.post("/v1/blocklist", json={"number": "03-1234-5678"}, headers=h)
            assert r.status_code == 400
            assert r.json()["error"]["code"] == "invalid_phone_number"

            csv = "電話番号,メモ\n090-1111-0001,解約\n+818011110002\nnot a number\n\n09011110001\n"
            r = await c.post(
                "/v1/blocklist/import",
                content=csv.encode("cp932"),
                headers={**h, "Content-Type": "text/csv"},
            )
            assert r.status_code == 200, r.text
            report = r.json()
            assert (report["added"], report["alreadyListed"], report["invalid"]) == (2, 1, 1)
            assert report["errors"][0]["line"] == 4
            r = await c.get("/v1/blocklist", headers=h, params={"limit": 1})
            page = r.json()
            assert [e["number"] for e in page["entries"]] == ["+818011110002"]
            r = await c.get("/v1/blocklist", headers=h, params={"cursor": page["nextCursor"]})
            assert [(e["number"], e.get("note")) for e in r.json()["entries"]] == [
                ("+819011110001", "解約")
            ]
            r = await c.post(
                "/v1/blocklist/import",
                content=b"090-1111-0003\n\x81\x20\n",
                headers={**h, "Content-Type": "text/csv"},
            )
            assert r.status_code == 400


async def test_platform_list_is_the_operators_dnd(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        assert rt.services.blocklist is not None
        await rt.services.blocklist.add(PLATFORM, NUMBER, reason="dnd")
        async with client_from(rt) as c:
            r = await send(c, tenant, NUMBER, "hi")
            assert status_of(r) == ("REJECTED_DND", "EC_DEST_ADDRESS_BLACKLISTED")
            # Not visible (nor removable) through an account's API.
            assert (await c.get(f"/v1/blocklist/{NUMBER}", headers=tenant.headers)).status_code == (
                404
            )


async def test_opt_out_by_reply(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        other = await tenant_of(rt, "b", "22222")
        service = rt.services.blocklist
        assert service is not None
        events: list[OptOut] = []

        async def emit(event: OptOut) -> None:
            events.append(event)

        assert not await service.opt_out_reply(
            tenant.client_id, NUMBER, "ありがとう", on_opt_out=emit
        )
        assert not await service.opt_out_reply(
            tenant.client_id, NUMBER, "配信停止の方法は?", on_opt_out=emit
        )
        assert not await service.opt_out_reply(tenant.client_id, "not-a-number", "STOP")
        assert events == []

        assert await service.opt_out_reply(tenant.client_id, NUMBER, " 配信停止。", on_opt_out=emit)
        assert events == [OptOut(tenant.client_id, E164, "配信停止", added=True)]
        assert await service.opt_out_reply(tenant.client_id, NUMBER, "ＳＴＯＰ", on_opt_out=emit)
        assert events[-1].added is False  # already listed

        entry = await service.get(tenant.client_id, NUMBER)
        assert entry.reason == "keyword"
        async with client_from(rt) as c:
            r = await send(c, tenant, NUMBER, "sale!")
            assert status_of(r) == ("REJECTED_DESTINATION_BLOCKLISTED", "EC_CONTENT_BLOCKED")
            assert status_of(await send(c, other, NUMBER, "sale!"))[0] == "PENDING_ACCEPTED"


async def test_duplicate_detection_window(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        async with client_from(rt) as c:
            # Off by default.
            assert status_of(await send(c, tenant, NUMBER, "code 1234"))[0] == "PENDING_ACCEPTED"
            assert status_of(await send(c, tenant, NUMBER, "code 1234"))[0] == "PENDING_ACCEPTED"
            await rt.protection.update_limits(tenant.client_id, {"duplicate_window_seconds": 7200})
            r = await send(c, tenant, NUMBER, "code 1234")
            assert status_of(r) == ("REJECTED_FLOODING_FILTER", "EC_DUPLICATE_MESSAGE")
            assert status_of(await send(c, tenant, NUMBER, "code 5678"))[0] == "PENDING_ACCEPTED"
            # Outside the window (two hours and a bit ago) it is a new message again.
            async with rt.db.engine.begin() as conn:
                await conn.execute(
                    messages.update().values(created_at=messages.c.created_at - 7_201_000)
                )
            assert status_of(await send(c, tenant, NUMBER, "code 1234"))[0] == "PENDING_ACCEPTED"


async def test_the_settings_set_the_platform_defaults(database_url: str) -> None:
    overrides: dict[str, Any] = {
        "flood_max_messages": 0,
        "flood_max_identical": 0,
        "duplicate_window_seconds": 60,
    }
    async with running(database_url, **overrides) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        async with client_from(rt) as c:
            assert status_of(await send(c, tenant, NUMBER, "x"))[0] == "PENDING_ACCEPTED"
            assert status_of(await send(c, tenant, NUMBER, "x"))[1] == "EC_DUPLICATE_MESSAGE"
            for i in range(30):
                assert status_of(await send(c, tenant, NUMBER, f"y{i}"))[0] == "PENDING_ACCEPTED"
