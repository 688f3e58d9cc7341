"""The maintenance calendar as the accept path sees it: which carrier refuses sends now.

Windows change rarely; they are read at most every ``ttl`` seconds per process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from todoke.domain.routing import MaintenanceWindow, WindowEffect, active_window

WindowLoader = Callable[[], Awaitable[Sequence[MaintenanceWindow]]]


class MaintenanceCalendar:
    """Cached view of the maintenance windows."""

    def __init__(self, load: WindowLoader, *, ttl: float = 2.0) -> None:
        self._load = load
        self._ttl = ttl
        self._windows: Sequence[MaintenanceWindow] = ()
        self._expires = 0.0
        self._loading: asyncio.Future[Sequence[MaintenanceWindow]] | None = None

    async def windows(self) -> Sequence[MaintenanceWindow]:
        if time.monotonic() < self._expires:
            return self._windows
        # One load for every request that finds the cache expired (hundreds at once under
        # load), not one each.
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(self._loading)

    async def _refresh(self) -> Sequence[MaintenanceWindow]:
        try:
            self._windows = await self._load()
            self._expires = time.monotonic() + self._ttl
            return self._windows
        finally:
            self._loading = None

    async def refusing(self, carrier: str | None, now: int) -> MaintenanceWindow | None:
        """The window in force that refuses sends to this carrier, if any."""
        windows = await self.windows()
        if not windows:
            return None
        window = active_window(windows, carrier, now)
        return window if window is not None and window.effect is WindowEffect.REFUSE else None
