"""The webhook outbox: events written in the transaction of the change they report.

Whoever changes something a customer hears about (a message's status, an inbound message, a
click) calls :func:`fan_out` with the same connection, inside the same transaction: either both
the change and its event rows are committed, or neither. ``fan_out`` writes one
``webhook_events`` row per event that at least one endpoint wants and one
``webhook_deliveries`` row per (event, endpoint); the webhook worker takes it from there.

Ordering: deliveries with the same ``chain`` (a message id) to the same endpoint go one at a
time. A new delivery whose chain still has an active (queued or pending) delivery is written
``queued``, with no due time; when the active one ends (delivered, dead or skipped) the oldest
queued one of its chain becomes due (``store.webhooks``). On PostgreSQL the active rows of a
chain are locked (``FOR UPDATE``) while this is decided, so that a concurrent completion in
another process either sees the new row or is seen by it; message events are also serialised
by the lock on their message row, which the status change takes first.

Per-message ``webhookUrl``: the events of a message that has one go to that URL instead of the
account's standard-format endpoints: through the oldest enabled standard endpoint that wants
the event (its secret signs, its Basic auth and policy apply); the account's other standard
endpoints do not get them. Endpoints of other formats (the compatible APIs' pushes) are not
affected. Without a standard endpoint the override has no effect.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import status as status_catalogue
from todoke.domain import webhooks as wh
from todoke.domain.ids import time_ordered_id
from todoke.services.ports import Transition
from todoke.services.webhook_types import NewEvent
from todoke.store.tables import messages, webhook_deliveries, webhook_endpoints, webhook_events

_CHUNK = 400
_MEMO_KEY = "todoke.outbox.endpoints"


def transition_event(t: Transition) -> NewEvent:
    """The webhook event of a message's status change (as ``_write_transitions`` applies it)."""
    data: dict[str, Any] = {"status": t.status, "final": t.final}
    for key, value in (
        ("error", t.error_code),
        ("cause", t.cause),
        ("attempt", t.attempt),
        ("carrier", t.carrier),
        ("deliveredParts", t.delivered_parts),
        ("billableParts", t.billable_parts),
        ("detail", t.detail or None),
    ):
        if value is not None:
            data[key] = value
    return NewEvent(
        account_id=t.account_id,
        type=wh.MESSAGE_FINAL if t.final else wh.MESSAGE_STATUS,
        data=data,
        at=t.at,
        message_id=t.message_id,
        webhook_url_known=False,
    )


def accepted_event(row: Mapping[Any, Any], *, detail: Mapping[str, Any] | None = None) -> NewEvent:
    """The event of a message stored by the accept path (its initial, or refused, status)."""
    st = status_catalogue.STATUSES[row["status"]]
    data: dict[str, Any] = {"status": st.name, "final": st.final}
    if row.get("error_code"):
        data["error"] = row["error_code"]
    if row.get("cause"):
        data["cause"] = row["cause"]
    if detail:
        data["detail"] = dict(detail)
    return NewEvent(
        account_id=row["account_id"],
        type=wh.MESSAGE_FINAL if st.final else wh.MESSAGE_STATUS,
        data=data,
        at=row.get("updated_at") or row["created_at"],
        message_id=row["id"],
        webhook_url=row.get("webhook_url"),
    )


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _endpoints_by_account(conn: AsyncConnection, accounts: set[int]) -> dict[int, list[Any]]:
    """Enabled endpoints of these accounts, oldest first; memoised per transaction.

    Every fan-out of one group-commit transaction shares one look-up per account: the
    transaction sees the endpoints as they were at its first look-up.
    """
    txn = conn.sync_connection.get_transaction() if conn.sync_connection else None
    memo: dict[int, list[Any]]
    stored = conn.info.get(_MEMO_KEY)
    if stored is not None and stored[0] is txn:
        memo = stored[1]
    else:
        memo = {}
        conn.info[_MEMO_KEY] = (txn, memo)
    missing = sorted(a for a in accounts if a not in memo)
    if missing:
        e = webhook_endpoints.c
        for account in missing:
            memo[account] = []
        for chunk in _chunks(missing):
            rows = await conn.execute(
                sa.select(e.id, e.account_id, e.events, e.format, e.created_at)
                .where(e.account_id.in_(chunk), e.enabled.is_(True))
                .order_by(e.created_at, e.id)
            )
            for row in rows:
                memo[row.account_id].append(row)
    return {a: memo[a] for a in accounts}


async def fan_out(conn: AsyncConnection, events: Sequence[NewEvent]) -> int:
    """Record ``events`` and their deliveries in the caller's transaction; returns deliveries."""
    if not events:
        return 0
    endpoints = await _endpoints_by_account(conn, {e.account_id for e in events})
    wanted = [e for e in events if endpoints.get(e.account_id)]
    if not wanted:
        return 0
    urls = await _override_urls(conn, wanted)

    event_rows: list[dict[str, Any]] = []
    targets: list[tuple[NewEvent, str, str, str | None]] = []  # event, id, endpoint, url
    for event in wanted:
        override = (
            event.webhook_url if event.webhook_url_known else urls.get(event.message_id or "")
        )
        chosen = _targets(endpoints[event.account_id], event.type, override)
        if not chosen:
            continue
        event_id = time_ordered_id(event.at)
        event_rows.append(
            {
                "id": event_id,
                "account_id": event.account_id,
                "type": event.type,
                "message_id": event.message_id,
                "data": json.dumps(event.data, ensure_ascii=False, separators=(",", ":")),
                "created_at": event.at,
            }
        )
        targets.extend((event, event_id, ep, url) for ep, url in chosen)
    if not targets:
        return 0

    active = await _active_chains(
        conn,
        {(ep, _chain(ev)) for ev, _, ep, _ in targets if _chain(ev) is not None},
    )
    delivery_rows: list[dict[str, Any]] = []
    for event, event_id, endpoint_id, url in targets:
        chain = _chain(event)
        queued = chain is not None and (endpoint_id, chain) in active
        if chain is not None:
            active.add((endpoint_id, chain))
        delivery_rows.append(
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "account_id": event.account_id,
                "url": url,
                "chain": chain,
                "state": wh.QUEUED if queued else wh.PENDING,
                "attempts": 0,
                "next_at": None if queued else event.at,
                "created_at": event.at,
                "updated_at": event.at,
            }
        )
    await conn.execute(webhook_events.insert(), event_rows)
    await conn.execute(webhook_deliveries.insert(), delivery_rows)
    return len(delivery_rows)


def _chain(event: NewEvent) -> str | None:
    return event.chain or event.message_id


def _targets(
    endpoints: list[Any], event_type: str, override: str | None
) -> list[tuple[str, str | None]]:
    """(endpoint id, URL override) pairs that get an event of this type."""
    subscribed = [ep for ep in endpoints if event_type in ep.events.split(",")]
    if override is None:
        return [(ep.id, None) for ep in subscribed]
    out: list[tuple[str, str | None]] = []
    overridden = False
    for ep in subscribed:
        if ep.format != wh.STANDARD_FORMAT:
            out.append((ep.id, None))
        elif not overridden:
            out.append((ep.id, override))
            overridden = True
    return out


async def _override_urls(conn: AsyncConnection, events: Sequence[NewEvent]) -> dict[str, str]:
    """The ``webhookUrl`` of the messages whose events did not bring it."""
    ids = sorted({e.message_id for e in events if not e.webhook_url_known and e.message_id})
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(
            sa.select(messages.c.id, messages.c.webhook_url).where(
                messages.c.id.in_(chunk), messages.c.webhook_url.is_not(None)
            )
        )
        found.update({r.id: r.webhook_url for r in rows})
    return found


async def _active_chains(
    conn: AsyncConnection, keys: set[tuple[str, str | None]]
) -> set[tuple[str, str | None]]:
    """Which (endpoint, chain) pairs have a queued or pending delivery (locked on PostgreSQL)."""
    found: set[tuple[str, str | None]] = set()
    d = webhook_deliveries.c
    by_endpoint: dict[str, list[str]] = defaultdict(list)
    for endpoint_id, chain in keys:
        if chain is not None:
            by_endpoint[endpoint_id].append(chain)
    for endpoint_id, chains in by_endpoint.items():
        for chunk in _chunks(sorted(chains)):
            query = sa.select(d.id, d.chain).where(
                d.endpoint_id == endpoint_id,
                d.chain.in_(chunk),
                d.state.in_((wh.QUEUED, wh.PENDING)),
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            for row in await conn.execute(query):
                found.add((endpoint_id, row.chain))
    return found


async def emit_in(
    conn: AsyncConnection,
    account_id: int,
    event_type: str,
    data: Mapping[str, Any],
    *,
    at: int,
    chain: str | None = None,
    message_id: str | None = None,
) -> int:
    """Record one event inside the caller's transaction (a group-commit handler).

    The entry point for services that write their own rows (link clicks, say): the event is
    committed, or rolled back, with them. Returns how many deliveries were queued.
    """
    if event_type not in wh.EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: one of {wh.EVENT_TYPES}")
    event = NewEvent(
        account_id=account_id,
        type=event_type,
        data=dict(data),
        at=at,
        message_id=message_id,
        chain=chain,
        webhook_url_known=message_id is None,
    )
    return await fan_out(conn, [event])
