"""Operator configuration of delivery: connectors, routes, maintenance windows, ported numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from todoke.domain.routing import (
    ConnectorConfig,
    MaintenanceWindow,
    Route,
    RoutingSnapshot,
    WindowEffect,
    WindowState,
)
from todoke.domain.status import HELD
from todoke.errors import Conflict, NotFound
from todoke.store.database import Database
from todoke.store.tables import connectors, maintenance_windows, messages, ported_numbers, routes


def _window(row: Any) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=row.id,
        carrier=row.carrier,
        channel=row.channel,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        effect=WindowEffect(row.effect),
        state=WindowState(row.state),
        fallback_connector=row.fallback_connector,
        note=row.note,
    )


class RoutingStore:
    """CRUD for the operator's delivery configuration (CLI), and the dispatcher's snapshot."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- connectors ----------------------------------------------------------------------

    async def add_connector(self, row: ConnectorConfig, *, now: int) -> None:
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    connectors.insert().values(
                        name=row.name,
                        kind="smpp",
                        host=row.host,
                        port=row.port,
                        system_id=row.system_id,
                        password=row.password,
                        system_type=row.system_type,
                        window=row.window,
                        tps=row.tps,
                        options=json.dumps(row.options) if row.options else None,
                        enabled=row.enabled,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"connector {row.name!r} already exists") from exc

    async def remove_connector(self, name: str) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(connectors.delete().where(connectors.c.name == name))
            if result.rowcount == 0:
                raise NotFound(f"no connector {name!r}")
            await conn.execute(routes.delete().where(routes.c.connector == name))

    async def list_connectors(self) -> list[ConnectorConfig]:
        async with self._db.connect() as conn:
            rows = await conn.execute(sa.select(connectors).order_by(connectors.c.name))
            return [
                ConnectorConfig(
                    name=r.name,
                    host=r.host,
                    port=r.port,
                    system_id=r.system_id,
                    password=r.password,
                    system_type=r.system_type,
                    window=r.window,
                    tps=r.tps,
                    options=json.loads(r.options) if r.options else {},
                    enabled=bool(r.enabled),
                )
                for r in rows
            ]

    # --- routes --------------------------------------------------------------------------

    async def set_route(
        self, *, account_id: int | None, carrier: str, connector_names: Sequence[str], now: int
    ) -> None:
        """Replace the route of (account, carrier) by this ordered list of connectors."""
        async with self._db.engine.begin() as conn:
            known = set((await conn.execute(sa.select(connectors.c.name))).scalars())
            missing = [n for n in connector_names if n not in known]
            if missing:
                raise NotFound(f"no connector {missing[0]!r}")
            account_match = (
                routes.c.account_id.is_(None)
                if account_id is None
                else routes.c.account_id == account_id
            )
            await conn.execute(routes.delete().where(account_match, routes.c.carrier == carrier))
            if connector_names:
                await conn.execute(
                    routes.insert(),
                    [
                        {
                            "account_id": account_id,
                            "carrier": carrier,
                            "position": i,
                            "connector": name,
                            "created_at": now,
                        }
                        for i, name in enumerate(connector_names)
                    ],
                )

    async def list_routes(self) -> list[Route]:
        async with self._db.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(routes).order_by(
                        routes.c.account_id, routes.c.carrier, routes.c.position
                    )
                )
            ).all()
        grouped: dict[tuple[int | None, str], list[str]] = {}
        for r in rows:
            grouped.setdefault((r.account_id, r.carrier), []).append(r.connector)
        return [Route(a, c, tuple(names)) for (a, c), names in grouped.items()]

    # --- maintenance windows ---------------------------------------------------------

    async def add_window(self, window: MaintenanceWindow, *, now: int) -> MaintenanceWindow:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                maintenance_windows.insert()
                .values(
                    carrier=window.carrier,
                    channel=window.channel,
                    starts_at=window.starts_at,
                    ends_at=window.ends_at,
                    effect=window.effect.value,
                    state=window.state.value,
                    fallback_connector=window.fallback_connector,
                    note=window.note,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*maintenance_windows.c)
            )
            return _window(result.one())

    async def change_window(
        self, window_id: int, *, starts_at: int, ends_at: int, now: int
    ) -> MaintenanceWindow:
        return await self._update_window(
            window_id,
            {"starts_at": starts_at, "ends_at": ends_at, "state": "changed", "updated_at": now},
        )

    async def cancel_window(self, window_id: int, *, now: int) -> MaintenanceWindow:
        return await self._update_window(window_id, {"state": "cancelled", "updated_at": now})

    async def _update_window(self, window_id: int, values: dict[str, Any]) -> MaintenanceWindow:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                maintenance_windows.update()
                .where(maintenance_windows.c.id == window_id)
                .values(**values)
                .returning(*maintenance_windows.c)
            )
            row = result.first()
            if row is None:
                raise NotFound(f"no maintenance window {window_id}")
            # Messages held by this window are looked at again now: released when it was
            # cancelled, held until the new end when it was moved.
            await _release_held(conn, values["updated_at"])
        return _window(row)

    async def list_windows(self, *, since: int | None = None) -> list[MaintenanceWindow]:
        query = sa.select(maintenance_windows).order_by(maintenance_windows.c.starts_at)
        if since is not None:
            query = query.where(maintenance_windows.c.ends_at >= since)
        async with self._db.connect() as conn:
            return [_window(r) for r in await conn.execute(query)]

    # --- ported numbers --------------------------------------------------------------

    async def import_ported(self, pairs: Iterable[tuple[str, str]], *, now: int) -> int:
        """Insert or replace (number, carrier) pairs; returns how many were written."""
        count = 0
        batch: list[dict[str, Any]] = []
        async with self._db.engine.begin() as conn:
            for number, carrier in pairs:
                batch.append({"number": number, "carrier": carrier, "updated_at": now})
                if len(batch) >= 1000:
                    count += await self._upsert(conn, batch)
                    batch = []
            if batch:
                count += await self._upsert(conn, batch)
        return count

    @staticmethod
    async def _upsert(conn: Any, batch: list[dict[str, Any]]) -> int:
        numbers = [b["number"] for b in batch]
        await conn.execute(ported_numbers.delete().where(ported_numbers.c.number.in_(numbers)))
        # Later rows of one file win over earlier ones for the same number.
        unique = {b["number"]: b for b in batch}
        await conn.execute(ported_numbers.insert(), list(unique.values()))
        return len(unique)

    # --- the dispatcher's snapshot -----------------------------------------------------

    async def snapshot(self, *, now: int) -> RoutingSnapshot:
        return RoutingSnapshot(
            connectors=tuple(c for c in await self.list_connectors() if c.enabled),
            routes=tuple(await self.list_routes()),
            windows=tuple(await self.list_windows(since=now)),
        )


async def _release_held(conn: Any, now: int) -> int:
    result = await conn.execute(
        messages.update()
        .where(
            messages.c.status == HELD.name,
            messages.c.due_at > now,
            messages.c.lease_owner.is_(None),
        )
        .values(due_at=now)
    )
    return int(result.rowcount or 0)
