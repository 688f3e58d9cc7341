"""Refused messages never reach a carrier: with the delivery engine and the simulator running,
a blocklisted or flooding message stays REJECTED with no attempt, while the same number is
delivered for another account."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from tests.conftest import make_settings
from tests.integration.protection_helpers import client_from, send, status_of, tenant_of
from todoke.app import Runtime
from todoke.store.tables import attempts

DELIVER = "090-1234-9900"  # the simulator always delivers to this suffix


async def test_refused_messages_never_reach_the_carrier(database_url: str) -> None:
    settings = make_settings(
        database_url,
        simulator_time_factor=0.001,
        flood_max_identical=1,
    )
    rt = Runtime(settings)
    await rt.start(delivery=True)
    try:
        blocked_for = await tenant_of(rt, "a", "11111")
        sender = await tenant_of(rt, "b", "22222")
        assert rt.services.blocklist is not None
        await rt.services.blocklist.add(blocked_for.client_id, DELIVER)
        async with client_from(rt) as c:
            listed = await send(c, blocked_for, DELIVER, "to a listed number")
            first = await send(c, sender, DELIVER, "once")
            flooding = await send(c, sender, DELIVER, "once")
            assert status_of(listed)[0] == "REJECTED_DESTINATION_BLOCKLISTED"
            assert status_of(flooding)[1] == "EC_DESTINATION_TXT_FLOODING"

            deadline = time.monotonic() + 30
            while True:
                got = await c.get(f"/v1/messages/{first.json()['id']}", headers=sender.headers)
                if got.json()["status"]["groupName"] != "PENDING" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert got.json()["status"]["name"] == "DELIVERED_TO_HANDSET", got.text

        refused = [listed.json()["id"], flooding.json()["id"]]
        async with rt.db.connect() as conn:
            tried = (
                await conn.execute(
                    sa.select(attempts.c.message_id).where(attempts.c.message_id.in_(refused))
                )
            ).all()
        assert tried == []
    finally:
        await rt.stop()
