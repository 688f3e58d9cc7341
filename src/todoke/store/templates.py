"""Templates (定型文), scoped by account. Low volume: plain transactions.

Numbers come from ``template_counters`` (the highest number the account ever had), taken in
the template's own transaction, so a number is never handed out twice. The first template of
an account creates the counter row; two of them racing collide on its primary key and the
loser tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import templates as rules
from todoke.errors import Conflict, InvalidInput, NotFound
from todoke.services.templates import Template
from todoke.store.database import Database
from todoke.store.tables import template_counters, templates

_ATTEMPTS = 3  # a create that lost a race (same title, number or first counter row) looks again


def _template(row: Any) -> Template:
    return Template(
        id=row.id,
        account_id=row.account_id,
        title=row.title,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
        number=row.number,
    )


async def _refuse_taken(
    conn: AsyncConnection,
    account_id: int,
    *,
    title: str,
    number: int | None,
    other_than: str | None = None,
) -> None:
    """``Conflict`` naming what another template of the account already has."""
    c = templates.c
    taken = [c.title == title] + ([c.number == number] if number is not None else [])
    query = sa.select(c.title, c.number).where(c.account_id == account_id, sa.or_(*taken))
    if other_than is not None:
        query = query.where(c.id != other_than)
    for row in await conn.execute(query):
        if row.title == title:
            raise Conflict(f"a template titled {title!r} exists already")
        raise Conflict(f"template number {number} is in use")


async def _take_number(conn: AsyncConnection, account_id: int, number: int | None) -> int:
    """``number``, or the account's next one; the counter remembers the highest."""
    c = template_counters.c
    if number is None:
        row = (
            await conn.execute(
                template_counters.update()
                .where(c.account_id == account_id)
                .values(last_number=c.last_number + 1)
                .returning(c.last_number)
            )
        ).first()
        taken = int(row.last_number) if row is not None else None
    else:
        await conn.execute(
            template_counters.update()
            .where(c.account_id == account_id, c.last_number < number)
            .values(last_number=number)
        )
        exists = await conn.execute(sa.select(c.account_id).where(c.account_id == account_id))
        taken = number if exists.first() is not None else None
    if taken is None:  # the account's first counted template
        highest = (
            await conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(templates.c.number), 0)).where(
                    templates.c.account_id == account_id
                )
            )
        ).scalar_one()
        taken = number if number is not None else int(highest) + 1
        await conn.execute(
            template_counters.insert().values(
                account_id=account_id, last_number=max(taken, int(highest))
            )
        )
    if taken > rules.MAX_NUMBER:
        raise InvalidInput(
            f"the account has used every template number up to {rules.MAX_NUMBER}: give one",
            field="number",
            code="no_number_left",
        )
    return taken


class TemplateStore:
    """Implements :class:`todoke.services.templates.TemplateStorePort`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, template: Template, *, number: int | None = None) -> Template:
        for attempt in range(_ATTEMPTS):
            try:
                async with self._db.engine.begin() as conn:
                    await _refuse_taken(
                        conn, template.account_id, title=template.title, number=number
                    )
                    assigned = await _take_number(conn, template.account_id, number)
                    await conn.execute(
                        templates.insert().values(
                            id=template.id,
                            account_id=template.account_id,
                            title=template.title,
                            content=template.content,
                            created_at=template.created_at,
                            updated_at=template.updated_at,
                            number=assigned,
                        )
                    )
                return replace(template, number=assigned)
            except IntegrityError as exc:
                if attempt == _ATTEMPTS - 1:
                    raise Conflict("a template with this title or number exists already") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def update(
        self,
        account_id: int,
        template_id: str,
        *,
        title: str,
        content: str,
        number: int | None,
        now: int,
    ) -> Template:
        values: dict[str, Any] = {"title": title, "content": content, "updated_at": now}
        if number is not None:
            values["number"] = number
        try:
            async with self._db.engine.begin() as conn:
                await _refuse_taken(
                    conn, account_id, title=title, number=number, other_than=template_id
                )
                row = (
                    await conn.execute(
                        templates.update()
                        .where(templates.c.id == template_id, templates.c.account_id == account_id)
                        .values(**values)
                        .returning(*templates.c)
                    )
                ).first()
                if row is None:
                    raise NotFound(f"no template {template_id}")
                if number is not None:
                    await _take_number(conn, account_id, number)
        except IntegrityError as exc:
            raise Conflict("a template with this title or number exists already") from exc
        return _template(row)

    async def delete(self, account_id: int, template_id: str) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                templates.delete().where(
                    templates.c.id == template_id, templates.c.account_id == account_id
                )
            )
        if not result.rowcount:
            raise NotFound(f"no template {template_id}")

    async def get_many(self, account_id: int, template_ids: Sequence[str]) -> list[Template]:
        query = sa.select(templates).where(
            templates.c.account_id == account_id, templates.c.id.in_(list(template_ids))
        )
        async with self._db.connect() as conn:
            return [_template(r) for r in await conn.execute(query)]

    async def list_all(self, account_id: int) -> list[Template]:
        query = (
            sa.select(templates)
            .where(templates.c.account_id == account_id)
            .order_by(templates.c.id)
        )
        async with self._db.connect() as conn:
            return [_template(r) for r in await conn.execute(query)]

    async def get_by_numbers(self, account_id: int, numbers: Sequence[int]) -> list[Template]:
        query = sa.select(templates).where(
            templates.c.account_id == account_id, templates.c.number.in_(list(numbers))
        )
        async with self._db.connect() as conn:
            return [_template(r) for r in await conn.execute(query)]

    async def count(self, account_id: int) -> int:
        query = sa.select(sa.func.count()).where(templates.c.account_id == account_id)
        async with self._db.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
