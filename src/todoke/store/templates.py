"""Templates (定型文), scoped by account. Low volume: plain transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from todoke.errors import Conflict, NotFound
from todoke.services.templates import Template
from todoke.store.database import Database
from todoke.store.tables import templates


def _template(row: Any) -> Template:
    return Template(
        id=row.id,
        account_id=row.account_id,
        title=row.title,
        content=row.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class TemplateStore:
    """Implements :class:`todoke.services.templates.TemplateStorePort`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, template: Template) -> Template:
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    templates.insert().values(
                        id=template.id,
                        account_id=template.account_id,
                        title=template.title,
                        content=template.content,
                        created_at=template.created_at,
                        updated_at=template.updated_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"a template titled {template.title!r} exists already") from exc
        return template

    async def update(
        self, account_id: int, template_id: str, *, title: str, content: str, now: int
    ) -> Template:
        try:
            async with self._db.engine.begin() as conn:
                row = (
                    await conn.execute(
                        templates.update()
                        .where(templates.c.id == template_id, templates.c.account_id == account_id)
                        .values(title=title, content=content, updated_at=now)
                        .returning(*templates.c)
                    )
                ).first()
        except IntegrityError as exc:
            raise Conflict(f"a template titled {title!r} exists already") from exc
        if row is None:
            raise NotFound(f"no template {template_id}")
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

    async def count(self, account_id: int) -> int:
        query = sa.select(sa.func.count()).where(templates.c.account_id == account_id)
        async with self._db.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
