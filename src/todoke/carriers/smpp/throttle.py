"""The pace of submit_sm on one connector: a token bucket, and AIMD when the SMSC throttles.

SMSCs enforce the agreed throughput by answering ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL
(0x14). That is "slow down", not a failure: the connector resubmits the part, and this class
pauses every sender for a moment and halves the rate (multiplicative decrease), then raises it
by a fraction of the ceiling per second (additive increase) until it is back at the configured
``tps``, or, on an unlimited connector, back at the rate measured when throttling began, at
which point the connector is unlimited again.

Pacing is GCRA (virtual scheduling): each ``acquire`` reserves the next send time, so concurrent
senders are spaced fairly and a long-run rate is exact whatever the timer granularity.
"""

from __future__ import annotations

import asyncio
from typing import Final

_SLACK: Final = 0.02  # seconds of sends allowed back to back (timer granularity)
_MIN_RATE: Final = 1.0  # messages/s: never slower than this after throttling
_FLOOR: Final = 0.02  # ... nor slower than this fraction of the ceiling
_RECOVERY: Final = 0.2  # fraction of the ceiling added back per second
_RING: Final = 64  # sends over which an unlimited connector's actual rate is measured


class SendRate:
    """Token bucket for submit_sm with AIMD back-off; ``tps=None`` is unlimited until throttled.

    ``pause`` is how long every sender stops after a throttling answer; one cut of the rate per
    ``pause``, because a full window of throttled answers reports one overload, not fifty.
    """

    def __init__(self, tps: float | None, *, pause: float = 0.2) -> None:
        self._limit = tps
        self._rate = tps  # the effective rate; None = unlimited
        self._ceiling = tps  # where additive increase stops
        self._pause = pause
        self._tat = 0.0  # theoretical arrival time of the next send
        self._paused_until = 0.0
        self._last_cut = float("-inf")
        self._last_raise = 0.0
        self._sent = 0
        self._ring = [0.0] * _RING  # send times of the last _RING sends, for _measured_rate

    @property
    def rate(self) -> float | None:
        """The current effective rate in messages/s (``None``: unlimited)."""
        return self._rate

    async def acquire(self) -> None:
        """Wait until one more submit_sm may be sent."""
        now = asyncio.get_running_loop().time()
        self._ring[self._sent % _RING] = now
        self._sent += 1
        if self._rate is None and now >= self._paused_until:
            return  # the fast path of an unthrottled, unlimited connector
        wait = self._reserve(now)
        if wait > 0:
            await asyncio.sleep(wait)

    def throttled(self) -> bool:
        """Record a throttling answer; True when it cut the rate (worth a log line)."""
        now = asyncio.get_running_loop().time()
        self._paused_until = max(self._paused_until, now + self._pause)
        if now - self._last_cut < self._pause:
            return False
        self._last_cut = now
        if self._rate is None:
            # Unlimited: start from the rate actually sent at, and come back to it.
            current = self._ceiling = max(self._measured_rate(now), 2 * _MIN_RATE)
        else:
            current = self._rate
        assert self._ceiling is not None
        self._rate = max(_MIN_RATE, self._ceiling * _FLOOR, current / 2)
        self._last_raise = now + self._pause
        return True

    def _measured_rate(self, now: float) -> float:
        """Sends per second over the last ``_RING`` sends (fewer just after start)."""
        n = min(self._sent, _RING)
        if n == 0:
            return 0.0
        oldest = self._ring[(self._sent - n) % _RING]
        return n / max(now - oldest, 1e-3)

    def _reserve(self, now: float) -> float:
        """Reserve the next send time; return the seconds to wait for it."""
        begin = max(now, self._paused_until)
        rate = self._raise(begin)
        if rate is None:
            return begin - now
        interval = 1.0 / rate
        slot = max(self._tat, begin)
        self._tat = slot + interval
        return max(begin, slot - _SLACK) - now

    def _raise(self, now: float) -> float | None:
        """Additive increase since the last call, back to the configured limit."""
        if self._rate is None or self._ceiling is None or now <= self._last_raise:
            return self._rate
        self._rate += _RECOVERY * self._ceiling * (now - self._last_raise)
        self._last_raise = now
        if self._rate >= self._ceiling:
            self._rate = self._limit
        return self._rate
