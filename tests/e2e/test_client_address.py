"""The client address of the real server: ``X-Forwarded-For`` counts only from the proxies
of ``TODOKE_TRUSTED_PROXIES`` (docs/protection.md), never from any other peer, loopback
included (uvicorn's own proxy-header handling, which trusts loopback, is off)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess


async def _statuses(server: ServerProcess, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {server.banner_token()}"}
    async with httpx.AsyncClient(base_url=server.base, headers=headers) as c:
        return [
            (
                await c.get("/v1/messages", headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
            ).status_code
            for n in range(count)
        ]


async def test_a_loopback_client_cannot_choose_its_address(tmp_path: Path) -> None:
    limits = {"TODOKE_IP_RATE_LIMIT": "2", "TODOKE_IP_RATE_BURST": "3"}
    url = f"sqlite:///{tmp_path / 'untrusted.db'}"
    server = await asyncio.to_thread(ServerProcess, url, tmp_path, **limits)
    try:
        statuses = await _statuses(server, 12)
    finally:
        server.stop()
    # Twelve addresses claimed, one counted: the peer's (whose burst of three the readiness
    # probe has begun), limited after its burst.
    assert statuses[0] == 200
    assert statuses.count(429) >= 6, statuses

    url = f"sqlite:///{tmp_path / 'trusted.db'}"
    trusting = await asyncio.to_thread(
        ServerProcess, url, tmp_path, TODOKE_TRUSTED_PROXIES="127.0.0.1", **limits
    )
    try:
        statuses = await _statuses(trusting, 12)
    finally:
        trusting.stop()
    # From a trusted proxy, each forwarded address has a limit of its own.
    assert statuses == [200] * 12
