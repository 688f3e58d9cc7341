"""Short links and their clicks. Writes go through the group committer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import links as rules
from todoke.domain.webhooks import LINK_CLICKED
from todoke.errors import NotFound
from todoke.services.links import Click, ClickEvent, ClickRecord, Link
from todoke.services.webhook_types import NewEvent
from todoke.store.database import Database
from todoke.store.outbox import fan_out
from todoke.store.tables import link_clicks, links, messages
from todoke.store.writer import GroupCommitter

_CHUNK = 400


def _row_to_link(row: Any) -> Link:
    m = row._mapping
    return Link(
        id=m["id"],
        account_id=m["account_id"],
        code=m["code"],
        long_url=m["long_url"],
        name=m["name"],
        created_at=m["created_at"],
        domain=m["domain"],
        access_code_hash=m["access_code_hash"],
        parent_id=m["parent_id"],
        message_id=m["message_id"],
        placeholder=m["placeholder"],
        clicks=m["clicks"],
        code_failures=m["code_failures"],
        locked_until=m["locked_until"],
        first_clicked_at=m["first_clicked_at"],
        last_clicked_at=m["last_clicked_at"],
        disabled_at=m["disabled_at"],
    )


def _link_row(link: Link, code: str) -> dict[str, Any]:
    return {
        "id": link.id,
        "account_id": link.account_id,
        "code": code,
        "domain": link.domain,
        "long_url": link.long_url,
        "name": link.name,
        "access_code_hash": link.access_code_hash,
        "parent_id": link.parent_id,
        "message_id": link.message_id,
        "placeholder": link.placeholder,
        "clicks": 0,
        "code_failures": 0,
        "created_at": link.created_at,
    }


@dataclass(frozen=True, slots=True)
class _Click:
    link: Link
    at: int
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class _Failure:
    link_id: str
    at: int
    limit: int
    lock_ms: int


class LinkStore:
    """Implements :class:`todoke.services.links.LinkStorePort`."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    async def insert(self, rows: Sequence[Link]) -> list[str]:
        codes: list[str] = await self._writer.submit(_insert_handler, tuple(rows))
        return codes

    async def delete_for_messages(self, account_id: int, message_ids: Sequence[str]) -> None:
        await self._writer.submit(_delete_handler, (account_id, tuple(message_ids)))

    async def get_many(self, account_id: int, link_ids: Sequence[str]) -> list[Link]:
        out: list[Link] = []
        async with self._db.connect() as conn:
            for i in range(0, len(link_ids), _CHUNK):
                chunk = link_ids[i : i + _CHUNK]
                rows = await conn.execute(
                    sa.select(links).where(links.c.account_id == account_id, links.c.id.in_(chunk))
                )
                out.extend(_row_to_link(r) for r in rows)
        return out

    async def clicks_by_message(
        self, account_id: int, message_ids: Sequence[str]
    ) -> dict[str, int]:
        c = links.c
        out: dict[str, int] = {}
        async with self._db.connect() as conn:
            for i in range(0, len(message_ids), _CHUNK):
                rows = await conn.execute(
                    sa.select(c.message_id, sa.func.sum(c.clicks).label("clicks"))
                    .where(
                        c.account_id == account_id,
                        c.message_id.in_(message_ids[i : i + _CHUNK]),
                        c.clicks > 0,
                    )
                    .group_by(c.message_id)
                )
                out.update((r.message_id, int(r.clicks)) for r in rows)
        return out

    async def by_code(self, code: str) -> Link | None:
        async with self._db.connect() as conn:
            row = (await conn.execute(sa.select(links).where(links.c.code == code))).first()
        return _row_to_link(row) if row is not None else None

    async def list_links(
        self,
        account_id: int,
        *,
        message_id: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[Link]:
        c = links.c
        conditions: list[sa.ColumnElement[bool]] = [c.account_id == account_id]
        if message_id is not None:
            conditions.append(c.message_id == message_id)
        else:
            conditions.append(c.message_id.is_(None))  # the account's own links
        if before_id is not None:
            conditions.append(c.id < before_id)
        query = sa.select(links).where(*conditions).order_by(c.id.desc()).limit(limit)
        async with self._db.connect() as conn:
            return [_row_to_link(r) for r in await conn.execute(query)]

    async def clicks(
        self, account_id: int, link_id: str, *, before_id: int | None = None, limit: int = 100
    ) -> list[Click]:
        c = link_clicks.c
        # A parent link's clicks include those of its per-message copies.
        children = sa.select(links.c.id).where(
            links.c.account_id == account_id, links.c.parent_id == link_id
        )
        conditions: list[sa.ColumnElement[bool]] = [
            c.account_id == account_id,
            sa.or_(c.link_id == link_id, c.link_id.in_(children.scalar_subquery())),
        ]
        if before_id is not None:
            conditions.append(c.id < before_id)
        query = sa.select(link_clicks).where(*conditions).order_by(c.id.desc()).limit(limit)
        async with self._db.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Click(
                id=r.id,
                link_id=r.link_id,
                account_id=r.account_id,
                clicked_at=r.clicked_at,
                message_id=r.message_id,
                ip=r.ip,
                user_agent=r.user_agent,
            )
            for r in rows
        ]

    async def record_click(
        self, link: Link, *, at: int, ip: str | None, user_agent: str | None
    ) -> ClickRecord:
        record: ClickRecord = await self._writer.submit(
            _click_handler, _Click(link, at, ip, user_agent)
        )
        return record

    async def record_code_failure(
        self, link_id: str, *, at: int, limit: int, lock_ms: int
    ) -> tuple[int, int | None]:
        result: tuple[int, int | None] = await self._writer.submit(
            _failure_handler, _Failure(link_id, at, limit, lock_ms)
        )
        return result

    async def disable(self, account_id: int, link_id: str, *, at: int) -> Link:
        link: Link | Exception = await self._writer.submit(
            _disable_handler, (account_id, link_id, at)
        )
        if isinstance(link, Exception):
            raise link
        return link


# --- write handlers (inside the group transaction) -----------------------------------------


async def _insert_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[Link, ...]]
) -> list[list[str]]:
    wanted = [link.code for job in jobs for link in job]
    taken: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        rows = await conn.execute(
            sa.select(links.c.code).where(links.c.code.in_(wanted[i : i + _CHUNK]))
        )
        taken.update(r.code for r in rows)
    out: list[list[str]] = []
    values: list[dict[str, Any]] = []
    for job in jobs:
        codes: list[str] = []
        for link in job:
            code = link.code
            while code in taken:  # a collision in 3.5e12 codes: draw again
                code = rules.new_code()
            taken.add(code)
            codes.append(code)
            values.append(_link_row(link, code))
        out.append(codes)
    if values:
        await conn.execute(links.insert(), values)
    return out


async def _delete_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[int, tuple[str, ...]]]
) -> list[None]:
    for account_id, message_ids in jobs:
        for i in range(0, len(message_ids), _CHUNK):
            await conn.execute(
                links.delete().where(
                    links.c.account_id == account_id,
                    links.c.message_id.in_(message_ids[i : i + _CHUNK]),
                    links.c.clicks == 0,
                )
            )
    return [None] * len(jobs)


async def _click_handler(conn: AsyncConnection, jobs: Sequence[_Click]) -> list[ClickRecord]:
    """Every click of a group commit in a fixed number of statements: the click rows, the
    counters of each link touched (and its parent), the messages made billable, the events.

    Each click's answer is as if the clicks had been recorded one after another in arrival
    order: its own count, and ``billable`` True only for the click that made it so.
    """
    c = links.c
    inserted = await conn.execute(
        link_clicks.insert().returning(link_clicks.c.id, sort_by_parameter_order=True),
        [
            {
                "link_id": job.link.id,
                "account_id": job.link.account_id,
                "message_id": job.link.message_id,
                "clicked_at": job.at,
                "ip": (job.ip or None) and job.ip[:64],
                "user_agent": job.user_agent,
            }
            for job in jobs
        ],
    )
    click_ids = [int(row.id) for row in inserted]

    # Each link's (and parent's) clicks of this commit: how many, first and last time.
    touched: dict[str, list[int]] = {}
    for job in jobs:
        for link_id in (job.link.id, job.link.parent_id):
            if link_id:
                touched.setdefault(link_id, []).append(job.at)
    await conn.execute(
        links.update()
        .where(c.id == sa.bindparam("lid"))
        .values(
            clicks=c.clicks + sa.bindparam("n"),
            code_failures=0,
            locked_until=None,
            last_clicked_at=sa.bindparam("last_at"),
            first_clicked_at=sa.func.coalesce(c.first_clicked_at, sa.bindparam("first_at")),
        ),
        [
            {"lid": link_id, "n": len(times), "last_at": max(times), "first_at": min(times)}
            for link_id, times in sorted(touched.items())
        ],
    )
    own = sorted({job.link.id for job in jobs})
    totals = {
        row.id: int(row.clicks)
        for row in await conn.execute(sa.select(c.id, c.clicks).where(c.id.in_(own)))
    }

    # Messages that a click makes billable now (only a message that left can be opened).
    by_account: dict[int, set[str]] = {}
    for job in jobs:
        if job.link.message_id is not None:
            by_account.setdefault(job.link.account_id, set()).add(job.link.message_id)
    made_billable: set[str] = set()
    m = messages.c
    for account_id, ids in sorted(by_account.items()):
        changed = await conn.execute(
            messages.update()
            .where(
                m.account_id == account_id,
                m.id.in_(sorted(ids)),
                m.billable_parts < m.parts,
                m.sent_at.is_not(None),
            )
            .values(billable_parts=m.parts)
            .returning(m.id)
        )
        made_billable.update(row.id for row in changed)

    # Counts in arrival order: the last click of a link in this commit sees the new total.
    later: dict[str, int] = {}
    counts: list[int] = [0] * len(jobs)
    for i in range(len(jobs) - 1, -1, -1):
        link_id = jobs[i].link.id
        counts[i] = totals.get(link_id, 0) - later.get(link_id, 0)
        later[link_id] = later.get(link_id, 0) + 1
    out: list[ClickRecord] = []
    billed: set[str] = set()
    events: list[NewEvent] = []
    for job, click_id, clicks in zip(jobs, click_ids, counts, strict=True):
        link = job.link
        billable = link.message_id in made_billable and link.message_id not in billed
        if billable and link.message_id is not None:
            billed.add(link.message_id)
        # The webhook event, committed (or rolled back) with the click row: the outbox's rule.
        event = ClickEvent(
            click_id=click_id,
            link_id=link.id,
            code=link.code,
            account_id=link.account_id,
            long_url=link.long_url,
            name=link.name,
            clicked_at=job.at,
            clicks=clicks,
            message_id=link.message_id,
            parent_id=link.parent_id,
            placeholder=link.placeholder,
            message_billable=billable,
        )
        events.append(
            NewEvent(
                account_id=link.account_id,
                type=LINK_CLICKED,
                data=event.to_dict(),
                at=job.at,
                message_id=link.message_id,
                webhook_url_known=link.message_id is None,
            )
        )
        out.append(ClickRecord(click_id, clicks, billable))
    await fan_out(conn, events)
    return out


async def _failure_handler(
    conn: AsyncConnection, jobs: Sequence[_Failure]
) -> list[tuple[int, int | None]]:
    out: list[tuple[int, int | None]] = []
    c = links.c
    for job in jobs:
        row = (
            await conn.execute(
                links.update()
                .where(c.id == job.link_id)
                .values(code_failures=c.code_failures + 1)
                .returning(c.code_failures)
            )
        ).first()
        failures = int(row.code_failures) if row is not None else 0
        locked_until: int | None = None
        if failures >= job.limit:
            locked_until = job.at + job.lock_ms
            await conn.execute(
                links.update()
                .where(c.id == job.link_id)
                .values(code_failures=0, locked_until=locked_until)
            )
        out.append((failures, locked_until))
    return out


async def _disable_handler(
    conn: AsyncConnection, jobs: Sequence[tuple[int, str, int]]
) -> list[Link | Exception]:
    out: list[Link | Exception] = []
    c = links.c
    for account_id, link_id, at in jobs:
        row = (
            await conn.execute(
                links.update()
                .where(c.id == link_id, c.account_id == account_id)
                .values(disabled_at=sa.func.coalesce(c.disabled_at, at))
                .returning(*links.c)
            )
        ).first()
        out.append(_row_to_link(row) if row is not None else NotFound(f"no link {link_id}"))
    return out
