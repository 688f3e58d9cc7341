"""Operational figures read from storage (for metrics): the dispatch queue."""

from __future__ import annotations

import sqlalchemy as sa

from todoke.store.database import Database
from todoke.store.tables import messages


async def queue_depth(db: Database, *, now: int) -> dict[str, int]:
    """Queued messages by state: ``due`` (claimable now), ``leased`` (claimed by a worker whose
    lease holds), ``waiting`` (scheduled, held or backing off). One query on the ``due_at``
    index: a message leaves the queue when ``due_at`` is cleared."""
    c = messages.c
    leased = sa.and_(c.lease_owner.is_not(None), c.lease_until >= now)
    query = sa.select(
        sa.func.count().filter(leased),
        sa.func.count().filter(sa.not_(leased), c.due_at <= now),
        sa.func.count().filter(sa.not_(leased), c.due_at > now),
    ).where(c.due_at.is_not(None))
    async with db.connect() as conn:
        row = (await conn.execute(query)).one()
    return {"leased": int(row[0]), "due": int(row[1]), "waiting": int(row[2])}
