"""Webhook storage: endpoints, claiming due deliveries, recording attempts, replay.

Claims work like the dispatcher's (``store.delivery``): one conditional UPDATE of the due,
unleased rows with RETURNING, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL. Every write goes
through the process's group committer; one attempt row is written per request made, in the
transaction that moves its delivery on (delivered, retry at ``next_at``, dead) and, when the
delivery ends, makes the next queued delivery of its chain due.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import webhooks as wh
from todoke.domain.message import Message
from todoke.errors import NotFound
from todoke.services.webhook_types import (
    Delivery,
    DeliveryView,
    Endpoint,
    EndpointSpec,
    NewEvent,
    Outcome,
    WebhookEvent,
)
from todoke.store.database import Database
from todoke.store.messages import row_to_message
from todoke.store.outbox import fan_out
from todoke.store.tables import (
    messages,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from todoke.store.writer import GroupCommitter

_CHUNK = 400
_ERROR_CHARS = 200
_RESPONSE_CHARS = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def row_to_endpoint(row: Any) -> Endpoint:
    m = row._mapping
    return Endpoint(
        id=m["id"],
        account_id=m["account_id"],
        url=m["url"],
        events=tuple(t for t in m["events"].split(",") if t),
        format=m["format"],
        secret=m["secret"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        basic_user=m["basic_user"],
        basic_password=m["basic_password"],
        max_attempts=m["max_attempts"],
        max_age_seconds=m["max_age_seconds"],
        timeout_ms=m["timeout_ms"],
        options=json.loads(m["options"]) if m["options"] else {},
        description=m["description"],
        enabled=bool(m["enabled"]),
        failing_since=m["failing_since"],
        flagged_at=m["flagged_at"],
        last_success_at=m["last_success_at"],
    )


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
class _Claim:
    owner: str
    now: int
    limit: int
    lease_until: int
    skip_locked: bool


@dataclass(frozen=True, slots=True)
class _Replay:
    account_id: int | None
    endpoint_id: str
    since: int | None
    until: int | None
    now: int


class WebhookStore:
    """Implements :class:`~todoke.services.webhook_types.WebhookStorePort`."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    # --- endpoints ----------------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        await self._writer.submit(_insert_endpoint, endpoint)
        return endpoint

    async def update_endpoint(
        self, account_id: int, endpoint_id: str, spec: EndpointSpec, *, now: int
    ) -> Endpoint:
        current = await self.get_endpoint(account_id, endpoint_id)
        values: dict[str, Any] = {"updated_at": now}
        for name in (
            "url",
            "format",
            "basic_user",
            "basic_password",
            "max_attempts",
            "max_age_seconds",
            "timeout_ms",
            "description",
            "enabled",
        ):
            value = getattr(spec, name)
            if value is not None:
                values[name] = value
        if spec.events is not None:
            values["events"] = ",".join(spec.events)
        if spec.options is not None:
            values["options"] = json.dumps(dict(spec.options), ensure_ascii=False)
        if spec.clear_basic_auth:
            values["basic_user"] = None
            values["basic_password"] = None
        await self._writer.submit(_update_endpoint, (account_id, endpoint_id, values))
        del current
        return await self.get_endpoint(account_id, endpoint_id)

    async def delete_endpoint(self, account_id: int, endpoint_id: str) -> None:
        """Delete an endpoint with its deliveries and attempts (NotFound for another's)."""
        deleted: bool = await self._writer.submit(_delete_endpoint, (account_id, endpoint_id))
        if not deleted:
            raise NotFound(f"no webhook endpoint {endpoint_id}")

    async def get_endpoint(self, account_id: int, endpoint_id: str) -> Endpoint:
        e = webhook_endpoints.c
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(webhook_endpoints).where(
                        e.id == endpoint_id, e.account_id == account_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return row_to_endpoint(row)

    async def endpoints(self, account_id: int | None) -> list[Endpoint]:
        """The account's endpoints, oldest first (every account's with None: operators)."""
        e = webhook_endpoints.c
        query = sa.select(webhook_endpoints).order_by(e.created_at, e.id)
        if account_id is not None:
            query = query.where(e.account_id == account_id)
        async with self._db.connect() as conn:
            return [row_to_endpoint(r) for r in await conn.execute(query)]

    async def endpoint_owner(self, endpoint_id: str) -> int:
        """The account of an endpoint (operators' commands name endpoints by id alone)."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(webhook_endpoints.c.account_id).where(
                        webhook_endpoints.c.id == endpoint_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return int(row.account_id)

    # --- events --------------------------------------------------------------------------

    async def emit(self, events: Sequence[NewEvent]) -> None:
        """Record events in a transaction of their own (for callers outside one)."""
        if events:
            await self._writer.submit(_emit_handler, tuple(events))

    # --- delivery ------------------------------------------------------------------------

    async def claim(self, owner: str, *, now: int, limit: int, lease_ms: int) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries and load what rendering them needs."""
        job = _Claim(owner, now, limit, now + lease_ms, not self._db.is_sqlite)
        rows: list[Any] = await self._writer.submit(_claim_handler, job)
        if not rows:
            return []
        return await self._load(rows)

    async def _load(self, rows: Sequence[Any]) -> list[Delivery]:
        event_ids = sorted({r.event_id for r in rows})
        endpoint_ids = sorted({r.endpoint_id for r in rows})
        events: dict[str, Any] = {}
        endpoints: dict[str, Endpoint] = {}
        found_messages: dict[str, Message] = {}
        async with self._db.connect() as conn:
            for chunk in _chunks(event_ids):
                for ev in await conn.execute(
                    sa.select(webhook_events).where(webhook_events.c.id.in_(chunk))
                ):
                    events[ev.id] = ev
            for chunk in _chunks(endpoint_ids):
                for ep in await conn.execute(
                    sa.select(webhook_endpoints).where(webhook_endpoints.c.id.in_(chunk))
                ):
                    endpoints[ep.id] = row_to_endpoint(ep)
            message_ids = sorted({ev.message_id for ev in events.values() if ev.message_id})
            for chunk in _chunks(message_ids):
                for m in await conn.execute(sa.select(messages).where(messages.c.id.in_(chunk))):
                    found_messages[m.id] = row_to_message(m)
        out: list[Delivery] = []
        for r in rows:
            ev = events.get(r.event_id)
            ep = endpoints.get(r.endpoint_id)
            if ev is None or ep is None:  # deleted meanwhile (endpoint removed, purge)
                continue
            event = WebhookEvent(
                id=ev.id,
                account_id=ev.account_id,
                type=ev.type,
                created_at=ev.created_at,
                data=json.loads(ev.data),
                message=found_messages.get(ev.message_id) if ev.message_id else None,
            )
            out.append(
                Delivery(
                    id=r.id,
                    event=event,
                    endpoint=ep,
                    url=r.url or ep.url,
                    attempt=r.attempts + 1,
                    created_at=r.created_at,
                    chain=r.chain,
                )
            )
        return out

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write attempts and move their deliveries on, in one transaction."""
        if outcomes:
            await self._writer.submit(_record_handler, tuple(outcomes))

    async def replay(
        self,
        account_id: int | None,
        endpoint_id: str,
        *,
        since: int | None,
        until: int | None,
        now: int,
    ) -> int:
        """Make the endpoint's dead deliveries due again (events created in [since, until))."""
        job = _Replay(account_id, endpoint_id, since, until, now)
        count: int = await self._writer.submit(_replay_handler, job)
        return count

    async def deliveries(
        self,
        account_id: int,
        endpoint_id: str,
        *,
        state: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[DeliveryView]:
        """An endpoint's deliveries, newest first."""
        await self.get_endpoint(account_id, endpoint_id)
        d = webhook_deliveries.c
        ev = webhook_events.c
        conditions: list[sa.ColumnElement[bool]] = [
            d.endpoint_id == endpoint_id,
            d.account_id == account_id,
        ]
        if state is not None:
            conditions.append(d.state == state)
        if before_id is not None:
            conditions.append(d.id < before_id)
        query = (
            sa.select(
                d.id,
                d.event_id,
                ev.type,
                d.endpoint_id,
                d.state,
                d.attempts,
                d.created_at,
                d.updated_at,
                d.next_at,
                d.last_status,
                d.last_error,
                ev.message_id,
            )
            .join(webhook_events, webhook_events.c.id == d.event_id)
            .where(*conditions)
            .order_by(d.id.desc())
            .limit(limit)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            DeliveryView(
                id=r.id,
                event_id=r.event_id,
                event_type=r.type,
                endpoint_id=r.endpoint_id,
                state=r.state,
                attempts=r.attempts,
                created_at=r.created_at,
                updated_at=r.updated_at,
                next_at=r.next_at,
                last_status=r.last_status,
                last_error=r.last_error,
                message_id=r.message_id,
            )
            for r in rows
        ]

    async def attempts(self, account_id: int, delivery_id: int) -> list[dict[str, Any]]:
        """The attempts of one delivery, oldest first."""
        a = webhook_attempts.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                sa.select(webhook_attempts)
                .where(a.delivery_id == delivery_id, a.account_id == account_id)
                .order_by(a.id)
            )
            return [dict(r._mapping) for r in rows]

    async def unblock_chains(self, *, now: int, limit: int) -> int:
        """Safety net: make due the head of any chain left with queued rows and none pending.

        ``fan_out`` and ``record`` keep chains moving on their own; this repairs a chain only
        if a process died between the two halves of an operator's manual edit, or rows were
        changed by hand.
        """
        result: int = await self._writer.submit(_unblock_handler, (now, limit))
        return result

    async def purge(self, *, before: int, limit: int) -> int:
        """Delete finished deliveries (and their attempts and events) older than ``before``."""
        result: int = await self._writer.submit(_purge_handler, (before, limit))
        return result


# --- handlers -------------------------------------------------------------------------------


async def _insert_endpoint(conn: AsyncConnection, jobs: Sequence[Endpoint]) -> list[None]:
    await conn.execute(webhook_endpoints.insert(), [_endpoint_values(ep) for ep in jobs])
    return [None] * len(jobs)


async def _update_endpoint(
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


async def _delete_endpoint(conn: AsyncConnection, jobs: Sequence[tuple[int, str]]) -> list[bool]:
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


async def _emit_handler(conn: AsyncConnection, jobs: Sequence[tuple[NewEvent, ...]]) -> list[None]:
    await fan_out(conn, [event for job in jobs for event in job])
    return [None] * len(jobs)


async def _claim_handler(conn: AsyncConnection, jobs: Sequence[_Claim]) -> list[list[Any]]:
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


async def _record_handler(conn: AsyncConnection, jobs: Sequence[tuple[Outcome, ...]]) -> list[None]:
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


async def _replay_handler(conn: AsyncConnection, jobs: Sequence[_Replay]) -> list[int | Exception]:
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


async def _unblock_handler(conn: AsyncConnection, jobs: Sequence[tuple[int, int]]) -> list[int]:
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


async def _purge_handler(conn: AsyncConnection, jobs: Sequence[tuple[int, int]]) -> list[int]:
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


def with_defaults(endpoint: Endpoint, **changes: Any) -> Endpoint:
    """A copy of ``endpoint`` with ``changes`` (a convenience for services and tests)."""
    return replace(endpoint, **changes)
