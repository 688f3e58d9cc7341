"""An unreachable database: reads answer ServiceUnavailable (503) fast, never a raw error;
token lookups are shared by concurrent requests."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from tests.e2e.server import free_port
from todoke.errors import ServiceUnavailable
from todoke.services.accounts import AccountService
from todoke.store.accounts import AccountStore
from todoke.store.database import Database, is_connection_error

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)


async def test_reads_fail_fast_with_service_unavailable() -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", connect_timeout=2)
    try:
        with pytest.raises(ServiceUnavailable):
            async with db.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        started = time.monotonic()
        for _ in range(100):  # within the grace second: refused at once, no connect attempt
            with pytest.raises(ServiceUnavailable):
                async with db.connect():
                    pass
        assert time.monotonic() - started < 5  # generous: a bound, not a timing figure
    finally:
        await db.dispose()


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("x")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "down"),
    [("57P03", True), ("57P01", True), ("08006", True), ("23505", False), ("42P01", False)],
)
def test_postgres_operator_intervention_is_an_outage(sqlstate: str, down: bool) -> None:
    exc = sa.exc.DBAPIError("SELECT 1", None, _Orig(sqlstate))
    assert is_connection_error(exc) is down


class _CountingStore(AccountStore):
    lookups = 0

    async def by_token_hash(self, digest: str):  # type: ignore[no-untyped-def]
        type(self).lookups += 1
        await asyncio.sleep(0.01)
        return await super().by_token_hash(digest)


async def test_concurrent_requests_share_one_token_lookup(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    await db.migrate()
    try:
        store = _CountingStore(db)
        issued = await AccountService(store).create("one")
        service = AccountService(store, cache_seconds=60)
        accounts = await asyncio.gather(*(service.authenticate(issued.token) for _ in range(50)))
        assert {a.id for a in accounts} == {issued.account.id}
        assert _CountingStore.lookups == 1
    finally:
        await db.dispose()
