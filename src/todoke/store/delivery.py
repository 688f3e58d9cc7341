"""Delivery storage: claiming due messages, attempts and parts, receipts, state transitions.

Claims are portable: one conditional UPDATE … WHERE id IN (due, unleased) with RETURNING works
on SQLite and PostgreSQL; on PostgreSQL the inner SELECT adds ``FOR UPDATE SKIP LOCKED`` so
that several dispatch processes never wait on each other's rows. Every write goes through the
process's group committer.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain.message import Message
from todoke.domain.status import HELD
from todoke.services.ports import (
    AttemptStart,
    AttemptView,
    PartState,
    ReceiptDecision,
    ReceiptIn,
    SubmitRecord,
    Transition,
)
from todoke.store.database import Database
from todoke.store.fastsql import Batch, any_of
from todoke.store.messages import INSERT_EVENTS as _INSERT_EVENTS
from todoke.store.messages import row_to_message
from todoke.store.outbox import fan_out, transition_event
from todoke.store.tables import (
    attempt_parts,
    attempts,
    messages,
    orphan_receipts,
    ported_numbers,
)
from todoke.store.writer import GroupCommitter

_CHUNK = 400
_FINAL_GROUPS = (2, 3, 4, 5)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True, slots=True)
class _Claim:
    owner: str
    now: int
    limit: int
    lease_until: int
    skip_locked: bool


class DeliveryStore:
    """The dispatcher's view of storage."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    async def claim(self, owner: str, *, now: int, limit: int, lease_ms: int) -> list[Message]:
        """Lease up to ``limit`` messages whose ``due_at`` has come, oldest due first."""
        job = _Claim(owner, now, limit, now + lease_ms, not self._db.is_sqlite)
        rows: list[Message] = await self._writer.submit(_claim_handler, job)
        return rows

    async def ported_carriers(self, numbers: Sequence[str]) -> dict[str, str]:
        """Carrier of each number found in the imported ported-number table."""
        found: dict[str, str] = {}
        if not numbers:
            return found
        async with self._db.connect() as conn:
            # Most platforms import no ported numbers: a one-row probe spares the lookup of
            # every claimed number.
            probe = await conn.execute(sa.select(ported_numbers.c.number).limit(1))
            if probe.first() is None:
                return found
            for chunk in _chunks(sorted(set(numbers))):
                rows = await conn.execute(
                    sa.select(ported_numbers.c.number, ported_numbers.c.carrier).where(
                        ported_numbers.c.number.in_(chunk)
                    )
                )
                found.update({r.number: r.carrier for r in rows})
        return found

    async def apply(self, owner: str, transitions: Sequence[Transition]) -> None:
        """Apply decisions taken on claimed messages (expire, hold, requeue, reject)."""
        if transitions:
            await self._writer.submit(_transitions_handler, (owner, tuple(transitions)))

    async def begin_attempts(
        self, owner: str, starts: Sequence[AttemptStart], transitions: Sequence[Transition]
    ) -> None:
        """Write the attempt rows (state ``sending``) before anything is submitted."""
        await self._writer.submit(_begin_handler, (owner, tuple(starts), tuple(transitions)))

    async def record_submit(
        self, owner: str, record: SubmitRecord, decide: ReceiptDecision
    ) -> None:
        """Store the acknowledged parts and the message's next state; match early receipts."""
        await self._writer.submit(_submit_handler, (owner, record, decide))

    async def apply_receipts(self, receipts: Sequence[ReceiptIn], decide: ReceiptDecision) -> None:
        """Correlate receipts to parts (or keep them as orphans) and move their messages."""
        await self._writer.submit(_receipts_handler, (tuple(receipts), decide))

    async def release_held(self, *, now: int) -> int:
        """Make every message held for maintenance due ``now`` (not those being handled)."""
        released: int = await self._writer.submit(_release_held_handler, now)
        return released

    async def purge_orphans(self, *, before: int) -> int:
        """Delete orphan receipts received before ``before``; how many went."""
        deleted: int = await self._writer.submit(_purge_orphans_handler, before)
        return deleted


# --- handlers ---------------------------------------------------------------------------


async def _claim_handler(conn: AsyncConnection, jobs: Sequence[_Claim]) -> list[list[Message]]:
    out: list[list[Message]] = []
    c = messages.c
    for job in jobs:
        due = (
            sa.select(c.id)
            .where(
                c.due_at <= job.now,
                sa.or_(c.lease_owner.is_(None), c.lease_until < job.now),
            )
            .order_by(c.due_at, c.id)
            .limit(job.limit)
        )
        if job.skip_locked:
            due = due.with_for_update(skip_locked=True)
        result = await conn.execute(
            messages.update()
            .where(
                c.id.in_(due.scalar_subquery()),
                sa.or_(c.lease_owner.is_(None), c.lease_until < job.now),
            )
            .values(lease_owner=job.owner, lease_until=job.lease_until)
            .returning(*messages.c)
        )
        claimed = [row_to_message(r) for r in result]
        claimed.sort(key=lambda m: (m.due_at or 0, m.id))
        out.append(claimed)
    return out


_UPDATE = Batch(
    messages.update()
    .where(messages.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        status_group=sa.bindparam("b_group"),
        cause=sa.bindparam("b_cause"),
        error_code=sa.bindparam("b_error"),
        due_at=sa.bindparam("b_due"),
        updated_at=sa.bindparam("b_at"),
        done_at=sa.func.coalesce(sa.bindparam("b_done", type_=sa.BigInteger), messages.c.done_at),
        sent_at=sa.func.coalesce(messages.c.sent_at, sa.bindparam("b_sent", type_=sa.BigInteger)),
        attempts=sa.func.coalesce(
            sa.bindparam("b_attempts", type_=sa.SmallInteger), messages.c.attempts
        ),
        carrier=sa.func.coalesce(sa.bindparam("b_carrier", type_=sa.String), messages.c.carrier),
        delivered_parts=sa.func.coalesce(
            sa.bindparam("b_delivered", type_=sa.SmallInteger), messages.c.delivered_parts
        ),
        billable_parts=sa.func.coalesce(
            sa.bindparam("b_billable", type_=sa.SmallInteger), messages.c.billable_parts
        ),
        lease_owner=sa.bindparam("b_owner", type_=sa.String),
        lease_until=sa.bindparam("b_until", type_=sa.BigInteger),
    )
)
_PART_KEYS = ("attempt_id", "message_id", "seq", "connector", "smsc_id", "smsc_id_raw", "state")
_INSERT_PARTS = Batch(attempt_parts.insert(), _PART_KEYS)
_ATTEMPT_KEYS = (
    "id",
    "message_id",
    "account_id",
    "number",
    "connector",
    "carrier",
    "state",
    "cause",
    "parts",
    "created_at",
)
_INSERT_ATTEMPTS = Batch(attempts.insert(), _ATTEMPT_KEYS)
_ORPHAN_KEYS = ("connector", "smsc_id", "stat", "err", "received_at")
_INSERT_ORPHANS = Batch(orphan_receipts.insert(), _ORPHAN_KEYS)


_ATTEMPT_SUBMITTED = Batch(
    attempts.update()
    .where(attempts.c.id == sa.bindparam("b_aid"))
    .values(
        state=sa.bindparam("b_state"),
        cause=sa.bindparam("b_cause"),
        submitted_at=sa.bindparam("b_submitted"),
        done_at=sa.bindparam("b_done"),
    )
)


async def _write_transitions(
    conn: AsyncConnection,
    transitions: Sequence[Transition],
    *,
    owner: str | None,
    lease_until: dict[str, int | None] | None = None,
) -> None:
    """Update the messages and append their events (one executemany each)."""
    if not transitions:
        return
    params: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for t in transitions:
        keep = t.keep_lease and owner is not None
        params.append(
            {
                "b_id": t.message_id,
                "b_status": t.status,
                "b_group": t.status_group,
                "b_cause": t.cause,
                "b_error": t.error_code,
                "b_due": t.due_at,
                "b_at": t.at,
                "b_done": t.at if t.final else None,
                "b_sent": t.at if t.sent else None,
                "b_attempts": t.attempts,
                "b_carrier": t.carrier,
                "b_delivered": t.delivered_parts,
                "b_billable": t.billable_parts,
                "b_owner": owner if keep else None,
                "b_until": (lease_until or {}).get(t.message_id) if keep else None,
            }
        )
        if not t.event:
            continue
        events.append(
            {
                "message_id": t.message_id,
                "account_id": t.account_id,
                "status": t.status,
                "status_group": t.status_group,
                "error_code": t.error_code,
                "attempt": t.attempt,
                "detail": json.dumps(t.detail, ensure_ascii=False) if t.detail else None,
                "created_at": t.at,
            }
        )
    await _UPDATE.execute(conn, params)
    await _INSERT_EVENTS.execute(conn, events)
    # The webhook outbox, in the same transaction: a status change is never unreported.
    await fan_out(conn, [transition_event(t) for t in transitions if t.event])


async def _transitions_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[str, tuple[Transition, ...]]]
) -> list[None]:
    for owner, transitions in jobs:
        await _write_transitions(conn, transitions, owner=owner)
    return [None] * len(jobs)


async def _begin_handler(
    conn: AsyncConnection,
    jobs: Sequence[tuple[str, tuple[AttemptStart, ...], tuple[Transition, ...]]],
) -> list[None]:
    rows: list[dict[str, Any]] = []
    for _owner, starts, _ in jobs:
        rows.extend(
            {
                "id": s.id,
                "message_id": s.message_id,
                "account_id": s.account_id,
                "number": s.number,
                "connector": s.connector,
                "carrier": s.carrier,
                "state": "sending",
                "cause": None,
                "parts": s.parts,
                "created_at": s.at,
            }
            for s in starts
        )
    if rows:
        # A worker that died mid-submit left its attempt "sending": the outcome is unknown (the
        # SMSC may have it). Mark those before this new attempt of the same message.
        ids = [r["message_id"] for r in rows]
        for chunk in _chunks(ids):
            await conn.execute(
                attempts.update()
                .where(
                    any_of(attempts.c.message_id, chunk, conn.dialect),
                    attempts.c.state == "sending",
                )
                .values(state="unknown")
            )
        await _INSERT_ATTEMPTS.execute(conn, rows)
    for owner, starts, transitions in jobs:
        lease = {s.message_id: t.due_at for s, t in zip(starts, transitions, strict=True)}
        await _write_transitions(conn, transitions, owner=owner, lease_until=lease)
    return [None] * len(jobs)


async def _submit_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[str, SubmitRecord, ReceiptDecision]]
) -> list[None]:
    # Recording is idempotent and never overtakes a newer attempt: an attempt still
    # ``sending`` is recorded in full; one already recorded (a retry whose first commit went
    # through but whose answer was lost) is skipped; one marked ``unknown`` (its lease ran out
    # and the message was claimed again) only gets its parts, so that its receipts correlate.
    states = await _attempt_states(conn, [rec.attempt_id for _, rec, _ in jobs])
    current = [j for j in jobs if states.get(j[1].attempt_id) == "sending"]
    late = [j for j in jobs if states.get(j[1].attempt_id) == "unknown"]
    part_rows: list[dict[str, Any]] = []
    # (connector, key an early receipt may be stored under) -> the part's own key
    orphan_keys: dict[tuple[str, str], str] = {}
    for _owner, rec, _ in [*current, *late]:
        for p in rec.parts:
            for key in (p.smsc_id, *p.receipt_keys):
                orphan_keys.setdefault((rec.connector, key), p.smsc_id)
        part_rows.extend(
            {
                "attempt_id": rec.attempt_id,
                "message_id": rec.message_id,
                "seq": p.seq,
                "connector": rec.connector,
                "smsc_id": p.smsc_id,
                "smsc_id_raw": p.smsc_id_raw,
                "state": "submitted",
            }
            for p in rec.parts
        )
    await _INSERT_PARTS.execute(conn, part_rows)
    # One executemany for every attempt and one for every message of the group: a commit
    # carries hundreds of submissions, and a statement each would be most of its time.
    await _ATTEMPT_SUBMITTED.execute(
        conn,
        [
            {
                "b_aid": rec.attempt_id,
                "b_state": rec.attempt_state,
                "b_cause": rec.cause,
                "b_submitted": rec.transition.at,
                "b_done": rec.transition.at if rec.attempt_state == "failed" else None,
            }
            for _owner, rec, _ in current
        ],
    )
    by_owner: dict[str, list[Transition]] = defaultdict(list)
    for owner, rec, _ in current:
        by_owner[owner].append(rec.transition)
    for owner, transitions in by_owner.items():
        await _write_transitions(conn, transitions, owner=owner)
    # Receipts that overtook their submit_sm_resp wait as orphans: match them now. Orphans
    # are rare and short-lived, so one cheap probe usually saves the keyed lookup.
    if part_rows:
        await _lock_correlation(conn, orphan_keys)
    if part_rows and await _any_orphans(conn):
        pairs = sorted(orphan_keys)
        early: list[Any] = []
        for chunk in _chunks(pairs):
            found = await conn.execute(
                sa.select(orphan_receipts).where(
                    sa.tuple_(orphan_receipts.c.connector, orphan_receipts.c.smsc_id).in_(chunk)
                )
            )
            early.extend(found)
        if early:
            await conn.execute(
                orphan_receipts.delete().where(orphan_receipts.c.id.in_([o.id for o in early]))
            )
            decide = jobs[0][2]
            receipts = [
                ReceiptIn(
                    o.connector,
                    (orphan_keys[(o.connector, o.smsc_id)],),
                    o.stat,
                    o.err,
                    o.received_at,
                )
                for o in early
            ]
            await _apply_receipts(conn, receipts, decide)
    return [None] * len(jobs)


async def _attempt_states(conn: AsyncConnection, attempt_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    a = attempts.c
    for chunk in _chunks(attempt_ids):
        rows = await conn.execute(sa.select(a.id, a.state).where(any_of(a.id, chunk, conn.dialect)))
        found.update({r.id: r.state for r in rows})
    return found


async def _release_held_handler(conn: AsyncConnection, nows: Sequence[int]) -> list[int]:
    now = max(nows)
    c = messages.c
    result = await conn.execute(
        messages.update()
        .where(c.status == HELD.name, c.due_at > now, c.lease_owner.is_(None))
        .values(due_at=now)
    )
    return [result.rowcount] + [0] * (len(nows) - 1)


async def _purge_orphans_handler(conn: AsyncConnection, cutoffs: Sequence[int]) -> list[int]:
    result = await conn.execute(
        orphan_receipts.delete().where(orphan_receipts.c.received_at < min(cutoffs))
    )
    return [result.rowcount] + [0] * (len(cutoffs) - 1)


_LOCK_KEYS = sa.text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:keys AS BIGINT[])) AS k "
    "ORDER BY k) AS keys"
)


async def _lock_correlation(conn: AsyncConnection, pairs: Iterable[tuple[str, str]]) -> None:
    """Serialise, on PostgreSQL, the storing of a part and of a receipt for it.

    Two processes may handle one message: one records its submission (the part) while
    another, bound to the same SMSC account, stores its receipt. Under READ COMMITTED each
    could miss the other's uncommitted row, leaving the receipt an orphan that no part ever
    claims. Both take a transaction-scoped advisory lock on the receipt's correlation key (the
    recorder on every key a receipt for its part may carry) before looking for the other, so
    the second to come sees the first's committed row. Keys are locked in order: no deadlock
    between two such transactions. SQLite has one writer at a time and needs none of this.
    """
    if conn.dialect.name != "postgresql":
        return
    keys = sorted({_lock_key(connector, key) for connector, key in pairs})
    if keys:
        await conn.execute(_LOCK_KEYS, {"keys": keys})


def _lock_key(connector: str, key: str) -> int:
    digest = hashlib.blake2b(f"{connector}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _any_orphans(conn: AsyncConnection) -> bool:
    found = await conn.execute(sa.select(orphan_receipts.c.id).limit(1))
    return found.first() is not None


async def _receipts_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[tuple[ReceiptIn, ...], ReceiptDecision]]
) -> list[None]:
    # Every receipt of the group in one pass (a connector hands them on one by one).
    by_decide: dict[ReceiptDecision, list[ReceiptIn]] = {}
    for receipts, decide in jobs:
        by_decide.setdefault(decide, []).extend(receipts)
    for decide, grouped in by_decide.items():
        await _apply_receipts(conn, grouped, decide)
    return [None] * len(jobs)


_PART_RECEIPT = Batch(
    attempt_parts.update()
    .where(attempt_parts.c.id == sa.bindparam("b_pid"))
    .values(
        state=sa.bindparam("b_state"),
        stat=sa.bindparam("b_stat"),
        err=sa.bindparam("b_err"),
        receipt_at=sa.bindparam("b_at"),
    )
)
_ATTEMPT_DONE = Batch(
    attempts.update()
    .where(attempts.c.id == sa.bindparam("b_aid"))
    .values(
        state=sa.bindparam("b_state"),
        cause=sa.bindparam("b_cause"),
        done_at=sa.bindparam("b_done"),
    )
)


def _part_state(stat: str) -> str | None:
    if stat == "DELIVRD":
        return "delivered"
    if stat in ("ENROUTE", "ACCEPTD"):
        return None  # intermediate: the part is still on its way
    return "failed"


async def _apply_receipts(
    conn: AsyncConnection, receipts: Sequence[ReceiptIn], decide: ReceiptDecision
) -> None:
    await _lock_correlation(conn, [(r.connector, r.key or r.candidates[0]) for r in receipts])
    pairs = sorted({(r.connector, cand) for r in receipts for cand in r.candidates})
    parts_by_key: dict[tuple[str, str], Any] = {}
    p = attempt_parts.c
    by_connector: dict[str, list[str]] = defaultdict(list)
    for connector, candidate in pairs:
        by_connector[connector].append(candidate)
    # connector = ? AND smsc_id IN (...): the (connector, smsc_id) index, one statement per
    # connector and chunk (a row-value IN rendered two parameters per candidate).
    for connector, candidates in sorted(by_connector.items()):
        rows: list[Any] = []
        for chunk in _chunks(candidates):
            rows.extend(
                await conn.execute(
                    sa.select(p.id, p.attempt_id, p.message_id, p.connector, p.smsc_id).where(
                        p.connector == connector, any_of(p.smsc_id, chunk, conn.dialect)
                    )
                )
            )
        for row in rows:
            # With duplicates (a resubmission got the same id), the newest part wins.
            key = (row.connector, row.smsc_id)
            if key not in parts_by_key or row.id > parts_by_key[key].id:
                parts_by_key[key] = row

    updates: list[dict[str, Any]] = []
    orphans: list[dict[str, Any]] = []
    touched: set[str] = set()
    for r in receipts:
        part = next(
            (
                parts_by_key[(r.connector, c)]
                for c in r.candidates
                if (r.connector, c) in parts_by_key
            ),
            None,
        )
        state = _part_state(r.stat)
        if part is None:
            if state is not None and r.candidates:
                orphans.append(
                    {
                        "connector": r.connector,
                        "smsc_id": r.key or r.candidates[0],
                        "stat": r.stat,
                        "err": r.err,
                        "received_at": r.at,
                    }
                )
            continue
        if state is None:
            continue
        updates.append(
            {"b_pid": part.id, "b_state": state, "b_stat": r.stat, "b_err": r.err, "b_at": r.at}
        )
        touched.add(part.attempt_id)
    await _INSERT_ORPHANS.execute(conn, orphans)
    if not updates:
        return
    await _PART_RECEIPT.execute(conn, updates)
    await _decide_attempts(conn, sorted(touched), decide, now=max(r.at for r in receipts))


async def _decide_attempts(
    conn: AsyncConnection, attempt_ids: list[str], decide: ReceiptDecision, *, now: int
) -> None:
    a = attempts.c
    attempt_rows: list[Any] = []
    for chunk in _chunks(attempt_ids):
        attempt_rows.extend(
            await conn.execute(sa.select(attempts).where(any_of(a.id, chunk, conn.dialect)))
        )
    part_states: dict[str, list[PartState]] = defaultdict(list)
    for chunk in _chunks(attempt_ids):
        for row in await conn.execute(
            sa.select(
                attempt_parts.c.attempt_id,
                attempt_parts.c.seq,
                attempt_parts.c.state,
                attempt_parts.c.stat,
                attempt_parts.c.err,
            ).where(any_of(attempt_parts.c.attempt_id, chunk, conn.dialect))
        ):
            part_states[row.attempt_id].append(PartState(row.seq, row.state, row.stat, row.err))
    message_ids = sorted({r.message_id for r in attempt_rows})
    found: dict[str, Message] = {}
    for chunk in _chunks(message_ids):
        query = sa.select(messages).where(any_of(messages.c.id, chunk, conn.dialect))
        if conn.dialect.name == "postgresql":
            # Receipts for two parts of one message may be handled by two processes at once:
            # lock the message so that exactly one of them sees every part settled.
            query = query.with_for_update()
        found.update({m.id: m for m in map(row_to_message, await conn.execute(query))})

    transitions: list[Transition] = []
    attempt_updates: list[dict[str, Any]] = []
    for row in attempt_rows:
        message = found.get(row.message_id)
        if message is None or message.status_group in _FINAL_GROUPS:
            continue  # late receipt for a final message: recorded on the part, nothing more
        if row.number != message.attempts:
            continue  # an older attempt; the current one decides
        view = AttemptView(
            row.id,
            row.number,
            row.parts,
            row.carrier,
            tuple(sorted(part_states[row.id], key=lambda s: s.seq)),
        )
        transition = decide(message, view, now)
        if transition is None:
            continue
        transitions.append(transition)
        attempt_updates.append(
            {
                "b_aid": row.id,
                "b_state": "delivered" if transition.status_group == 3 else "failed",
                "b_cause": transition.cause,
                "b_done": now,
            }
        )
    await _ATTEMPT_DONE.execute(conn, attempt_updates)
    await _write_transitions(conn, transitions, owner=None)
