"""Storage of the protections: account limits and IP rules, failed authentications and blocked
addresses, blocklists, quota counters, shared rate-limit state, and the guard step of the accept
transaction (:func:`guard_accept`).

Writes that sit on a request path (a failed authentication, a blocklist entry) go through the
group committer like every other write; operator writes (CLI) use their own transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import protection as rules
from todoke.domain.protection import AcceptGuard, AccountLimits, BlockEntry, IpRecord, Recent
from todoke.domain.status import REJECTED_GROUP
from todoke.errors import NotFound, QuotaExceeded
from todoke.store.database import Database
from todoke.store.tables import (
    account_ip_rules,
    account_limits,
    account_usage,
    accounts,
    blocklist,
    ip_blocks,
    messages,
    rate_limits,
)
from todoke.store.writer import GroupCommitter

_CHUNK = 400  # values per IN (...) lookup
_LIMIT_FIELDS = tuple(f for f in AccountLimits.__dataclass_fields__)


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT that supports ``on_conflict_do_*`` on the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _ip_record(row: Any) -> IpRecord:
    return IpRecord(row.ip, row.failures, row.last_failure_at, row.blocked_at)


def _block_entry(row: Any) -> BlockEntry:
    return BlockEntry(row.account_id, row.number, row.reason, row.created_at, row.note)


@dataclass(frozen=True, slots=True)
class _Failure:
    ip: str
    now: int
    limit: int


@dataclass(frozen=True, slots=True)
class _BlockAdd:
    account_id: int
    entries: Sequence[tuple[str, str, str | None]]  # number, reason, note
    now: int


class ProtectionStore:
    """Reads and writes of the protection tables; account data is always scoped by account."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    # --- account limits and IP rules ---------------------------------------------------

    async def limits(self, account_id: int) -> AccountLimits:
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(account_limits).where(account_limits.c.account_id == account_id)
                )
            ).first()
        if row is None:
            return AccountLimits()
        return AccountLimits(**{f: row._mapping[f] for f in _LIMIT_FIELDS})

    async def set_limits(self, account_id: int, changes: dict[str, int | None], now: int) -> None:
        """Change some limits of an account (a None value: back to the platform default)."""
        unknown = set(changes) - set(_LIMIT_FIELDS)
        if unknown:
            raise ValueError(f"unknown limits {sorted(unknown)}")
        async with self._db.engine.begin() as conn:
            await _require_account(conn, account_id)
            stmt = _insert(conn, account_limits).values(
                account_id=account_id, updated_at=now, **changes
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[account_limits.c.account_id],
                    set_={**changes, "updated_at": now},
                )
            )
            if {"daily_quota", "monthly_quota"} & set(changes):
                # Counters run only while a quota applies: start again from the messages.
                await conn.execute(
                    account_usage.delete().where(account_usage.c.account_id == account_id)
                )

    async def ip_rules(self, account_id: int) -> list[str]:
        query = (
            sa.select(account_ip_rules.c.network)
            .where(account_ip_rules.c.account_id == account_id)
            .order_by(account_ip_rules.c.network)
        )
        async with self._db.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def set_ip_rules(self, account_id: int, networks: Sequence[str], now: int) -> None:
        """Replace the account's allowlist (empty: any address)."""
        async with self._db.engine.begin() as conn:
            await _require_account(conn, account_id)
            await conn.execute(
                account_ip_rules.delete().where(account_ip_rules.c.account_id == account_id)
            )
            if networks:
                await conn.execute(
                    account_ip_rules.insert(),
                    [{"account_id": account_id, "network": n, "created_at": now} for n in networks],
                )

    # --- failed authentications and blocked addresses ----------------------------------

    async def ip_snapshot(self) -> list[IpRecord]:
        """Every address with failures on record or blocked."""
        query = sa.select(ip_blocks).where(
            sa.or_(ip_blocks.c.failures > 0, ip_blocks.c.blocked_at.is_not(None))
        )
        async with self._db.connect() as conn:
            return [_ip_record(r) for r in await conn.execute(query)]

    async def record_failure(self, ip: str, *, now: int, limit: int) -> IpRecord:
        """Count one failed authentication; the ``limit``-th consecutive one blocks ``ip``."""
        result: IpRecord = await self._writer.submit(_failure_handler, _Failure(ip, now, limit))
        return result

    async def reset_failures(self, ip: str) -> None:
        """A successful authentication: the count starts again (a block stays)."""
        await self._writer.submit(_reset_handler, ip)

    async def unblock(self, ip: str) -> bool:
        """Lift a block (and forget the failures); False when the address was not blocked."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(ip_blocks.delete().where(ip_blocks.c.ip == ip))
        return bool(result.rowcount)

    # --- blocklists ----------------------------------------------------------------------

    async def blocklist_add(
        self, account_id: int, entries: Sequence[tuple[str, str, str | None]], *, now: int
    ) -> list[bool]:
        """Add numbers (E.164) to a list; one flag per entry: True if it was not listed yet."""
        result: list[bool] = await self._writer.submit(
            _block_add_handler, _BlockAdd(account_id, entries, now)
        )
        return result

    async def blocklist_remove(self, account_id: int, number: str) -> bool:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                blocklist.delete().where(
                    blocklist.c.account_id == account_id, blocklist.c.number == number
                )
            )
        return bool(result.rowcount)

    async def blocklist_get(self, account_id: int, number: str) -> BlockEntry | None:
        query = sa.select(blocklist).where(
            blocklist.c.account_id == account_id, blocklist.c.number == number
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        return _block_entry(row) if row is not None else None

    async def blocklist_list(
        self, account_id: int, *, after: str | None = None, limit: int = 100
    ) -> list[BlockEntry]:
        """Entries in number order; continue with ``after`` = the last number of a page."""
        query = sa.select(blocklist).where(blocklist.c.account_id == account_id)
        if after is not None:
            query = query.where(blocklist.c.number > after)
        query = query.order_by(blocklist.c.number).limit(limit)
        async with self._db.connect() as conn:
            return [_block_entry(r) for r in await conn.execute(query)]

    # --- shared rate-limit state -----------------------------------------------------------

    async def rate_sync(self, costs: dict[str, float], now: float) -> dict[str, float]:
        """Add each key's consumed cost (seconds of its budget) to the shared state.

        GCRA: ``tat = max(tat, now) + cost``. Returns the new shared ``tat`` of every key,
        which includes what the other processes consumed.
        """
        out: dict[str, float] = {}
        async with self._db.engine.begin() as conn:
            greatest = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
            for key in sorted(costs):  # a fixed order: no deadlock between processes
                stmt = _insert(conn, rate_limits).values(key=key, tat=now + costs[key])
                stmt = stmt.on_conflict_do_update(
                    index_elements=[rate_limits.c.key],
                    set_={"tat": greatest(rate_limits.c.tat, now) + costs[key]},
                ).returning(rate_limits.c.tat)
                out[key] = float((await conn.execute(stmt)).scalar_one())
        return out

    async def rate_cleanup(self, before: float) -> None:
        """Forget keys idle since ``before`` (their state is "full budget" anyway)."""
        async with self._db.engine.begin() as conn:
            await conn.execute(rate_limits.delete().where(rate_limits.c.tat < before))


async def _require_account(conn: AsyncConnection, account_id: int) -> None:
    found = await conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
    if found.first() is None:
        raise NotFound(f"no account {account_id}")


# --- write handlers (run inside the group transaction) ----------------------------------


async def _failure_handler(conn: AsyncConnection, jobs: Sequence[_Failure]) -> list[IpRecord]:
    out: list[IpRecord] = []
    t = ip_blocks.c
    for job in jobs:
        stmt = _insert(conn, ip_blocks).values(
            ip=job.ip,
            failures=1,
            last_failure_at=job.now,
            blocked_at=job.now if job.limit <= 1 else None,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.ip],
            set_={
                "failures": t.failures + 1,
                "last_failure_at": job.now,
                "blocked_at": sa.case(
                    (
                        sa.and_(t.blocked_at.is_(None), t.failures + 1 >= job.limit),
                        sa.literal(job.now, sa.BigInteger),
                    ),
                    else_=t.blocked_at,
                ),
            },
        ).returning(*ip_blocks.c)
        out.append(_ip_record((await conn.execute(stmt)).one()))
    return out


async def _reset_handler(conn: AsyncConnection, ips: Sequence[str]) -> list[None]:
    await conn.execute(
        ip_blocks.delete().where(ip_blocks.c.ip.in_(list(ips)), ip_blocks.c.blocked_at.is_(None))
    )
    return [None] * len(ips)


async def _block_add_handler(conn: AsyncConnection, jobs: Sequence[_BlockAdd]) -> list[list[bool]]:
    out: list[list[bool]] = []
    for job in jobs:
        flags: list[bool] = []
        for number, reason, note in job.entries:
            stmt = (
                _insert(conn, blocklist)
                .values(
                    account_id=job.account_id,
                    number=number,
                    reason=reason,
                    note=note,
                    created_at=job.now,
                )
                .on_conflict_do_nothing(index_elements=[blocklist.c.account_id, blocklist.c.number])
            )
            flags.append(bool((await conn.execute(stmt)).rowcount))
        out.append(flags)
    return out


# --- the guard step of the accept transaction -------------------------------------------


async def guard_accept(
    conn: AsyncConnection,
    batch: Sequence[tuple[int, AcceptGuard, list[dict[str, Any]]]],
    now: int,
) -> list[Exception | None]:
    """Screen the rows of each ``(account_id, guard, rows)`` request and charge its quota.

    A row that must not reach a carrier (blocklisted, flooding, duplicate) is turned into a
    final REJECTED message in place. A request over its quota gets :class:`QuotaExceeded`
    (and nothing of it may be written); the others get None. Runs inside the accept
    transaction, so the counts include every earlier request of the same group commit.
    """
    listed, history = await _lookups(conn, batch, now)
    quotas = _Quotas(conn)
    results: list[Exception | None] = []
    for account_id, guard, rows in batch:
        added: list[tuple[int, str]] = []
        sending = 0
        for row in rows:
            key = (account_id, row["to_number"])
            entries = listed.get(key)
            cause = (rules.blocked_cause(entries) if entries else None) or rules.screen(
                row["text"], history.get(key, ()), guard.screen, now
            )
            if cause is not None:
                _reject(row, cause.status.name, cause.error.name, cause.value, now)
                continue
            if guard.screen.history_ms:
                history.setdefault(key, []).append(Recent(row["text"], now))
                added.append(key)
            sending += 1
        refusal = await quotas.charge(account_id, guard, sending) if guard.quota else None
        if refusal is not None:
            for key in added:  # this request is not written: forget its rows
                history[key].pop()
        results.append(refusal)
    raced = await quotas.commit()
    if raced:
        # Another process charged the same counter meanwhile: refuse this commit's requests
        # of those accounts rather than go over the quota (they may be retried).
        for i, (account_id, guard, _) in enumerate(batch):
            if account_id in raced and guard.quota is not None and results[i] is None:
                results[i] = QuotaExceeded("the sending quota is used up")
    return results


def _reject(row: dict[str, Any], status: str, error: str, cause: str, now: int) -> None:
    row.update(
        status=status,
        status_group=REJECTED_GROUP.id,
        error_code=error,
        cause=cause,
        due_at=None,
        done_at=now,
    )


async def _lookups(
    conn: AsyncConnection,
    batch: Sequence[tuple[int, AcceptGuard, list[dict[str, Any]]]],
    now: int,
) -> tuple[dict[tuple[int, str], list[tuple[int, str]]], dict[tuple[int, str], list[Recent]]]:
    """What the guards need, in one statement per chunk of numbers (UNION ALL): each
    (account, number)'s blocklist entries (the account's own and the platform's) and its
    recent messages that were not rejected (the flooding filter's and duplicates' history).

    One statement instead of two matters: it runs inside the serialised group commit, once
    per commit, so it is written as SQL and run by the driver (built with SQLAlchemy it was
    a tenth of the accept path's CPU). ``account_id = ? AND to_number IN (...)`` is an index
    search on both databases (the partial index on account, number and time WHERE
    status_group <> 5; a row-value IN would be a full index scan on SQLite).

    On PostgreSQL the numbers are written into the statement as constants: PostgreSQL hashes
    a constant IN list and plans the statement with the values it has, where a prepared
    ``IN ($1, …, $400)`` under a generic plan was compared number by number with every
    candidate row (250-700 ms per 500-message batch at 20,000 stored messages). Every number
    here is normalised E.164 (checked: ``+`` and digits only), so a constant is safe.
    """
    account_ids = {a for a, _, _ in batch}
    scopes = sorted(account_ids | {rules.PLATFORM})
    since = now - max((g.screen.history_ms for _, g, _ in batch), default=0)
    wanted: dict[int, set[str]] = defaultdict(set)
    for account_id, guard, rows in batch:
        if guard.screen.history_ms:
            wanted[account_id].update(row["to_number"] for row in rows)
    numbers = sorted({row["to_number"] for _, _, rows in batch for row in rows})
    listed: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    history: dict[tuple[int, str], list[Recent]] = defaultdict(list)
    postgres = conn.dialect.name == "postgresql"
    for chunk in _chunks(numbers):
        params: list[Any] = []

        def values(items: Sequence[Any], params: list[Any] = params) -> str:
            if postgres:
                return ",".join(_pg_constant(v) for v in items)
            params.extend(items)
            return ",".join("?" * len(items))

        # Only placeholders, integers and checked numbers are formatted into the SQL.
        sql = [
            "SELECT 0 AS kind, account_id, number, reason, CAST(NULL AS TEXT) AS text, "  # noqa: S608
            "CAST(NULL AS BIGINT) AS created_at FROM blocklist "
            f"WHERE number IN ({values(chunk)}) AND account_id IN ({values(scopes)})"
        ]
        for account_id, targets in sorted(wanted.items()):
            mine = [n for n in chunk if n in targets]
            if mine:
                sql.append(
                    "SELECT 1, account_id, to_number, CAST(NULL AS VARCHAR), text, created_at "  # noqa: S608
                    f"FROM messages WHERE account_id = {int(account_id)} "
                    f"AND to_number IN ({values(mine)}) AND created_at > {int(since)} "
                    f"AND status_group <> {REJECTED_GROUP.id}"
                )
        result = await conn.exec_driver_sql(" UNION ALL ".join(sql), tuple(params))
        found: Sequence[Any] = result.all()  # kind, account, number, reason, text, created_at
        for hit in found:
            owner_id, number = hit[1], hit[2]
            if hit[0] == 1:
                history[(owner_id, number)].append(Recent(hit[4], hit[5]))
                continue
            scope = account_ids if owner_id == rules.PLATFORM else {owner_id}
            for owner in scope:
                listed[(owner, number)].append((owner_id, hit[3]))
    return listed, history


_E164_OR_ID = re.compile(r"\+?[0-9]{1,20}")


def _pg_constant(value: Any) -> str:
    """A phone number or an account id as an SQL constant (nothing else is ever one)."""
    text = str(value)
    if not _E164_OR_ID.fullmatch(text):
        raise ValueError(f"not a number to inline: {text!r}")
    return f"'{text}'" if isinstance(value, str) else text


class _Quotas:
    """Quota counters of one accept transaction: read once per (account, period), decided
    request by request in memory, written once per (account, period) at the end."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._used: dict[tuple[int, str], int] = {}
        self._limits: dict[tuple[int, str], int] = {}
        self._charged: dict[tuple[int, str], int] = defaultdict(int)

    async def charge(self, account_id: int, guard: AcceptGuard, count: int) -> Exception | None:
        """Count ``count`` messages against the day and month quotas, all or nothing."""
        quota = guard.quota
        if quota is None or count == 0:
            return None
        periods = [(p, limit, start, label) for p, limit, start, label in quota.periods if limit]
        for period, limit, start, label in periods:
            key = (account_id, period)
            if key not in self._used:
                self._used[key] = await _seed_usage(self._conn, account_id, period, start)
            self._limits[key] = int(limit or 0)
            used = self._used[key] + self._charged[key]
            if used + count > self._limits[key]:
                return QuotaExceeded(
                    f"the {label} sending quota of {limit} messages is used up "
                    f"({used} sent, {count} requested)"
                )
        for period, _, _, _ in periods:
            self._charged[(account_id, period)] += count
        return None

    async def commit(self) -> set[int]:
        """Write the charges (conditional UPDATEs); returns the accounts whose counter moved
        under us (another process), whose charges were not written."""
        raced: set[int] = set()
        u = account_usage.c
        for (account_id, period), count in sorted(self._charged.items()):
            if not count or account_id in raced:
                continue
            limit = self._limits[(account_id, period)]
            result = await self._conn.execute(
                account_usage.update()
                .where(u.account_id == account_id, u.period == period, u.count + count <= limit)
                .values(count=u.count + count)
            )
            if not result.rowcount:
                raced.add(account_id)
        if raced:  # undo what was written for those accounts
            for (account_id, period), count in self._charged.items():
                if account_id in raced and count:
                    await self._conn.execute(
                        account_usage.update()
                        .where(u.account_id == account_id, u.period == period)
                        .values(count=u.count - count)
                    )
        return raced


async def _seed_usage(conn: AsyncConnection, account_id: int, period: str, start: int) -> int:
    """A period's counter; created the first time a quota applies to it, from the messages
    already accepted in the period (not those refused at acceptance)."""
    u = account_usage.c
    found = (
        await conn.execute(sa.select(u.count).where(u.account_id == account_id, u.period == period))
    ).first()
    if found is not None:
        return int(found[0])
    c = messages.c
    sent = (
        await conn.execute(
            sa.select(sa.func.count()).where(
                c.account_id == account_id,
                c.created_at >= start,
                sa.or_(c.cause.is_(None), c.cause.not_in(rules.GUARD_CAUSES)),
            )
        )
    ).scalar_one()
    await conn.execute(
        _insert(conn, account_usage)
        .values(account_id=account_id, period=period, count=int(sent))
        .on_conflict_do_nothing(index_elements=[u.account_id, u.period])
    )
    return int(
        (
            await conn.execute(
                sa.select(u.count).where(u.account_id == account_id, u.period == period)
            )
        ).scalar_one()
    )


async def usage(db: Database, account_id: int, periods: Sequence[str]) -> dict[str, int]:
    """The quota counters of an account for the given periods (missing: 0)."""
    u = account_usage.c
    async with db.connect() as conn:
        rows = await conn.execute(
            sa.select(u.period, u.count).where(u.account_id == account_id, u.period.in_(periods))
        )
        found = {r[0]: int(r[1]) for r in rows}
    return {p: found.get(p, 0) for p in periods}
