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
from typing import Any

import sqlalchemy as sa

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
from todoke.store.tables import (
    messages,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)
from todoke.store.webhook_handlers import (
    ClaimJob,
    ReplayJob,
    claim_handler,
    delete_endpoint_handler,
    emit_handler,
    insert_endpoint_handler,
    purge_handler,
    record_handler,
    replay_handler,
    unblock_handler,
    update_endpoint_handler,
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


class WebhookStore:
    """Implements :class:`~todoke.services.webhook_types.WebhookStorePort`."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    # --- endpoints ----------------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        await self._writer.submit(insert_endpoint_handler, endpoint)
        return endpoint

    async def update_endpoint(
        self, account_id: int, endpoint_id: str, spec: EndpointSpec, *, now: int
    ) -> Endpoint:
        await self.get_endpoint(account_id, endpoint_id)  # NotFound for another's
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
        await self._writer.submit(update_endpoint_handler, (account_id, endpoint_id, values))
        return await self.get_endpoint(account_id, endpoint_id)

    async def delete_endpoint(self, account_id: int, endpoint_id: str) -> None:
        """Delete an endpoint with its deliveries and attempts (NotFound for another's)."""
        deleted: bool = await self._writer.submit(
            delete_endpoint_handler, (account_id, endpoint_id)
        )
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
            await self._writer.submit(emit_handler, tuple(events))

    # --- delivery ------------------------------------------------------------------------

    async def claim(self, owner: str, *, now: int, limit: int, lease_ms: int) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries and load what rendering them needs."""
        job = ClaimJob(owner, now, limit, now + lease_ms, not self._db.is_sqlite)
        rows: list[Any] = await self._writer.submit(claim_handler, job)
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
                for ev_row in await conn.execute(
                    sa.select(webhook_events).where(webhook_events.c.id.in_(chunk))
                ):
                    events[ev_row.id] = ev_row
            for chunk in _chunks(endpoint_ids):
                for ep_row in await conn.execute(
                    sa.select(webhook_endpoints).where(webhook_endpoints.c.id.in_(chunk))
                ):
                    endpoints[ep_row.id] = row_to_endpoint(ep_row)
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
            await self._writer.submit(record_handler, tuple(outcomes))

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
        job = ReplayJob(account_id, endpoint_id, since, until, now)
        count: int = await self._writer.submit(replay_handler, job)
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
        result: int = await self._writer.submit(unblock_handler, (now, limit))
        return result

    async def purge(self, *, before: int, limit: int) -> int:
        """Delete finished deliveries (and their attempts and events) older than ``before``."""
        result: int = await self._writer.submit(purge_handler, (before, limit))
        return result
