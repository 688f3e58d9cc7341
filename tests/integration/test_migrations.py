"""Running the migrations gives exactly the schema of the table definitions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from todoke.store.database import Database
from todoke.store.tables import metadata

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)


def _diff(sync_conn: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_equal_table_definitions(blank_database_url: str) -> None:
    db = Database(blank_database_url)
    try:
        await db.migrate()
        await db.migrate()  # idempotent
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        assert diff == []
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert set(metadata.tables) <= tables
    finally:
        await db.dispose()
