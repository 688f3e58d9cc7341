"""Batches (bulk uploads): their rows, the release of held messages, counts by status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import status
from todoke.errors import NotFound
from todoke.services.batches import HELD_STATUSES, LOADING, READY, Batch
from todoke.store.database import Database
from todoke.store.tables import batches, message_events, messages
from todoke.store.writer import GroupCommitter


@dataclass(frozen=True, slots=True)
class _Progress:
    batch_id: str
    rows: int
    accepted: int
    rejected: int
    now: int


@dataclass(frozen=True, slots=True)
class _Finish:
    batch_id: str
    state: str
    now: int


class BatchStore:
    """Every write goes through the group committer (one writer per process)."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    async def create(self, batch: Batch) -> None:
        await self._writer.submit(_create_handler, batch)

    async def progress(
        self, batch_id: str, *, rows: int, accepted: int, rejected: int, now: int
    ) -> None:
        job = _Progress(batch_id, rows, accepted, rejected, now)
        await self._writer.submit(_progress_handler, job)

    async def release(self, batch_id: str, *, now: int) -> int:
        result: int = await self._writer.submit(_release_handler, _Finish(batch_id, READY, now))
        return result

    async def fail(self, batch_id: str, *, state: str, now: int) -> int:
        result: int = await self._writer.submit(_fail_handler, _Finish(batch_id, state, now))
        return result

    async def get(self, batch_id: str, *, account_id: int | None) -> Batch:
        conditions = [batches.c.id == batch_id]
        if account_id is not None:
            conditions.append(batches.c.account_id == account_id)
        c = messages.c
        counts_query = (
            sa.select(c.status_group, c.status, sa.func.count())
            .where(c.batch_id == batch_id)
            .group_by(c.status_group, c.status)
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(sa.select(batches).where(*conditions))).first()
            if row is None:
                raise NotFound(f"no batch {batch_id}")
            counted = (await conn.execute(counts_query)).all()
        counts: dict[str, int] = {}
        for group_id, name, n in counted:
            key = (
                "CANCELLED"
                if name == status.CANCELLED.name
                else status.STATUS_GROUPS[group_id].name
            )
            counts[key] = counts.get(key, 0) + int(n)
        m = row._mapping
        return Batch(
            id=m["id"],
            account_id=m["account_id"],
            source=m["source"],
            state=m["state"],
            rows=m["rows"],
            accepted=m["accepted"],
            rejected=m["rejected"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            filename=m["filename"],
            ready_at=m["ready_at"],
            counts=counts,
        )

    async def stale(self, *, before: int) -> list[str]:
        query = sa.select(batches.c.id).where(
            batches.c.state == LOADING, batches.c.updated_at < before
        )
        async with self._db.connect() as conn:
            return [str(r) for r in (await conn.execute(query)).scalars()]


async def _create_handler(conn: AsyncConnection, jobs: Sequence[Batch]) -> list[None]:
    await conn.execute(
        batches.insert(),
        [
            {
                "id": b.id,
                "account_id": b.account_id,
                "source": b.source,
                "state": b.state,
                "filename": b.filename,
                "rows": b.rows,
                "accepted": b.accepted,
                "rejected": b.rejected,
                "created_at": b.created_at,
                "updated_at": b.updated_at,
            }
            for b in jobs
        ],
    )
    return [None] * len(jobs)


async def _progress_handler(conn: AsyncConnection, jobs: Sequence[_Progress]) -> list[None]:
    for job in jobs:
        await conn.execute(
            batches.update()
            .where(batches.c.id == job.batch_id)
            .values(rows=job.rows, accepted=job.accepted, rejected=job.rejected, updated_at=job.now)
        )
    return [None] * len(jobs)


def _held(batch_id: str) -> list[sa.ColumnElement[bool]]:
    c = messages.c
    return [c.batch_id == batch_id, c.due_at.is_(None), c.status.in_(HELD_STATUSES)]


async def _release_handler(conn: AsyncConnection, jobs: Sequence[_Finish]) -> list[int]:
    out: list[int] = []
    c = messages.c
    for job in jobs:
        # A scheduled message waits for its time; every other one is due now.
        result = await conn.execute(
            messages.update()
            .where(*_held(job.batch_id))
            .values(
                due_at=sa.case((c.schedule_at.is_(None), job.now), else_=c.schedule_at),
                updated_at=job.now,
            )
        )
        await conn.execute(
            batches.update()
            .where(batches.c.id == job.batch_id)
            .values(state=job.state, updated_at=job.now, ready_at=job.now)
        )
        out.append(int(result.rowcount or 0))
    return out


async def _fail_handler(conn: AsyncConnection, jobs: Sequence[_Finish]) -> list[int]:
    out: list[int] = []
    for job in jobs:
        cancelled = (
            await conn.execute(
                messages.update()
                .where(*_held(job.batch_id))
                .values(
                    status=status.CANCELLED.name,
                    status_group=status.CANCELLED.group_id,
                    cause="cancelled",
                    updated_at=job.now,
                    done_at=job.now,
                )
                .returning(messages.c.id, messages.c.account_id)
            )
        ).all()
        if cancelled:
            detail = json.dumps({"reason": f"batch {job.state}"})
            events: list[dict[str, Any]] = [
                {
                    "message_id": r.id,
                    "account_id": r.account_id,
                    "status": status.CANCELLED.name,
                    "status_group": status.CANCELLED.group_id,
                    "error_code": None,
                    "attempt": None,
                    "detail": detail,
                    "created_at": job.now,
                }
                for r in cancelled
            ]
            await conn.execute(message_events.insert(), events)
        await conn.execute(
            batches.update()
            .where(batches.c.id == job.batch_id)
            .values(state=job.state, updated_at=job.now)
        )
        out.append(len(cancelled))
    return out
