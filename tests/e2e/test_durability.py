"""A 2xx means committed: SIGKILL the server mid-load, every answered message is stored."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import reset_postgres
from tests.e2e.server import ServerProcess
from todoke.store.database import Database
from todoke.store.tables import messages


async def _load(base: str, token: str, accepted: list[str], stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=10) as c:

        async def worker(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = await c.post(
                        "/v1/messages", json={"to": "09012345678", "text": f"durable {n}-{i}"}
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 202:
                    accepted.append(r.json()["id"])

        await asyncio.gather(*[worker(n) for n in range(48)])


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_sigkill_after_2xx_loses_nothing(backend: str, tmp_path: Path) -> None:
    from tests.conftest import PG_URL

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'todoke.db'}"
    else:
        await asyncio.to_thread(reset_postgres, PG_URL)
        url = PG_URL
    server = await asyncio.to_thread(ServerProcess, url, tmp_path)
    accepted: list[str] = []
    stop = asyncio.Event()
    try:
        token = server.banner_token()
        load = asyncio.create_task(_load(server.base, token, accepted, stop))
        while len(accepted) < 400:
            await asyncio.sleep(0.01)
            assert not load.done(), server.output()
        server.kill()  # mid-load: requests are in flight and a group commit may be open
        stop.set()
        await load
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            server.stop()

    db = Database(url)
    try:
        async with db.connect() as conn:
            stored = set((await conn.execute(sa.select(messages.c.id))).scalars())
    finally:
        await db.dispose()
    missing = [mid for mid in accepted if mid not in stored]
    assert accepted and not missing, f"{len(missing)} of {len(accepted)} answered messages lost"

    # And the restarted server serves them.
    restarted = await asyncio.to_thread(ServerProcess, url, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=restarted.base) as c:
            r = await c.get(
                f"/v1/messages/{accepted[-1]}", headers={"Authorization": f"Bearer {token}"}
            )
        assert r.status_code == 200
    finally:
        restarted.stop()
