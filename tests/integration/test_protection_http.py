"""Protection at the edge, over HTTP on a real database (SQLite, and PostgreSQL when reachable):
IP allowlists (CIDR, IPv6), trusted proxies, the 10-failure block, rate limits per IP and per
account, and that a middleware refusal reaches a router's own exception handlers."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, Request, Response, Router, get

from tests.integration.protection_helpers import client_from, freeze, running, send, tenant_of
from todoke.api.auth import guarded_auth
from todoke.api.errors import EXCEPTION_HANDLERS
from todoke.api.protection import ip_rate_hook
from todoke.errors import IpBlocked, RateLimited, Unauthenticated
from todoke.services.protection import Protection
from todoke.store.protection import ProtectionStore

NUMBER = "090-1234-5678"


async def test_allowlist_with_cidr_and_ipv6(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        await rt.protection.set_allowlist(tenant.client_id, ["192.0.2.0/24", "2001:db8::/32"])
        for ip, expected in [
            ("192.0.2.200", 202),
            ("2001:db8:1::7", 202),
            ("192.0.3.1", 403),
            ("2001:db9::1", 403),
            ("127.0.0.1", 403),
        ]:
            async with client_from(rt, ip) as c:
                r = await send(c, tenant, NUMBER, f"from {ip}")
                assert r.status_code == expected, (ip, r.text)
                if expected == 403:
                    assert r.json()["error"]["code"] == "forbidden"
        # An empty list allows any address again.
        await rt.protection.set_allowlist(tenant.client_id, [])
        async with client_from(rt, "198.51.100.1") as c:
            assert (await send(c, tenant, NUMBER, "any")).status_code == 202


async def test_forwarded_for_is_trusted_only_from_trusted_proxies(database_url: str) -> None:
    async with running(database_url, trusted_proxies=["10.0.0.0/8"]) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        await rt.protection.set_allowlist(tenant.client_id, ["198.51.100.0/24"])
        xff = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
        async with client_from(rt, "10.0.0.1") as c:  # through our proxy
            r = await c.post(
                "/v1/messages",
                json={"to": NUMBER, "text": "via proxy"},
                headers={**tenant.headers, **xff},
            )
            assert r.status_code == 202, r.text
        async with client_from(rt, "203.0.113.5") as c:  # an untrusted peer's header is ignored
            r = await c.post(
                "/v1/messages",
                json={"to": NUMBER, "text": "spoofed"},
                headers={**tenant.headers, "X-Forwarded-For": "198.51.100.7"},
            )
            assert r.status_code == 403


async def test_ten_failures_block_an_address_and_a_success_resets(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        bad = {"Authorization": "Bearer " + "x" * 32}
        async with client_from(rt, "192.0.2.10") as c:

            async def fail(times: int) -> None:
                for _ in range(times):
                    r = await c.get("/v1/messages", headers=bad)
                    assert r.status_code == 401, r.text

            await fail(9)
            assert (await c.get("/v1/messages", headers=tenant.headers)).status_code == 200
            await fail(9)  # the success reset the count: 9 in a row is not yet 10
            assert (await c.get("/v1/messages", headers=tenant.headers)).status_code == 200
            await fail(10)
            r = await c.get("/v1/messages", headers=tenant.headers)  # even with a good token
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "ip_blocked"
            r = await c.get("/v1/messages")  # blocked before credentials are looked at
            assert r.json()["error"]["code"] == "ip_blocked"

        async with client_from(rt, "192.0.2.11") as other:  # other addresses are unaffected
            assert (await other.get("/v1/messages", headers=tenant.headers)).status_code == 200

        # Another process learns of the block from the database.
        peer = Protection(ProtectionStore(rt.db, rt.writer), rt.protection.policy)
        await peer.refresh()
        blocked = [r.ip for r in await peer.addresses() if r.blocked]
        assert blocked == ["192.0.2.10"]

        assert await rt.protection.unblock("192.0.2.10")
        assert not await rt.protection.unblock("192.0.2.10")
        async with client_from(rt, "192.0.2.10") as c:
            assert (await c.get("/v1/messages", headers=tenant.headers)).status_code == 200


async def test_ip_rate_limit_answers_429_with_retry_after(database_url: str) -> None:
    async with running(database_url, ip_rate_limit=5) as rt:
        freeze(rt)
        tenant = await tenant_of(rt, "a", "11111")
        async with client_from(rt, "192.0.2.20") as c:
            answers = await asyncio.gather(
                *[c.get("/v1/messages", headers=tenant.headers) for _ in range(12)]
            )
        codes = [r.status_code for r in answers]
        assert codes.count(200) == 5 and codes.count(429) == 7, codes
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        async with client_from(rt, "192.0.2.21") as other:  # per address
            assert (await other.get("/v1/messages", headers=tenant.headers)).status_code == 200


async def test_account_rate_limit_counts_the_messages_of_a_batch(database_url: str) -> None:
    async with running(database_url) as rt:
        freeze(rt)
        tenant = await tenant_of(rt, "a", "11111")
        await rt.protection.update_limits(tenant.client_id, {"rate_limit": 10})

        def batch(n: int) -> dict[str, Any]:
            return {"messages": [{"to": f"090-1234-{5600 + i}", "text": "x"} for i in range(n)]}

        async with client_from(rt) as c:
            r = await c.post("/v1/messages/batch", json=batch(8), headers=tenant.headers)
            assert r.status_code == 202
            assert (await send(c, tenant, "090-1111-0001", "9th")).status_code == 202
            r = await c.post("/v1/messages/batch", json=batch(2), headers=tenant.headers)
            assert r.status_code == 429 and "Retry-After" in r.headers
            assert (await send(c, tenant, "090-1111-0002", "10th")).status_code == 202
            r = await send(c, tenant, "090-1111-0003", "11th")
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "rate_limited"
            # Unlimited: the account is never refused.
            await rt.protection.update_limits(tenant.client_id, {"rate_limit": 0})
            assert (await send(c, tenant, "090-1111-0004", "more")).status_code == 202


async def test_platform_default_send_rate(database_url: str) -> None:
    async with running(database_url, send_rate_limit=3) as rt:
        freeze(rt)
        tenant = await tenant_of(rt, "a", "11111")
        async with client_from(rt) as c:
            codes = [(await send(c, tenant, f"090-3333-000{i}", "x")).status_code for i in range(5)]
        assert codes == [202, 202, 202, 429, 429]


async def test_quotas_refuse_a_request_whole(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")
        await rt.protection.update_limits(tenant.client_id, {"daily_quota": 3})
        batch = {"messages": [{"to": f"090-2222-000{i}", "text": "q"} for i in range(2)]}
        async with client_from(rt) as c:
            assert (await send(c, tenant, "090-2222-1001", "one")).status_code == 202
            assert (
                await c.post("/v1/messages/batch", json=batch, headers=tenant.headers)
            ).status_code == 202
            r = await c.post("/v1/messages/batch", json=batch, headers=tenant.headers)
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "quota_exceeded"
            listed = await c.get("/v1/messages", headers=tenant.headers)
            assert len(listed.json()["messages"]) == 3  # nothing of the refused batch stored
            r = await send(c, tenant, "090-2222-1002", "four")
            assert r.json()["error"]["code"] == "quota_exceeded"
            # The monthly quota counts too; lifting the daily one lets the request through.
            await rt.protection.update_limits(
                tenant.client_id, {"daily_quota": 0, "monthly_quota": 4}
            )
            assert (await send(c, tenant, "090-2222-1003", "four")).status_code == 202
            assert (await send(c, tenant, "090-2222-1004", "five")).status_code == 429


async def test_rate_limit_refusals_reach_router_level_handlers(database_url: str) -> None:
    """A façade registers its own exception handlers on its router; the per-IP limit (raised
    by the app-level guard) and guarded_auth's errors must come out in the façade's terms."""
    async with running(database_url, ip_rate_limit=2) as rt:
        freeze(rt)

        def facade_error(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            code = {RateLimited: "E503", IpBlocked: "E555", Unauthenticated: "E401"}
            return Response({"facade": code[type(exc)]}, status_code=503)

        @get("/ping")
        async def ping(request: Request[Any, Any, Any]) -> dict[str, str]:
            async def verify() -> Any:
                raise Unauthenticated("no")

            await guarded_auth(request, verify)
            return {}  # pragma: no cover - verify always refuses

        facade = Router(
            path="/compat",
            route_handlers=[ping],
            exception_handlers={
                RateLimited: facade_error,
                IpBlocked: facade_error,
                Unauthenticated: facade_error,
            },
        )
        app = Litestar(
            route_handlers=[facade],
            exception_handlers=EXCEPTION_HANDLERS,
            before_request=ip_rate_hook(rt.protection),
            state={"services": rt.services},
        )
        async with client_from(rt, "192.0.2.30", app=app) as c:
            answers = [(await c.get("/compat/ping")).json() for _ in range(3)]
        assert answers == [{"facade": "E401"}, {"facade": "E401"}, {"facade": "E503"}]


async def test_unexpected_errors_carry_no_stack_trace(database_url: str) -> None:
    async with running(database_url) as rt:
        tenant = await tenant_of(rt, "a", "11111")

        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("secret internals /etc/passwd")

        rt.services.messages.find = broken  # type: ignore[method-assign]
        async with client_from(rt) as c:
            r = await c.get("/v1/messages", headers=tenant.headers)
        assert r.status_code == 500
        assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
        assert "Traceback" not in r.text and "secret" not in r.text


async def test_shared_rate_limit_holds_across_processes(database_url: str) -> None:
    async with running(database_url, shared_rate_limits=False) as rt:
        store = ProtectionStore(rt.db, rt.writer)
        policy = rt.protection.policy
        one, two = Protection(store, policy), Protection(store, policy)
        for p in (one, two):
            p.limiter.clock = lambda: 1_900_000_000.0
        assert [one.limiter.take("ip:x", 5, 5) for _ in range(5)] == [None] * 5
        await one.limiter.sync(store.rate_sync)
        assert two.limiter.take("ip:x", 5, 5) is None  # not synced yet: its own view
        await two.limiter.sync(store.rate_sync)
        assert two.limiter.take("ip:x", 5, 5) is not None  # now it knows of the other's five
        await one.limiter.sync(store.rate_sync)
        assert one.limiter.take("ip:x", 5, 5) is not None  # both used: the budget is spent
        await store.rate_cleanup(before=2_000_000_000.0)
        assert await store.rate_sync({"ip:y": 0.5}, 1_900_000_000.0) == {"ip:y": 1_900_000_000.5}


async def test_failures_on_unknown_paths_are_not_counted(database_url: str) -> None:
    async with running(database_url) as rt:
        async with client_from(rt, "192.0.2.40") as c:
            for _ in range(12):
                r = await c.get("/nothing-here", headers={"Authorization": "Bearer nope"})
                assert r.status_code == 404
        assert await rt.protection.addresses() == []
