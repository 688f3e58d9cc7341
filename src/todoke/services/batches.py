"""Bulk uploads (batches): many messages stored as one unit, all or nothing, with progress.

A batch is loaded in chunks (each chunk one group-commit transaction, so memory stays at one
chunk whatever the file holds). Its messages are stored *held*: written, but not queued for
the dispatcher. Only when every chunk is stored does :meth:`BatchService.load` release them,
in one statement, and answer. If loading fails half-way, or the process dies, the held
messages never leave: the batch is marked ``failed`` (or, found stale later, ``abandoned``)
and its messages are cancelled. So a client that got no answer may upload the file again
without sending anything twice.

Each row is a :class:`~todoke.services.compose.Draft`, stored through the
:class:`~todoke.services.compose.Composer` (the send path with templates and tracked links):
a chunk's per-message links are committed before its messages, one insert per chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import structlog

from todoke.domain import status
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Account, Message
from todoke.errors import TodokeError
from todoke.services.compose import Composer, Draft
from todoke.services.messages import MessageService, now_ms

log = structlog.get_logger(__name__)

LOADING, READY, FAILED, ABANDONED = "loading", "ready", "failed", "abandoned"
_STALE_MS = 10 * 60 * 1000  # a loading batch untouched this long belongs to a dead process
_IN_FLIGHT = 2  # chunks being stored at once (memory: this many chunks, plus one being read)


@dataclass(frozen=True, slots=True)
class Batch:
    """One bulk upload. ``counts`` holds message counts by status group name (and
    ``CANCELLED``) once the batch has messages."""

    id: str
    account_id: int
    source: str
    state: str
    rows: int
    accepted: int
    rejected: int
    created_at: int
    updated_at: int
    filename: str | None = None
    ready_at: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return self.counts.get("PENDING", 0)

    @property
    def finished(self) -> int:
        """Messages in a final status."""
        return sum(n for name, n in self.counts.items() if name != "PENDING")

    @property
    def done(self) -> bool:
        """Nothing of the batch is left to happen."""
        return self.state in (FAILED, ABANDONED) or (self.state == READY and self.pending == 0)


class BatchStorePort(Protocol):
    """Storage of batches; every read is scoped by account unless it says otherwise."""

    async def create(self, batch: Batch) -> None: ...

    async def progress(
        self, batch_id: str, *, rows: int, accepted: int, rejected: int, now: int
    ) -> None: ...

    async def release(self, batch_id: str, *, now: int) -> int:
        """Queue the batch's held messages and mark it ready, in one transaction."""
        ...

    async def fail(self, batch_id: str, *, state: str, now: int) -> int:
        """Cancel the batch's held messages and mark it ``state``; returns how many."""
        ...

    async def get(self, batch_id: str, *, account_id: int | None) -> Batch: ...

    async def stale(self, *, before: int) -> list[str]: ...


class Tally(Protocol):
    """The file's running totals, read while it loads: data rows seen, rows refused."""

    @property
    def rows(self) -> int: ...

    @property
    def rejected(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BatchLoad:
    """What :meth:`BatchService.load` stored: the batch (None when no chunk came) and the
    rows refused while storing."""

    batch: Batch | None
    refused: list[tuple[int, Exception]]  # (row number, error) refused while storing


class BatchService:
    """Create, load, release and read batches."""

    def __init__(self, store: BatchStorePort, messages: MessageService, composer: Composer) -> None:
        self._store = store
        self._messages = messages
        self._composer = composer

    async def load(
        self,
        account: Account,
        chunks: AsyncIterator[Sequence[tuple[int, Draft]]],
        *,
        source: str,
        tally: Tally,
        filename: str | None = None,
    ) -> BatchLoad:
        """Store every chunk of (row number, draft) as held messages of a new batch, then
        release them all at once. The batch is created with the first chunk (none: no
        batch). ``tally`` gives the file's totals as the chunks are produced. A draft the
        composer refuses (its final text, a link) is a refused row. Raises what producing or
        storing raised, after cancelling what was stored."""
        batch: Batch | None = None
        counts = {"accepted": 0}
        refused: list[tuple[int, Exception]] = []
        # Chunks are stored while the next one is produced: reading and checking rows (CPU)
        # overlaps the commits (I/O). Two chunks in flight let the group committer put one
        # chunk's links and the previous chunk's messages in one transaction.
        storing: list[asyncio.Task[None]] = []

        async def store(target: Batch, chunk: Sequence[tuple[int, Draft]]) -> None:
            drafts = [
                replace(d, request=replace(d.request, batch_id=target.id, hold=True))
                for _, d in chunk
            ]
            results = await self._composer.send(account, drafts)
            assert isinstance(results, list)
            done = [(row, r) for (row, _), r in zip(chunk, results, strict=True)]
            for row, result in done:
                if isinstance(result, Message):
                    counts["accepted"] += 1
                else:
                    refused.append((row, result))
            await self._progress(target, tally, counts["accepted"], len(refused))

        try:
            try:
                async for chunk in chunks:
                    if batch is None:
                        batch = await self._create(account, source, tally, filename)
                    if len(storing) >= _IN_FLIGHT:
                        await storing.pop(0)
                    storing.append(asyncio.create_task(store(batch, chunk)))
            finally:
                # Never leave a write running behind a failure: its rows must be stored (and
                # then cancelled with the batch) or not at all.
                await asyncio.gather(*storing, return_exceptions=True)
            for task in storing:
                task.result()  # re-raise a failure of the last chunks
            if batch is None:
                return BatchLoad(None, refused)
            await self._progress(batch, tally, counts["accepted"], len(refused))
            await self._store.release(batch.id, now=now_ms())
        except BaseException:
            if batch is not None:
                log.warning("batch.load_failed", batch=batch.id, stored=counts["accepted"])
                try:
                    await self._store.fail(batch.id, state=FAILED, now=now_ms())
                except TodokeError:  # the database is gone: the stale sweep will do it
                    log.warning("batch.fail_deferred", batch=batch.id)
            raise
        if self._messages.on_accepted is not None:
            self._messages.on_accepted()
        return BatchLoad(await self._store.get(batch.id, account_id=account.id), refused)

    async def _create(
        self, account: Account, source: str, tally: Tally, filename: str | None
    ) -> Batch:
        now = now_ms()
        batch = Batch(
            id=time_ordered_id(now),
            account_id=account.id,
            source=source,
            state=LOADING,
            rows=tally.rows,
            accepted=0,
            rejected=tally.rejected,
            created_at=now,
            updated_at=now,
            filename=filename[:255] if filename else None,
        )
        await self._store.create(batch)
        return batch

    async def _progress(self, batch: Batch, tally: Tally, accepted: int, refused: int) -> None:
        await self._store.progress(
            batch.id,
            rows=tally.rows,
            accepted=accepted,
            rejected=tally.rejected + refused,
            now=now_ms(),
        )

    async def get(self, account: Account, batch_id: str) -> Batch:
        """The batch with its counts; ``NotFound`` for another account's batch."""
        return await self._store.get(batch_id, account_id=account.id)

    async def get_any(self, batch_id: str) -> Batch:
        """Operator read of any account's batch (the CLI)."""
        return await self._store.get(batch_id, account_id=None)

    async def abandon_stale(self, *, now: int | None = None) -> list[str]:
        """Cancel the held messages of batches whose loading process died."""
        moment = now if now is not None else now_ms()
        found = await self._store.stale(before=moment - _STALE_MS)
        for batch_id in found:
            cancelled = await self._store.fail(batch_id, state=ABANDONED, now=moment)
            log.warning("batch.abandoned", batch=batch_id, cancelled=cancelled)
        return found


# The statuses in which a batch's message may still be held (never queued).
HELD_STATUSES: tuple[str, ...] = (status.ACCEPTED.name, status.SCHEDULED.name)
