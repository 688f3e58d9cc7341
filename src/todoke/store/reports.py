"""Report queries: usage counted over the message rows, and the message stream of CSV exports.

Usage is a query, not a set of maintained counters (see ``services/reports.py`` for why). It
reads through two indexes: ``(account_id, sent_at)`` for what was sent on a day and
``(account_id, created_at)`` for what ended without being sent. JST days are computed in SQL
as ``(ms + 9 h) / 86,400,000`` (integer division on both databases).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from todoke.domain.message import Message
from todoke.services.reports import UsageRow
from todoke.store.database import Database
from todoke.store.messages import row_to_message
from todoke.store.tables import messages

DAY_MS = 86_400_000
JST_OFFSET_MS = 9 * 3600 * 1000
_DELIVERED = 3
_FAILED = (2, 4, 5)


def _int(value: Any) -> int:
    return int(value) if value else 0


class ReportStore:
    """Read-only queries for usage and exports; every one is scoped to one account."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def usage(
        self, account_id: int, *, start: int, end: int, now: int, grace_ms: int
    ) -> list[UsageRow]:
        """Counts per (day, carrier) for messages sent in [start, end), plus those that ended
        unsent and were created in it."""
        c = messages.c
        sent_day = ((c.sent_at + JST_OFFSET_MS) // DAY_MS).label("day")
        open_case = sa.case(
            (sa.and_(c.status_group == 1, c.validity_until + grace_ms > now), 1), else_=0
        )
        sent_query = (
            sa.select(
                sent_day,
                c.carrier,
                sa.func.count().label("sent"),
                sa.func.sum(sa.case((c.status_group == _DELIVERED, 1), else_=0)).label("delivered"),
                sa.func.sum(sa.case((c.status_group.in_(_FAILED), 1), else_=0)).label("failed"),
                sa.func.sum(c.parts).label("parts"),
                sa.func.sum(c.billable_parts).label("billable"),
                sa.func.sum(open_case).label("open"),
            )
            .where(c.account_id == account_id, c.sent_at >= start, c.sent_at < end)
            .group_by(sent_day, c.carrier)
        )
        created_day = ((c.created_at + JST_OFFSET_MS) // DAY_MS).label("day")
        unsent_query = (
            sa.select(created_day, c.carrier, sa.func.count().label("n"))
            .where(
                c.account_id == account_id,
                c.created_at >= start,
                c.created_at < end,
                c.sent_at.is_(None),
                c.status_group != 1,
            )
            .group_by(created_day, c.carrier)
        )
        rows: dict[tuple[int, str | None], UsageRow] = {}
        async with self._db.connect() as conn:
            for r in await conn.execute(sent_query):
                rows[(int(r.day), r.carrier)] = UsageRow(
                    day=int(r.day),
                    carrier=r.carrier,
                    sent=_int(r.sent),
                    delivered=_int(r.delivered),
                    failed=_int(r.failed),
                    parts=_int(r.parts),
                    billable_parts=_int(r.billable),
                    open=_int(r.open),
                )
            for r in await conn.execute(unsent_query):
                key = (int(r.day), r.carrier)
                base = rows.get(key, UsageRow(day=int(r.day), carrier=r.carrier))
                rows[key] = UsageRow(
                    day=base.day,
                    carrier=base.carrier,
                    sent=base.sent,
                    delivered=base.delivered,
                    failed=base.failed,
                    not_sent=_int(r.n),
                    parts=base.parts,
                    billable_parts=base.billable_parts,
                    open=base.open,
                )
        return sorted(rows.values(), key=lambda u: (u.day, u.carrier or ""))

    async def stream(
        self,
        account_id: int,
        *,
        start: int,
        end: int,
        group_tag: str | None = None,
        status_group: int | None = None,
        partition: int = 1000,
    ) -> AsyncIterator[list[Message]]:
        """Messages created in [start, end), oldest first, ``partition`` rows at a time.

        One query read through a server-side cursor: memory stays constant whatever the
        period holds.
        """
        c = messages.c
        conditions: list[sa.ColumnElement[bool]] = [
            c.account_id == account_id,
            c.created_at >= start,
            c.created_at < end,
        ]
        if group_tag is not None:
            conditions.append(c.group_tag == group_tag)
        if status_group is not None:
            conditions.append(c.status_group == status_group)
        query = sa.select(messages).where(*conditions).order_by(c.created_at)
        async with self._db.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=partition))
            async for rows in result.partitions(partition):
                yield [row_to_message(r) for r in rows]
