"""Rate limits: GCRA (the generic cell rate algorithm) per key, shared between processes.

Each key ("ip:192.0.2.1", "send:10001") has a *theoretical arrival time* ``tat``: the moment
its budget would be full again. A request of ``cost`` units at rate ``r`` per second with a
burst of ``b`` units is admitted when ``max(tat, now) + cost/r - now <= b/r``, and then moves
``tat`` on by ``cost/r``. This is a token bucket without a timer, one float per key.

A request bigger than the whole burst (a batch of 10,000 messages at 600/s) is admitted when
the key is idle and puts it in debt: nothing more passes until the debt is paid off, so the
average rate holds.

Across processes (PostgreSQL), :meth:`RateLimiter.sync` adds what this process consumed since
the last sync to a shared row per key (``tat = max(tat, now) + cost``) and adopts the shared
value, which includes the other processes' consumption. Between two syncs a process sees only
its own consumption: with N processes and a sync every ``interval`` seconds, a key may get up
to about ``(N - 1) × rate × interval`` units more than its limit in a burst; over any longer
period the debt makes the average hold. docs/protection.md gives the figures.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

# Floating-point slack for "is the key idle" (epoch seconds as doubles are exact to ~0.2 µs).
_EPSILON = 1e-6

SyncStore = Callable[[dict[str, float], float], Awaitable[dict[str, float]]]


class RateLimiter:
    """GCRA state of every key this process has seen.

    Times are kept in seconds since the limiter's own start (``_base``), not since the epoch:
    every admitted request adds ``cost/rate`` to a key's time, and at epoch magnitude (~2e9)
    a double rounds each addition by up to ~1e-7 s, which summed over a burst of a thousand
    or two came to more than the slack below (a burst of 1,486 admitted 1,485). Near zero
    the rounding is a thousand times smaller. Epoch seconds are used only at the edges: the
    clock, and the shared rows of :meth:`sync`.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._base = clock()
        self._tat: dict[str, float] = {}  # seconds since _base
        self._pending: dict[str, float] = {}  # consumed since the last sync (seconds)

    def take(self, key: str, rate: float, burst: float, cost: float = 1.0) -> float | None:
        """Consume ``cost`` units of ``key``; None if admitted, else seconds to wait."""
        now = self.clock() - self._base
        interval = 1.0 / rate
        tolerance = burst * interval
        increment = cost * interval
        tat = max(self._tat.get(key, now), now)
        # Half a unit of slack against the rounding of the additions, which can never admit a
        # whole request more.
        if tat + increment - now > tolerance + 0.5 * interval:
            if increment <= tolerance:
                return tat + increment - tolerance - now
            if tat > now + _EPSILON:  # an oversized request passes only when the key is idle
                return tat - now
        self._tat[key] = tat + increment
        self._pending[key] = self._pending.get(key, 0.0) + increment
        return None

    async def sync(self, store: SyncStore) -> int:
        """Share what was consumed since the last sync; returns the number of keys synced."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            shared = await store(pending, self.clock())
        except BaseException:
            for key, cost in pending.items():  # try again next time
                self._pending[key] = self._pending.get(key, 0.0) + cost
            raise
        for key, tat in shared.items():
            # Consumption since the snapshot is local only: it comes on top of the shared value.
            since = self._pending.get(key, 0.0)
            local = tat - self._base
            self._tat[key] = max(self._tat.get(key, local), local + since)
        return len(shared)

    def forget_idle(self) -> None:
        """Drop keys whose budget is full again (they behave exactly like unseen keys)."""
        now = self.clock() - self._base
        for key in [k for k, tat in self._tat.items() if tat <= now and k not in self._pending]:
            del self._tat[key]

    def __len__(self) -> int:
        return len(self._tat)
