"""The MediaSMS paths under the shared protection layer, end to end through the ASGI app.

seeds/003: 10 consecutive failed logins (401) from an address block it (555) until an
operator lifts the block, and a success resets the count; above 80 requests/s from one
address the answer is 503. The limiter's clock is frozen, so a burst's counts never depend on
timing.
"""

from __future__ import annotations

import asyncio

from tests.integration.protection_helpers import client_from, freeze, running, tenant_of
from todoke.app import Runtime

NUMBER = "09012345678"


async def _login(rt: Runtime, client_id: int) -> tuple[str, str]:
    assert rt.services.mediasms is not None
    issued = await rt.services.mediasms.issue_login(client_id)
    return issued.username, issued.password


async def test_ten_failed_logins_block_with_555_and_a_success_resets(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "m", "51515")
        user, password = await _login(rt, tenant.client_id)
        ok = {"mobilenumber": NUMBER, "smstext": "テスト"}
        async with client_from(rt, "192.0.2.50") as c:
            for _ in range(9):
                r = await c.post("/api/", data=ok, auth=(user, "wrong-password"))
                assert r.text.strip() == "401"
            # A success resets the count: nine more failures still do not block.
            r = await c.post("/api/", data=ok, auth=(user, password))
            assert r.text.strip() == "200", r.text
            for _ in range(9):
                r = await c.post("/api/", data=ok, auth=(user, "wrong-password"))
                assert r.text.strip() == "401"
            r = await c.post("/api/", data=ok, auth=(user, "wrong-password"))  # the 10th
            assert r.text.strip() == "401"
            # Blocked: even the right password is refused, before it is checked.
            r = await c.post("/api/", data=ok, auth=(user, password))
            assert r.text.strip() == "555"
        async with client_from(rt, "192.0.2.51") as other:  # per address
            r = await other.post("/api/", data=ok, auth=(user, password))
            assert r.text.strip() == "200"
        assert await rt.protection.unblock("192.0.2.50")
        async with client_from(rt, "192.0.2.50") as c:
            r = await c.post("/api/", data=ok, auth=(user, password))
            assert r.text.strip() == "200"


async def test_a_burst_over_80_requests_per_second_gets_503(database_url: str) -> None:
    async with running(database_url, ip_rate_limit=80) as rt:
        freeze(rt)
        tenant = await tenant_of(rt, "m", "52525")
        user, password = await _login(rt, tenant.client_id)
        async with client_from(rt, "192.0.2.60") as c:
            answers = await asyncio.gather(
                *[
                    c.post(
                        "/api/",
                        data={"mobilenumber": f"090{i:04d}5678", "smstext": f"burst {i}"},
                        auth=(user, password),
                    )
                    for i in range(100)
                ]
            )
        codes = [r.text.strip() for r in answers]
        # The limit holds exactly: 80 accepted in the burst (the clock is frozen), 20 refused.
        assert set(codes) == {"200", "503"}, sorted(set(codes))
        assert codes.count("200") == 80 and codes.count("503") == 20
