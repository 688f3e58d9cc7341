"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable), apps, accounts.

PostgreSQL tests run when ``TODOKE_TEST_POSTGRES_URL`` points at a reachable server; CI sets
``TODOKE_TEST_REQUIRE_POSTGRES=1`` so that an unreachable server fails the run instead of
skipping those tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from todoke.app import Runtime, create_app
from todoke.config import Settings

PG_URL = os.environ.get("TODOKE_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("TODOKE_TEST_REQUIRE_POSTGRES") == "1"
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_database(url: str, worker: str) -> str:
    """Under pytest-xdist each worker empties and fills a database of its own (``test_gw0``
    for ``…/test``), created next to the given one on first use."""
    import asyncpg

    base, _, name = url.rpartition("/")
    own = f"{name}_{worker}"

    async def create() -> None:
        conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"), timeout=3)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", own)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{own}"')
        except asyncpg.DuplicateDatabaseError:  # another run created it meanwhile
            pass
        finally:
            await conn.close()

    try:
        asyncio.run(create())
    except (OSError, asyncpg.PostgresError):
        return url  # unreachable: the probe below reports it
    return f"{base}/{own}"


if PG_URL and XDIST_WORKER:
    PG_URL = _worker_database(PG_URL, XDIST_WORKER)


def _pg_reachable() -> bool:
    if not PG_URL:
        return False
    try:
        import asyncpg
    except ImportError:  # pragma: no cover
        return False

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(PG_URL.replace("postgresql://", "postgres://"), timeout=3)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


PG_AVAILABLE = _pg_reachable()
if REQUIRE_PG and not PG_AVAILABLE:
    raise RuntimeError(f"TODOKE_TEST_REQUIRE_POSTGRES=1 but {PG_URL!r} is not reachable")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# Which tests run on PostgreSQL as well: the storage tests (modules marked ``storage``) and
# every end-to-end test. The rest (façade request/response rules, CLI, codecs) exercise the
# same queries through the same store, so SQLite alone covers them; TODOKE_TEST_POSTGRES_ALL=1
# runs every database test on both.
PG_ALL = os.environ.get("TODOKE_TEST_POSTGRES_ALL") == "1"
E2E_DIR = Path(__file__).parent / "e2e"


def _runs_on_postgres(item: pytest.Item) -> bool:
    return PG_ALL or "storage" in item.keywords or E2E_DIR in Path(item.path).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        on_pg = "postgresql" in (params.get("database_url"), params.get("blank_database_url"))
        (deselected if on_pg and not _runs_on_postgres(item) else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    if PG_AVAILABLE:
        return
    skip = pytest.mark.skip(reason="PostgreSQL not reachable (set TODOKE_TEST_POSTGRES_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def reset_postgres(url: str) -> None:
    """Empty the test database: drop and recreate the public schema."""
    import asyncpg

    async def reset() -> None:
        conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
        try:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()

    asyncio.run(reset())


def empty_postgres(url: str) -> None:
    """Empty every table of a migrated test database (much faster than migrating again); a
    database that is not at the newest migration gets a blank schema, migrated."""
    import asyncpg

    from todoke.store.tables import metadata

    async def empty() -> bool:
        conn = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
        try:
            version = None
            if await conn.fetchval("SELECT to_regclass('public.alembic_version')") is not None:
                version = await conn.fetchval("SELECT version_num FROM alembic_version")
            if version != _head_revision():
                await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
                return False
            names = ", ".join(f'"{t}"' for t in metadata.tables)
            await conn.execute("SET lock_timeout = '20s'")
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return True
        finally:
            await conn.close()

    if not asyncio.run(empty()):
        _migrate(url)


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from todoke.store.database import alembic_config

    global _HEAD
    if _HEAD is None:
        _HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
    return _HEAD


_HEAD: str | None = None


def _migrate(url: str) -> None:
    from todoke.store.database import Database

    async def migrate() -> None:
        db = Database(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(migrate())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per test process and copied for each test."""
    path = tmp_path_factory.mktemp("template") / "todoke.db"
    _migrate(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as conn:  # everything in the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A database of each backend, migrated, with no rows."""
    if request.param == "sqlite":
        path = tmp_path / "todoke.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    empty_postgres(PG_URL)
    return PG_URL


@pytest.fixture(params=BACKENDS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each backend without a schema (for the migration tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'todoke.db'}"
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'todoke.db'}"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "demo_account": False,
        "sqlite_synchronous": "NORMAL",
        "token_cache_seconds": 0.0,
        # Tests poll and burst from one address and one account: the per-IP and per-account
        # rate limits are off unless a test sets them (tests/integration/test_protection_*).
        "ip_rate_limit": 0,
        "send_rate_limit": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime(settings)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client bound to the app in the test's own event loop (the runtime's loop)."""
    app = create_app(settings, runtime)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Tenant:
    """An account with its token, as a test sees it."""

    def __init__(self, client_id: int, sms_code: str, token: str) -> None:
        self.client_id = client_id
        self.sms_code = sms_code
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def tenant(runtime: Runtime) -> Tenant:
    issued = await runtime.services.accounts.create("tenant-a", sms_code="11111")
    return Tenant(issued.account.id, "11111", issued.token)


@pytest.fixture
async def other_tenant(runtime: Runtime) -> Tenant:
    issued = await runtime.services.accounts.create("tenant-b", sms_code="22222")
    return Tenant(issued.account.id, "22222", issued.token)


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never pick up a developer's TODOKE_* settings or .env by accident."""
    for key in list(os.environ):
        if key.startswith("TODOKE_") and not key.startswith("TODOKE_TEST_"):
            monkeypatch.delenv(key)
    yield


@pytest.fixture(autouse=True)
def _isolate_logging() -> Iterator[None]:
    """A command run in-process configures logging for its (captured, then closed) streams;
    restore the root handlers and structlog afterwards so later tests never log to them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
