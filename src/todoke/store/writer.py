"""Group commit: many concurrent write jobs, one transaction, each answered after the commit.

A Python service cannot afford one fsync per accepted message (SQLite manages ~800 commits/s on
the development machine). Instead, every write in a process is a *job* handed to one
:class:`GroupCommitter`. Its loop takes everything queued (up to ``max_batch`` jobs), runs the
jobs' handlers inside one transaction, commits, and only then resolves each job's future: an
HTTP 2xx is sent after the data is durable, never before.

Jobs of the same handler are passed to it together, so a handler can use one ``executemany`` for
a whole group. A handler returns one result per payload; a result that is an exception instance
is a per-job refusal (a duplicate clientTag, say) and the handler must not have written anything
for that payload. If a handler raises, the transaction is rolled back and each job is retried in
a transaction of its own, so one bad job never fails its neighbours. If the database is
unreachable, every job in the batch fails with :class:`~todoke.errors.ServiceUnavailable`:
nothing was written and the caller may retry.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.errors import ServiceUnavailable
from todoke.store.database import Database, is_connection_error

log = structlog.get_logger(__name__)

P = TypeVar("P")
R = TypeVar("R")

Handler = Callable[[AsyncConnection, Sequence[Any]], Awaitable[Sequence[Any]]]

# After a failed connection attempt, jobs are refused at once for this long instead of each
# waiting for its own connect timeout: while the database is down, callers get a fast 503.
_DOWN_GRACE_SECONDS = 1.0


@dataclass(slots=True)
class _Job(Generic[P]):
    handler: Handler
    payload: P
    future: asyncio.Future[Any]


@dataclass(slots=True)
class CommitStats:
    """Counters for metrics and benchmarks."""

    commits: int = 0
    jobs: int = 0
    isolated_retries: int = 0
    failures: int = 0
    largest_batch: int = 0


class GroupCommitter:
    """Serialises every write of a process into grouped transactions on one connection."""

    def __init__(self, db: Database, *, max_batch: int = 2000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: collections.deque[_Job[Any]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._down_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = CommitStats()

    # --- public API ---------------------------------------------------------------------

    async def submit(self, handler: Handler, payload: Any) -> Any:
        """Run ``handler`` for ``payload`` in the next group transaction; return after commit."""
        if self._closing:
            raise ServiceUnavailable("shutting down")
        if time.monotonic() < self._down_until:
            raise ServiceUnavailable("database unreachable")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(handler, payload, future))
        self._wakeup.set()
        # shield: a client that disconnects must not cancel a write that others share.
        return await asyncio.shield(future)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        """Finish every queued job, then close the connection."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    # --- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            jobs = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
            try:
                await self._commit(jobs)
            except Exception:  # pragma: no cover - _commit resolves every future itself
                log.exception("writer.loop_error")

    async def _connection(self) -> AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            try:
                self._conn = await self._db.engine.connect()
            except Exception as exc:
                self._conn = None
                self._down_until = time.monotonic() + _DOWN_GRACE_SECONDS
                raise ServiceUnavailable("database unreachable") from exc
        return self._conn

    async def _commit(self, jobs: list[_Job[Any]]) -> None:
        try:
            conn = await self._connection()
        except ServiceUnavailable as exc:
            self._fail(jobs, exc)
            return
        groups: dict[Handler, list[_Job[Any]]] = {}
        for job in jobs:
            groups.setdefault(job.handler, []).append(job)
        outcome: list[tuple[_Job[Any], Any]] = []
        try:
            async with conn.begin():
                for handler, group in groups.items():
                    results = await handler(conn, [job.payload for job in group])
                    if len(results) != len(group):
                        raise RuntimeError(f"{handler!r} returned {len(results)} results")
                    outcome.extend(zip(group, results, strict=True))
        except Exception as exc:
            await self._after_failure(conn, jobs, exc)
            return
        self.stats.commits += 1
        self.stats.jobs += len(jobs)
        self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
        for job, result in outcome:
            if job.future.done():
                continue
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    async def _after_failure(
        self, conn: AsyncConnection, jobs: list[_Job[Any]], exc: Exception
    ) -> None:
        if is_connection_error(exc):
            log.warning("writer.db_unreachable", error=type(exc).__name__)
            self._down_until = time.monotonic() + _DOWN_GRACE_SECONDS
            await self._discard(conn)
            self._fail(jobs, ServiceUnavailable("database unreachable"))
            return
        if len(jobs) == 1:
            self.stats.failures += 1
            log.error("writer.job_failed", error=type(exc).__name__, detail=str(exc)[:300])
            self._fail(jobs, exc)
            return
        # Isolate the culprit: retry each job alone so the others still commit.
        self.stats.isolated_retries += 1
        for job in jobs:
            await self._commit([job])

    async def _discard(self, conn: AsyncConnection) -> None:
        with contextlib.suppress(Exception):  # already broken: nothing to save
            await conn.invalidate()
        self._conn = None

    @staticmethod
    def _fail(jobs: list[_Job[Any]], exc: BaseException) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(exc)
