"""Write handlers of webhook storage (they run inside the group-commit transaction).

Split from ``store/webhooks.py``: claiming, recording attempts and moving chains on, endpoint
health, replay, repair and purge. Each takes the payloads of many concurrent jobs at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import webhooks as wh
from todoke.errors import NotFound
from todoke.services.webhook_types import Endpoint, NewEvent, Outcome
from todoke.store.outbox import fan_out
from todoke.store.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)

_ERROR_CHARS = 200
_RESPONSE_CHARS = 500


def _endpoint_values(ep: Endpoint) -> dict[str, Any]:
    return {
        "id": ep.id,
        "account_id": ep.account_id,
        "url": ep.url,
        "events": ",".join(ep.events),
        "format": ep.format,
        "secret": ep.secret,
        "basic_user": ep.basic_user,
        "basic_password": ep.basic_password,
        "max_attempts": ep.max_attempts,
        "max_age_seconds": ep.max_age_seconds,
        "timeout_ms": ep.timeout_ms,
        "options": json.dumps(dict(ep.options), ensure_ascii=False) if ep.options else None,
        "description": ep.description,
        "enabled": ep.enabled,
        "created_at": ep.created_at,
        "updated_at": ep.updated_at,
    }


@dataclass(frozen=True, slots=True)
class ClaimJob:
    owner: str
    now: int
    limit: int
    lease_until: int
    skip_locked: bool


@dataclass(frozen=True, slots=True)
class ReplayJob:
    account_id: int | None
    endpoint_id: str
    since: int | None
    until: int | None
    now: int


# --- handlers -------------------------------------------------------------------------------


async def insert_endpoint_handler(conn: AsyncConnection, jobs: Sequence[Endpoint]) -> list[None]:
    await conn.execute(webhook_endpoints.insert(), [_endpoint_values(ep) for ep in jobs])
    return [None] * len(jobs)


async def update_endpoint_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[int, str, dict[str, Any]]]
) -> list[None]:
    e = webhook_endpoints.c
    for account_id, endpoint_id, values in jobs:
        await conn.execute(
            webhook_endpoints.update()
            .where(e.id == endpoint_id, e.account_id == account_id)
            .values(**values)
        )
    return [None] * len(jobs)


async def delete_endpoint_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[int, str]]
) -> list[bool]:
    out: list[bool] = []
    e = webhook_endpoints.c
    for account_id, endpoint_id in jobs:
        owned = (
            await conn.execute(
                sa.select(e.id).where(e.id == endpoint_id, e.account_id == account_id)
            )
        ).first()
        if owned is None:
            out.append(False)
            continue
        await conn.execute(
            webhook_attempts.delete().where(webhook_attempts.c.endpoint_id == endpoint_id)
        )
        await conn.execute(
            webhook_deliveries.delete().where(webhook_deliveries.c.endpoint_id == endpoint_id)
        )
        await conn.execute(webhook_endpoints.delete().where(e.id == endpoint_id))
        out.append(True)
    return out


async def emit_handler(conn: AsyncConnection, jobs: Sequence[tuple[NewEvent, ...]]) -> list[None]:
    await fan_out(conn, [event for job in jobs for event in job])
    return [None] * len(jobs)


async def claim_handler(conn: AsyncConnection, jobs: Sequence[ClaimJob]) -> list[list[Any]]:
    out: list[list[Any]] = []
    d = webhook_deliveries.c
    for job in jobs:
        free = sa.or_(d.lease_owner.is_(None), d.lease_until < job.now)
        due = (
            sa.select(d.id)
            .where(d.next_at <= job.now, d.state == wh.PENDING, free)
            .order_by(d.next_at, d.id)
            .limit(job.limit)
        )
        if job.skip_locked:
            due = due.with_for_update(skip_locked=True)
        result = await conn.execute(
            webhook_deliveries.update()
            .where(d.id.in_(due.scalar_subquery()), d.state == wh.PENDING, free)
            .values(lease_owner=job.owner, lease_until=job.lease_until)
            .returning(d.id, d.event_id, d.endpoint_id, d.url, d.chain, d.attempts, d.created_at)
        )
        rows = sorted(result.all(), key=lambda r: r.id)
        out.append(rows)
    return out


async def record_handler(conn: AsyncConnection, jobs: Sequence[tuple[Outcome, ...]]) -> list[None]:
    outcomes = [o for job in jobs for o in job]
    attempt_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    finished: list[Outcome] = []
    for o in outcomes:
        r = o.result
        if r is not None:
            attempt_rows.append(
                {
                    "delivery_id": o.delivery_id,
                    "endpoint_id": o.endpoint_id,
                    "account_id": o.account_id,
                    "number": o.attempt,
                    "status_code": r.status_code,
                    "error": (r.error or None) and r.error[:_ERROR_CHARS],
                    "response": (r.response or None) and r.response[:_RESPONSE_CHARS],
                    "duration_ms": r.duration_ms,
                    "at": o.at,
                }
            )
        done = o.state in wh.DONE_STATES
        if done:
            finished.append(o)
        updates.append(
            {
                "b_id": o.delivery_id,
                "b_state": o.state,
                "b_attempts": o.attempt if r is not None else o.attempt - 1,
                "b_next": o.next_at if o.state == wh.PENDING else None,
                "b_status": r.status_code if r is not None else None,
                "b_error": ((r.error or None) and r.error[:_ERROR_CHARS]) if r else None,
                "b_at": o.at,
                "b_done": o.at if done else None,
            }
        )
    if attempt_rows:
        await conn.execute(webhook_attempts.insert(), attempt_rows)
    d = webhook_deliveries.c
    await conn.execute(
        webhook_deliveries.update()
        .where(d.id == sa.bindparam("b_id"))
        .values(
            state=sa.bindparam("b_state"),
            attempts=sa.bindparam("b_attempts"),
            next_at=sa.bindparam("b_next"),
            last_status=sa.bindparam("b_status"),
            last_error=sa.bindparam("b_error"),
            updated_at=sa.bindparam("b_at"),
            done_at=sa.bindparam("b_done"),
            lease_owner=None,
            lease_until=None,
        ),
        updates,
    )
    await _promote_next(conn, [(o.endpoint_id, o.chain, o.at) for o in finished if o.chain])
    await _endpoint_health(conn, outcomes)
    return [None] * len(jobs)


async def _promote_next(
    conn: AsyncConnection, ended: Sequence[tuple[str, str | None, int]]
) -> None:
    """Make the oldest queued delivery of each ended chain due (one executemany)."""
    if not ended:
        return
    d = webhook_deliveries.c
    head = (
        sa.select(sa.func.min(d.id))
        .where(
            d.endpoint_id == sa.bindparam("b_endpoint"),
            d.chain == sa.bindparam("b_chain"),
            d.state == wh.QUEUED,
        )
        .scalar_subquery()
    )
    await conn.execute(
        webhook_deliveries.update()
        .where(d.id == head, d.state == wh.QUEUED)
        .values(state=wh.PENDING, next_at=sa.bindparam("b_at"), updated_at=sa.bindparam("b_at")),
        [{"b_endpoint": e, "b_chain": c, "b_at": at} for e, c, at in ended],
    )


async def _endpoint_health(conn: AsyncConnection, outcomes: Sequence[Outcome]) -> None:
    """Failing since / flagged / recovered, per endpoint, from this batch of outcomes."""
    e = webhook_endpoints.c
    ok: dict[str, int] = {}
    failed: dict[str, int] = {}
    dead: dict[str, int] = {}
    for o in outcomes:
        if o.result is None:
            continue
        if o.state == wh.DELIVERED:
            ok[o.endpoint_id] = max(ok.get(o.endpoint_id, 0), o.at)
        else:
            failed.setdefault(o.endpoint_id, o.at)
            if o.state == wh.DEAD:
                dead.setdefault(o.endpoint_id, o.at)
    for endpoint_id, at in failed.items():
        if endpoint_id in ok:
            continue  # it answered too: not failing as a whole
        values: dict[str, Any] = {"failing_since": sa.func.coalesce(e.failing_since, at)}
        if endpoint_id in dead:
            values["flagged_at"] = sa.func.coalesce(e.flagged_at, at)
        await conn.execute(webhook_endpoints.update().where(e.id == endpoint_id).values(**values))
    for endpoint_id, at in ok.items():
        recovered = (
            await conn.execute(
                webhook_endpoints.update()
                .where(e.id == endpoint_id, e.failing_since.is_not(None))
                .values(failing_since=None, last_success_at=at)
                .returning(e.id)
            )
        ).first()
        if recovered is not None:
            # It is back: what waits for a retry goes now instead of at its backoff time.
            d = webhook_deliveries.c
            await conn.execute(
                webhook_deliveries.update()
                .where(d.endpoint_id == endpoint_id, d.state == wh.PENDING, d.next_at > at)
                .values(next_at=at)
            )


async def replay_handler(conn: AsyncConnection, jobs: Sequence[ReplayJob]) -> list[int | Exception]:
    out: list[int | Exception] = []
    d = webhook_deliveries.c
    e = webhook_endpoints.c
    for job in jobs:
        owner_filter = [e.id == job.endpoint_id]
        if job.account_id is not None:
            owner_filter.append(e.account_id == job.account_id)
        if (await conn.execute(sa.select(e.id).where(*owner_filter))).first() is None:
            out.append(NotFound(f"no webhook endpoint {job.endpoint_id}"))
            continue
        conditions = [d.endpoint_id == job.endpoint_id, d.state == wh.DEAD]
        if job.since is not None:
            conditions.append(d.created_at >= job.since)
        if job.until is not None:
            conditions.append(d.created_at < job.until)
        # A replayed delivery starts a fresh retry period: its age counts from now.
        result = await conn.execute(
            webhook_deliveries.update()
            .where(*conditions)
            .values(
                state=wh.PENDING,
                next_at=job.now,
                attempts=0,
                created_at=job.now,
                updated_at=job.now,
                done_at=None,
            )
            .returning(d.id)
        )
        count = len(result.all())
        await conn.execute(
            webhook_endpoints.update().where(e.id == job.endpoint_id).values(flagged_at=None)
        )
        out.append(count)
    return out


async def unblock_handler(conn: AsyncConnection, jobs: Sequence[tuple[int, int]]) -> list[int]:
    d = webhook_deliveries.c
    other = webhook_deliveries.alias("other")
    out: list[int] = []
    for now, limit in jobs:
        active = (
            sa.select(other.c.id)
            .where(
                other.c.endpoint_id == d.endpoint_id,
                other.c.chain == d.chain,
                sa.or_(
                    other.c.state == wh.PENDING,
                    sa.and_(other.c.state == wh.QUEUED, other.c.id < d.id),
                ),
            )
            .exists()
        )
        stuck = sa.select(d.id).where(d.state == wh.QUEUED, ~active).limit(limit)
        ids = [r.id for r in await conn.execute(stuck)]
        if ids:
            await conn.execute(
                webhook_deliveries.update()
                .where(d.id.in_(ids), d.state == wh.QUEUED)
                .values(state=wh.PENDING, next_at=now, updated_at=now)
            )
        out.append(len(ids))
    return out


async def purge_handler(conn: AsyncConnection, jobs: Sequence[tuple[int, int]]) -> list[int]:
    d = webhook_deliveries.c
    out: list[int] = []
    for before, limit in jobs:
        ids = [
            r.id
            for r in await conn.execute(
                sa.select(d.id)
                .where(d.state.in_((wh.DELIVERED, wh.SKIPPED)), d.done_at < before)
                .limit(limit)
            )
        ]
        if ids:
            await conn.execute(
                webhook_attempts.delete().where(webhook_attempts.c.delivery_id.in_(ids))
            )
            await conn.execute(webhook_deliveries.delete().where(d.id.in_(ids)))
        # Events that no delivery refers to any more.
        orphan = (
            sa.select(webhook_events.c.id)
            .where(
                webhook_events.c.created_at < before,
                ~sa.select(d.id).where(d.event_id == webhook_events.c.id).exists(),
            )
            .limit(limit)
        )
        orphan_ids = [r.id for r in await conn.execute(orphan)]
        if orphan_ids:
            await conn.execute(webhook_events.delete().where(webhook_events.c.id.in_(orphan_ids)))
        out.append(len(ids))
    return out
