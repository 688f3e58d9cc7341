"""Group commit on a real database: many jobs per transaction, failures isolated."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.errors import ServiceUnavailable
from todoke.store.database import Database
from todoke.store.writer import GroupCommitter

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

probe = sa.Table("probe", sa.MetaData(), sa.Column("v", sa.Integer, primary_key=True))


async def insert_values(conn: AsyncConnection, values: Sequence[int]) -> list[Any]:
    await conn.execute(probe.insert(), [{"v": v} for v in values])
    return list(values)


async def _setup(url: str) -> Database:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(probe.metadata.drop_all)
        await conn.run_sync(probe.metadata.create_all)
    return db


async def _stored(db: Database) -> list[int]:
    async with db.connect() as conn:
        return [r.v for r in await conn.execute(sa.select(probe.c.v).order_by(probe.c.v))]


async def test_concurrent_jobs_share_transactions(database_url: str) -> None:
    db = await _setup(database_url)
    writer = GroupCommitter(db, max_batch=500)
    writer.start()
    try:
        results = await asyncio.gather(*[writer.submit(insert_values, i) for i in range(1000)])
        assert results == list(range(1000))
        assert writer.stats.commits < 1000  # grouped
        assert writer.stats.largest_batch > 1
        assert await _stored(db) == list(range(1000))
    finally:
        await writer.stop()
        await db.dispose()


async def test_a_failing_job_does_not_fail_its_neighbours(database_url: str) -> None:
    db = await _setup(database_url)
    writer = GroupCommitter(db)
    writer.start()
    try:
        await writer.submit(insert_values, 5)
        outcomes = await asyncio.gather(
            *[writer.submit(insert_values, v) for v in (1, 5, 7)], return_exceptions=True
        )
        assert outcomes[0] == 1 and outcomes[2] == 7
        assert isinstance(outcomes[1], sa.exc.IntegrityError)
        assert await _stored(db) == [1, 5, 7]
    finally:
        await writer.stop()
        await db.dispose()


async def test_unreachable_database_fails_fast_with_service_unavailable() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none", connect_timeout=1)
    writer = GroupCommitter(db)
    writer.start()
    try:
        with pytest.raises(ServiceUnavailable):
            await writer.submit(insert_values, 1)
        with pytest.raises(ServiceUnavailable):  # refused at once during the grace period
            await writer.submit(insert_values, 2)
    finally:
        await writer.stop()
        await db.dispose()


async def test_stop_commits_what_is_queued(database_url: str) -> None:
    db = await _setup(database_url)
    writer = GroupCommitter(db)
    writer.start()
    pending = [asyncio.ensure_future(writer.submit(insert_values, i)) for i in range(50)]
    await asyncio.sleep(0)
    await writer.stop()
    assert [await p for p in pending] == list(range(50))
    assert await _stored(db) == list(range(50))
    await db.dispose()
