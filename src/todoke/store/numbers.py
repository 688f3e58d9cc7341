"""Imported number events (number cleaning reference data)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from todoke.domain.cleaning import NumberEvent, NumberEventKind
from todoke.store.database import Database
from todoke.store.tables import number_events


class NumberEventStore:
    """Implements :class:`todoke.services.numbers.NumberEventStorePort`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, events: Sequence[NumberEvent], *, source: str, now: int) -> int:
        unique = {(e.number, e.kind.value, e.day): e for e in events}
        rows = [
            {"number": n, "event": k, "event_date": d, "source": source[:200], "imported_at": now}
            for (n, k, d) in unique
        ]
        if not rows:
            return 0
        insert = (sqlite.insert if self._db.is_sqlite else postgresql.insert)(number_events)
        statement = insert.on_conflict_do_nothing(
            index_elements=["number", "event", "event_date"]
        ).returning(number_events.c.number)
        async with self._db.engine.begin() as conn:
            inserted = (await conn.execute(statement, rows)).all()
        return len(inserted)

    async def events(self, number: str) -> list[NumberEvent]:
        query = sa.select(number_events.c.event, number_events.c.event_date).where(
            number_events.c.number == number
        )
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [NumberEvent(number, NumberEventKind(r.event), int(r.event_date)) for r in rows]
