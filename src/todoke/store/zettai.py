"""The 絶対リーチ! settings side table."""

from __future__ import annotations

import sqlalchemy as sa

from todoke.services.zettai_settings import ZettaiSettings
from todoke.store.database import Database
from todoke.store.tables import zettai_settings


class ZettaiSettingsStore:
    """Implements :class:`todoke.services.zettai_settings.ZettaiSettingsStorePort`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, account_id: int) -> ZettaiSettings | None:
        query = sa.select(zettai_settings).where(zettai_settings.c.account_id == account_id)
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ZettaiSettings(
            account_id=row.account_id,
            dlr_url=row.dlr_url,
            dlr_format=row.dlr_format,
            short_domain=row.short_domain,
            agency_viewer_id=row.agency_viewer_id,
        )

    async def put(self, settings: ZettaiSettings, *, now: int) -> None:
        values = {
            "dlr_url": settings.dlr_url,
            "dlr_format": settings.dlr_format,
            "short_domain": settings.short_domain,
            "agency_viewer_id": settings.agency_viewer_id,
            "updated_at": now,
        }
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                zettai_settings.update()
                .where(zettai_settings.c.account_id == settings.account_id)
                .values(**values)
            )
            if not result.rowcount:
                await conn.execute(
                    zettai_settings.insert().values(account_id=settings.account_id, **values)
                )

    async def clients_of(self, viewer_id: int) -> list[int]:
        query = sa.select(zettai_settings.c.account_id).where(
            zettai_settings.c.agency_viewer_id == viewer_id
        )
        async with self._db.connect() as conn:
            return [int(r.account_id) for r in await conn.execute(query)]
