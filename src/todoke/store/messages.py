"""Message storage: the accept transaction, reads scoped by account, cancellation.

Every write runs as a job of the :class:`~todoke.store.writer.GroupCommitter`; the handlers here
receive the payloads of many concurrent requests at once and write them with ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain.message import Message, MessageEvent, MessageFilter
from todoke.domain.protection import AcceptGuard
from todoke.domain.webhooks import MESSAGE_FINAL
from todoke.errors import DuplicateClientTag, IdempotencyKeyReused, NotCancellable, NotFound
from todoke.services.ports import AcceptResult, IdempotencyRequest, Replay
from todoke.services.webhook_types import NewEvent
from todoke.store.database import Database
from todoke.store.fastsql import Batch
from todoke.store.outbox import accepted_event, fan_out
from todoke.store.protection import guard_accept
from todoke.store.tables import idempotency_keys, message_events, messages
from todoke.store.writer import GroupCommitter

_IN_CHUNK = 400  # rows per IN (...) lookup; keeps SQLite far below its variable limit


@dataclass(frozen=True, slots=True)
class _AcceptJob:
    account_id: int
    rows: Sequence[dict[str, Any]]
    idempotency: IdempotencyRequest | None
    now: int
    guard: AcceptGuard | None = None


def row_to_message(row: Any) -> Message:
    m = row._mapping
    return Message(
        id=m["id"],
        account_id=m["account_id"],
        to=m["to_number"],
        text=m["text"],
        encoding=m["encoding"],
        parts=m["parts"],
        characters=m["characters"],
        status=m["status"],
        status_group=m["status_group"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        validity_until=m["validity_until"],
        sender_code=m["sender_code"],
        carrier=m["carrier"],
        carrier_explicit=bool(m["carrier_explicit"]),
        client_tag=m["client_tag"],
        group_tag=m["group_tag"],
        webhook_url=m["webhook_url"],
        schedule_at=m["schedule_at"],
        error_code=m["error_code"],
        cause=m["cause"],
        attempts=m["attempts"],
        delivered_parts=m["delivered_parts"],
        billable_parts=m["billable_parts"],
        due_at=m["due_at"],
        sent_at=m["sent_at"],
        done_at=m["done_at"],
        batch_id=m["batch_id"],
        facade_data=m["facade_data"],
    )


def _message_from_insert(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        account_id=row["account_id"],
        to=row["to_number"],
        text=row["text"],
        encoding=row["encoding"],
        parts=row["parts"],
        characters=row["characters"],
        status=row["status"],
        status_group=row["status_group"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        validity_until=row["validity_until"],
        sender_code=row["sender_code"],
        carrier=row["carrier"],
        carrier_explicit=row["carrier_explicit"],
        client_tag=row["client_tag"],
        group_tag=row["group_tag"],
        webhook_url=row["webhook_url"],
        schedule_at=row["schedule_at"],
        due_at=row["due_at"],
        batch_id=row.get("batch_id"),
        facade_data=row.get("facade_data"),
        error_code=row.get("error_code"),
        cause=row.get("cause"),
        done_at=row.get("done_at"),
    )


def _guard_detail(row: dict[str, Any]) -> str | None:
    """The event detail of a message a guard refused at acceptance."""
    if row.get("cause") is None:
        return None
    return json.dumps({"reason": row["cause"], "stage": "accept"})


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MessageStore:
    """Reads and writes of messages; every method is scoped to one account."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    # --- accept ------------------------------------------------------------------------

    async def accept(
        self,
        account_id: int,
        rows: Sequence[dict[str, Any]],
        *,
        now: int,
        idempotency: IdempotencyRequest | None = None,
        guard: AcceptGuard | None = None,
    ) -> AcceptResult:
        """Store new messages durably; one result per row (the message or its refusal).

        Returns a :class:`Replay` instead when the Idempotency-Key was seen with the same
        request. Raises :class:`IdempotencyKeyReused` when it was seen with another one.
        With a ``guard``, rows that must not be sent are stored as final REJECTED messages and
        a request over its quota raises :class:`~todoke.errors.QuotaExceeded`.
        """
        job = _AcceptJob(account_id, rows, idempotency, now, guard)
        result: AcceptResult = await self._writer.submit(_accept_handler, job)
        return result

    # --- reads -------------------------------------------------------------------------

    async def get(self, account_id: int, message_id: str) -> Message:
        """The message, or :class:`NotFound` (also for another account's message)."""
        query = sa.select(messages).where(
            messages.c.id == message_id, messages.c.account_id == account_id
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no message {message_id}")
        return row_to_message(row)

    async def find(self, account_id: int, flt: MessageFilter) -> list[Message]:
        """Newest first; continue with ``before_id`` = the last id of the previous page."""
        c = messages.c
        conditions: list[sa.ColumnElement[bool]] = [c.account_id == account_id]
        if flt.client_tag is not None:
            conditions.append(c.client_tag == flt.client_tag)
        if flt.group_tag is not None:
            conditions.append(c.group_tag == flt.group_tag)
        if flt.status_group is not None:
            conditions.append(c.status_group == flt.status_group)
        if flt.status is not None:
            conditions.append(c.status == flt.status)
        if flt.to is not None:
            conditions.append(c.to_number == flt.to)
        if flt.created_from is not None:
            conditions.append(c.created_at >= flt.created_from)
        if flt.created_to is not None:
            conditions.append(c.created_at < flt.created_to)
        if flt.updated_from is not None:
            conditions.append(c.updated_at >= flt.updated_from)
        if flt.updated_to is not None:
            conditions.append(c.updated_at < flt.updated_to)
        if flt.before_id is not None:
            conditions.append(c.id < flt.before_id)
        if flt.final is not None:
            conditions.append(c.status_group != 1 if flt.final else c.status_group == 1)
        if flt.sent_from is not None:
            conditions.append(c.sent_at >= flt.sent_from)
        if flt.sent_to is not None:
            conditions.append(c.sent_at < flt.sent_to)
        query = sa.select(messages).where(*conditions).order_by(c.id.desc()).limit(flt.limit)
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [row_to_message(r) for r in rows]

    async def events(self, account_id: int, message_id: str) -> list[MessageEvent]:
        """The status history of one message, oldest first."""
        await self.get(account_id, message_id)  # NotFound for another account's message
        query = (
            sa.select(message_events)
            .where(
                message_events.c.message_id == message_id,
                message_events.c.account_id == account_id,
            )
            .order_by(message_events.c.id)
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            MessageEvent(
                id=r.id,
                message_id=r.message_id,
                status=r.status,
                status_group=r.status_group,
                created_at=r.created_at,
                error_code=r.error_code,
                attempt=r.attempt,
                detail=json.loads(r.detail) if r.detail else {},
            )
            for r in rows
        ]

    # --- cancellation ----------------------------------------------------------------

    async def cancel(
        self,
        account_id: int,
        message_id: str,
        *,
        cancellable: Sequence[str],
        status: str,
        status_group: int,
        now: int,
    ) -> Message:
        """Move one not-yet-sent message to ``status``; NotFound / NotCancellable otherwise."""
        job = _CancelJob(account_id, message_id, tuple(cancellable), status, status_group, now)
        result: Message = await self._writer.submit(_cancel_one_handler, job)
        return result

    async def cancel_many(
        self,
        account_id: int,
        *,
        group_tag: str | None,
        schedule_from: int | None,
        schedule_to: int | None,
        cancellable: Sequence[str],
        status: str,
        status_group: int,
        now: int,
    ) -> list[str]:
        """Cancel every scheduled, unsent message matching; returns the cancelled ids."""
        job = _CancelManyJob(
            account_id,
            group_tag,
            schedule_from,
            schedule_to,
            tuple(cancellable),
            status,
            status_group,
            now,
        )
        result: list[str] = await self._writer.submit(_cancel_many_handler, job)
        return result


# --- write handlers (run inside the group transaction) ----------------------------------


async def _accept_handler(
    conn: AsyncConnection, jobs: Sequence[_AcceptJob]
) -> list[AcceptResult | Exception]:
    results: list[AcceptResult | Exception | _PendingReplay | None] = [None] * len(jobs)

    # 1. Idempotency keys: a replay or a conflict settles the job before anything is written.
    keyed = [(i, j) for i, j in enumerate(jobs) if j.idempotency is not None]
    if keyed:
        idents = [(j.account_id, j.idempotency.key) for _, j in keyed if j.idempotency]
        stored = await _load_idempotency(conn, idents)
        seen_in_batch: dict[tuple[int, str], int] = {}
        for i, job in keyed:
            idem = job.idempotency
            assert idem is not None
            ident = (job.account_id, idem.key)
            previous = stored.get(ident)
            if previous is not None and previous[3] >= job.now:
                request_hash, status_code, body, _ = previous
                if request_hash != idem.request_hash:
                    results[i] = IdempotencyKeyReused(
                        "this Idempotency-Key was used with a different request"
                    )
                else:
                    results[i] = Replay(status_code, body)
            elif ident in seen_in_batch:
                # Two concurrent requests with one key in the same batch: the first one wins,
                # the second is answered like a retry once the first has been rendered below.
                results[i] = _PendingReplay(seen_in_batch[ident])
            else:
                seen_in_batch[ident] = i

    # 2. clientTag uniqueness per account, against stored rows and within this batch.
    wanted: list[tuple[int, str]] = []
    for i, job in enumerate(jobs):
        if results[i] is None:
            wanted.extend((job.account_id, r["client_tag"]) for r in job.rows if r["client_tag"])
    taken = await _existing_client_tags(conn, wanted) if wanted else set()

    kept: dict[int, list[Message | Exception | dict[str, Any]]] = {}
    for i, job in enumerate(jobs):
        if results[i] is not None:
            continue
        slots: list[Message | Exception | dict[str, Any]] = []
        for row in job.rows:
            tag = row["client_tag"]
            if tag is not None:
                ident = (job.account_id, tag)
                if ident in taken:
                    slots.append(DuplicateClientTag(f"clientTag {tag!r} is already used"))
                    continue
                taken.add(ident)
            slots.append(row)
        kept[i] = slots

    # 3. The guards (blocklists, flooding, duplicates, quotas): see store/protection.py.
    guarded = [(i, j) for i, j in enumerate(jobs) if i in kept and j.guard is not None]
    if guarded:
        refusals = await guard_accept(
            conn,
            [
                (j.account_id, j.guard, [r for r in kept[i] if isinstance(r, dict)])
                for i, j in guarded
                if j.guard is not None
            ],
            jobs[0].now,
        )
        for (i, _), refusal in zip(guarded, refusals, strict=True):
            if refusal is not None:
                results[i] = refusal
                del kept[i]

    message_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    idem_rows: list[dict[str, Any]] = []
    idem_delete: list[tuple[int, str]] = []
    for i, job in enumerate(jobs):
        if i not in kept:
            continue
        items: list[Message | Exception] = []
        for slot in kept[i]:
            if not isinstance(slot, dict):
                items.append(slot)
                continue
            row = slot
            message_rows.append(row)
            event_rows.append(
                {
                    "message_id": row["id"],
                    "account_id": row["account_id"],
                    "status": row["status"],
                    "status_group": row["status_group"],
                    "error_code": row.get("error_code"),
                    "attempt": None,
                    "detail": _guard_detail(row),
                    "created_at": row["created_at"],
                }
            )
            items.append(_message_from_insert(row))
        results[i] = items
        if job.idempotency is not None:
            status_code, body = job.idempotency.render(items)
            idem_delete.append((job.account_id, job.idempotency.key))
            idem_rows.append(
                {
                    "account_id": job.account_id,
                    "key": job.idempotency.key,
                    "request_hash": job.idempotency.request_hash,
                    "status_code": status_code,
                    "response": body,
                    "created_at": job.now,
                    "expires_at": job.idempotency.expires_at,
                }
            )

    if message_rows:
        await _insert_messages(conn, message_rows)
        await INSERT_EVENTS.execute(conn, event_rows)
        await fan_out(conn, [accepted_event(r) for r in message_rows])
    if idem_rows:
        # An expired key may still be stored: replace it.
        for chunk in _chunks(idem_delete):
            await conn.execute(
                idempotency_keys.delete().where(
                    sa.tuple_(idempotency_keys.c.account_id, idempotency_keys.c.key).in_(chunk)
                )
            )
        await conn.execute(idempotency_keys.insert(), idem_rows)

    final: list[AcceptResult | Exception] = []
    for i, res in enumerate(results):
        if isinstance(res, _PendingReplay):
            first = jobs[res.index].idempotency
            first_result = results[res.index]
            assert first is not None
            if isinstance(first_result, Exception):  # the first one was refused (quota)
                final.append(first_result)
                continue
            assert isinstance(first_result, list)
            if first.request_hash != jobs[i].idempotency.request_hash:  # type: ignore[union-attr]
                final.append(IdempotencyKeyReused("this Idempotency-Key is in use"))
            else:
                final.append(Replay(*first.render(first_result)))
        else:
            assert res is not None
            final.append(res)
    return final


EVENT_KEYS = (
    "message_id",
    "account_id",
    "status",
    "status_group",
    "error_code",
    "attempt",
    "detail",
    "created_at",
)
INSERT_EVENTS = Batch(message_events.insert(), EVENT_KEYS)
"""Status events (accept here, every later status in store/delivery.py): plain values only."""

_MESSAGE_INSERTS: dict[tuple[str, ...], Batch] = {}


async def _insert_messages(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert accepted rows (``MessageService.prepare``'s, plain values only) with one
    driver-level ``executemany`` per set of columns (there is one: every row comes from
    ``prepare``), compiled once per column set."""
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(row), []).append(row)
    for keys, group in by_keys.items():
        batch = _MESSAGE_INSERTS.get(keys)
        if batch is None:
            batch = _MESSAGE_INSERTS[keys] = Batch(messages.insert(), keys)
        await batch.execute(conn, group)


@dataclass(frozen=True, slots=True)
class _PendingReplay:
    index: int


async def _load_idempotency(
    conn: AsyncConnection, idents: list[tuple[int, str]]
) -> dict[tuple[int, str], tuple[str, int, bytes, int]]:
    found: dict[tuple[int, str], tuple[str, int, bytes, int]] = {}
    t = idempotency_keys.c
    for chunk in _chunks(idents):
        rows = await conn.execute(
            sa.select(
                t.account_id, t.key, t.request_hash, t.status_code, t.response, t.expires_at
            ).where(sa.tuple_(t.account_id, t.key).in_(chunk))
        )
        for r in rows:
            found[(r.account_id, r.key)] = (r.request_hash, r.status_code, r.response, r.expires_at)
    return found


async def _existing_client_tags(
    conn: AsyncConnection, idents: list[tuple[int, str]]
) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    c = messages.c
    for chunk in _chunks(idents):
        rows = await conn.execute(
            sa.select(c.account_id, c.client_tag).where(
                sa.tuple_(c.account_id, c.client_tag).in_(chunk)
            )
        )
        found.update((r.account_id, r.client_tag) for r in rows)
    return found


@dataclass(frozen=True, slots=True)
class _CancelJob:
    account_id: int
    message_id: str
    cancellable: tuple[str, ...]
    status: str
    status_group: int
    now: int


@dataclass(frozen=True, slots=True)
class _CancelManyJob:
    account_id: int
    group_tag: str | None
    schedule_from: int | None
    schedule_to: int | None
    cancellable: tuple[str, ...]
    status: str
    status_group: int
    now: int


def _cancel_values(status: str, status_group: int, now: int) -> dict[str, Any]:
    return {
        "status": status,
        "status_group": status_group,
        "due_at": None,
        "updated_at": now,
        "done_at": now,
    }


_CANCEL_DETAIL = {"reason": "cancelled by the account"}


def _cancelled(message_id: str, job: _CancelManyJob) -> NewEvent:
    return NewEvent(
        account_id=job.account_id,
        type=MESSAGE_FINAL,
        data={"status": job.status, "final": True, "detail": _CANCEL_DETAIL},
        at=job.now,
        message_id=message_id,
        webhook_url_known=False,
    )


def _cancel_event(
    message_id: str, account_id: int, job: _CancelJob | _CancelManyJob
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "account_id": account_id,
        "status": job.status,
        "status_group": job.status_group,
        "error_code": None,
        "attempt": None,
        "detail": json.dumps({"reason": "cancelled by the account"}),
        "created_at": job.now,
    }


async def _cancel_one_handler(
    conn: AsyncConnection, jobs: Sequence[_CancelJob]
) -> list[Message | Exception]:
    out: list[Message | Exception] = []
    c = messages.c
    for job in jobs:
        # Conditional UPDATE: the dispatcher claims with the same kind of statement, so exactly
        # one of "cancel" and "send" wins for a message.
        result = await conn.execute(
            messages.update()
            .where(
                c.id == job.message_id,
                c.account_id == job.account_id,
                c.status.in_(job.cancellable),
                c.lease_owner.is_(None),
            )
            .values(**_cancel_values(job.status, job.status_group, job.now))
            .returning(*messages.c)
        )
        row = result.first()
        if row is None:
            exists = await conn.execute(
                sa.select(c.id).where(c.id == job.message_id, c.account_id == job.account_id)
            )
            if exists.first() is None:
                out.append(NotFound(f"no message {job.message_id}"))
            else:
                out.append(NotCancellable("the message has already been sent or is final"))
            continue
        await conn.execute(message_events.insert(), [_cancel_event(row.id, row.account_id, job)])
        await fan_out(conn, [accepted_event(row._mapping, detail=_CANCEL_DETAIL)])
        out.append(row_to_message(row))
    return out


async def _cancel_many_handler(
    conn: AsyncConnection, jobs: Sequence[_CancelManyJob]
) -> list[list[str]]:
    out: list[list[str]] = []
    c = messages.c
    for job in jobs:
        conditions = [
            c.account_id == job.account_id,
            c.status.in_(job.cancellable),
            c.lease_owner.is_(None),
            c.schedule_at.is_not(None),
        ]
        if job.group_tag is not None:
            conditions.append(c.group_tag == job.group_tag)
        if job.schedule_from is not None:
            conditions.append(c.schedule_at >= job.schedule_from)
        if job.schedule_to is not None:
            conditions.append(c.schedule_at < job.schedule_to)
        result = await conn.execute(
            messages.update()
            .where(*conditions)
            .values(**_cancel_values(job.status, job.status_group, job.now))
            .returning(c.id)
        )
        ids = [r.id for r in result]
        if ids:
            await conn.execute(
                message_events.insert(), [_cancel_event(i, job.account_id, job) for i in ids]
            )
            await fan_out(conn, [_cancelled(i, job) for i in ids])
        out.append(ids)
    return out
