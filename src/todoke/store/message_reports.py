"""Read-only message queries of :class:`todoke.services.reports.ReportService`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

from todoke.domain.message import Message
from todoke.store.database import Database
from todoke.store.messages import row_to_message
from todoke.store.tables import messages


class MessageReportStore:
    """Implements :class:`todoke.services.reports.MessageReportPort`; scoped by account."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def scheduled(
        self,
        account_id: int,
        *,
        status: str,
        sender_code: str | None,
        group_tag: str | None,
        schedule_from: int | None,
        schedule_to: int | None,
    ) -> list[Message]:
        c = messages.c
        conditions: list[sa.ColumnElement[bool]] = [
            c.account_id == account_id,
            c.status == status,
            c.schedule_at.is_not(None),
        ]
        if sender_code is not None:
            conditions.append(c.sender_code == sender_code)
        if group_tag is not None:
            conditions.append(c.group_tag == group_tag)
        if schedule_from is not None:
            conditions.append(c.schedule_at >= schedule_from)
        if schedule_to is not None:
            conditions.append(c.schedule_at < schedule_to)
        query = sa.select(messages).where(*conditions).order_by(c.schedule_at, c.id)
        async with self._db.connect() as conn:
            return [row_to_message(r) for r in await conn.execute(query)]

    async def sent_between(self, account_id: int, *, start: int, end: int) -> list[Message]:
        c = messages.c
        immediate = sa.and_(c.schedule_at.is_(None), c.created_at >= start, c.created_at < end)
        scheduled = sa.and_(c.schedule_at >= start, c.schedule_at < end)
        query = (
            sa.select(messages)
            .where(c.account_id == account_id, sa.or_(immediate, scheduled))
            .order_by(c.id)
        )
        async with self._db.connect() as conn:
            return [row_to_message(r) for r in await conn.execute(query)]

    async def billable_by_carrier(
        self, account_ids: Sequence[int], *, start: int, end: int
    ) -> dict[int, dict[str, int]]:
        c = messages.c
        query = (
            sa.select(c.account_id, c.carrier, sa.func.sum(c.billable_parts).label("parts"))
            .where(
                c.account_id.in_(list(account_ids)),
                c.sent_at >= start,
                c.sent_at < end,
                c.billable_parts > 0,
            )
            .group_by(c.account_id, c.carrier)
        )
        out: dict[int, dict[str, int]] = defaultdict(dict)
        async with self._db.connect() as conn:
            for row in await conn.execute(query):
                if row.carrier is not None and row.parts:
                    out[int(row.account_id)][row.carrier] = int(row.parts)
        return dict(out)
