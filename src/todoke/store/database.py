"""Engines, connection set-up and migrations for SQLite and PostgreSQL.

One :class:`Database` per process. Reads take pooled connections; writes go through the
:class:`~todoke.store.writer.GroupCommitter`, which owns one connection of its own so that many
concurrent requests share one transaction and one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from todoke.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# After a failed read for want of a database, reads are refused at once for this long.
_DOWN_GRACE_SECONDS = 1.0


def async_url(url: str) -> str:
    """The SQLAlchemy URL with the async driver todoke uses for this database."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {backend}")


def redacted(url: str) -> str:
    """The URL without its password, for logs and start-up banners."""
    return make_url(url).render_as_string(hide_password=True)


def is_connection_error(exc: BaseException) -> bool:
    """Whether a database exception means the database is unreachable (retry later)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.InterfaceError | OSError | ConnectionError | asyncio.TimeoutError):
        return True
    if isinstance(exc, sa.exc.OperationalError):
        text = str(exc.orig).lower()
        # SQLite "database is locked" is contention, not an outage; PostgreSQL operational
        # errors at this level are connection failures (server restart, admin shutdown).
        return "locked" not in text
    if isinstance(exc, sa.exc.DBAPIError):
        # PostgreSQL SQLSTATE classes 08 (connection exception) and 57 (operator
        # intervention: "the database system is starting up / shutting down", admin
        # shutdown), which asyncpg's adaptor raises as plain DBAPIError.
        code = getattr(exc.orig, "sqlstate", None)
        return isinstance(code, str) and code[:2] in ("08", "57")
    return False


class Database:
    """The engine of one process, with dialect facts the store needs."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 8,
        sqlite_synchronous: str = "FULL",
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._down_until = 0.0
        self.dialect = make_url(url).get_backend_name()
        if self.dialect == "postgres":
            self.dialect = "postgresql"
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            self._prepare_sqlite_path(url)
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["pool_pre_ping"] = True
            kwargs["pool_timeout"] = connect_timeout
            kwargs["connect_args"] = {"timeout": connect_timeout, "command_timeout": 30}
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if self.dialect == "sqlite":
            self._install_sqlite_pragmas(sqlite_synchronous)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @staticmethod
    def _prepare_sqlite_path(url: str) -> None:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def _install_sqlite_pragmas(self, synchronous: str) -> None:
        @event.listens_for(self.engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer and the writer never blocks readers.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A pooled connection for reads (``async with db.connect() as conn``).

        When the database is unreachable (at connect time or during the reads) this raises
        :class:`ServiceUnavailable`, which every edge answers as "try again" (HTTP 503); for a
        second after such a failure it does so at once, without waiting on a connection, so
        that callers get a fast answer while the database is down.
        """
        if time.monotonic() < self._down_until:
            raise ServiceUnavailable("database unreachable")
        try:
            async with self.engine.connect() as conn:
                yield conn
        except sa.exc.TimeoutError as exc:
            # Every pooled connection is busy (a burst larger than the pool): "try again",
            # not an internal error; the database itself is fine, so no grace period.
            raise ServiceUnavailable("database busy: try again") from exc
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            self._down_until = time.monotonic() + _DOWN_GRACE_SECONDS
            raise ServiceUnavailable("database unreachable") from exc

    async def ping(self) -> None:
        """Raise :class:`ServiceUnavailable` unless the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable("database unreachable") from exc

    async def migrate(self) -> None:
        """Apply every Alembic migration (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade_head)
        log.info("db.migrated", database=redacted(self.url))

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    """The Alembic configuration, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade_head(sync_connection: sa.Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_connection
    command.upgrade(cfg, "head")
