"""deliver_sm towards the clients: scheduled, queued per system_id, windowed, resent.

A receipt or inbound message (an ``Outbound``) goes through three places:

1. a heap of timers (one ``loop.call_at`` for the earliest, not one per message) until its
   delay has passed;
2. the ready queue of its system_id (receipts go back to the account that submitted the
   message, as real SMSCs route them), where it waits for as long as no receiver or
   transceiver of that system_id is bound: nothing is dropped while nobody listens;
3. the in-flight table of one bound connection, at most ``window`` per connection, until the
   client answers deliver_sm_resp.

An error answer (0x64 ESME_RX_T_APPN, a generic_nack, ...) or no answer within
``resp_timeout`` sends it again after ``retry_delay``, doubling with each attempt up to a minute
(as SMSCs back off, so that a client's outage of a few minutes loses nothing), up to
``max_attempts`` sends; only then is it abandoned, counted and logged. A connection that drops
puts its in-flight items back at the front of the queue without using up an attempt (the
client never had a chance to answer).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from todoke.carriers.simulator.receipts import with_sequence
from todoke.carriers.simulator.stats import SimulatorStats

log = structlog.get_logger(__name__)

_MAX_RETRY_DELAY = 60.0  # seconds between two sends of one deliver_sm, at most


@dataclass(slots=True)
class Outbound:
    """One deliver_sm to send: its frame (sequence 0), whether it is a receipt, a label for
    logs (the message id, never text) and how many times it was sent."""

    frame: bytes
    is_receipt: bool
    label: str
    attempts: int = 0


class Receiver(Protocol):
    """A bound connection that takes deliver_sm (receiver or transceiver)."""

    system_id: str
    inflight: dict[int, tuple[Outbound, float]]

    def next_sequence(self) -> int:
        """A fresh sequence_number for a PDU sent to the client."""
        ...

    def write(self, frame: bytes) -> None:
        """Queue ``frame`` for sending (``flush`` sends)."""
        ...

    def flush(self) -> None:
        """Send what ``write`` queued."""
        ...


class Outboxes:
    """The deliver_sm traffic of one simulator (see the module docstring)."""

    def __init__(
        self,
        stats: SimulatorStats,
        *,
        window: int,
        resp_timeout: float,
        retry_delay: float,
        max_attempts: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._stats = stats
        self.window = window
        self.resp_timeout = resp_timeout
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        self._heap: list[tuple[float, int, str, Outbound]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._sweeper: asyncio.TimerHandle | None = None
        self._ready: dict[str, deque[Outbound]] = {}
        self._receivers: dict[str, list[Receiver]] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the timers on ``loop``."""
        self._loop = loop
        if self._clock is None:
            self._clock = loop.time
        if self._heap:
            self._arm(self._heap[0][0])
        self._sweeper = loop.call_later(self._sweep_interval, self._sweep)

    def close(self) -> None:
        """Stop the timers; what is pending stays pending."""
        for handle in (self._timer, self._sweeper):
            if handle is not None:
                handle.cancel()
        self._timer = self._sweeper = None

    @property
    def _sweep_interval(self) -> float:
        return max(0.05, min(1.0, self.resp_timeout / 4))

    def pending(self) -> int:
        """Receipts and inbound messages not yet acknowledged: scheduled, queued, in flight."""
        inflight = sum(len(r.inflight) for rs in self._receivers.values() for r in rs)
        return len(self._heap) + sum(len(q) for q in self._ready.values()) + inflight

    def system_ids(self) -> list[str]:
        """Every system_id that has a queue (it was bound as a receiver once at least)."""
        return list(self._ready)

    def bound_system_ids(self) -> list[str]:
        """The system_ids with a receiver or transceiver bound now."""
        return [sid for sid, rs in self._receivers.items() if rs]

    # --- receivers -----------------------------------------------------------------------

    def attach(self, receiver: Receiver) -> None:
        """A receiver or transceiver bound: it gets its system_id's queue from now on."""
        self._receivers.setdefault(receiver.system_id, []).append(receiver)
        self._ready.setdefault(receiver.system_id, deque())
        self.pump(receiver.system_id)

    def detach(self, receiver: Receiver) -> None:
        """The connection is gone: what it had in flight goes back to the front of the queue."""
        receivers = self._receivers.get(receiver.system_id, [])
        if receiver not in receivers:
            return
        receivers.remove(receiver)
        queue = self._ready.setdefault(receiver.system_id, deque())
        # Oldest first at the front; a disconnect is not the client's answer: no attempt used.
        for item, _sent in sorted(receiver.inflight.values(), key=lambda v: v[1], reverse=True):
            item.attempts -= 1
            queue.appendleft(item)
        receiver.inflight.clear()
        self.pump(receiver.system_id)

    # --- traffic -------------------------------------------------------------------------

    def schedule(self, system_id: str, item: Outbound, delay: float) -> None:
        """Send ``item`` to ``system_id`` after ``delay`` seconds."""
        if self._loop is None or self._clock is None:
            raise RuntimeError("the simulator is not started")
        self._ready.setdefault(system_id, deque())
        due = self._clock() + delay
        heapq.heappush(self._heap, (due, next(self._order), system_id, item))
        if self._timer is None or due < self._timer_due:
            self._arm(due)

    def answered(self, receiver: Receiver, sequence: int, status: int) -> None:
        """The client answered deliver_sm ``sequence`` with ``status``."""
        entry = receiver.inflight.pop(sequence, None)
        if entry is None:
            return  # late answer to a deliver_sm already timed out and resent
        item = entry[0]
        if status == 0:
            if item.is_receipt:
                self._stats.receipts_acked += 1
            else:
                self._stats.mo_acked += 1
        else:
            self._retry(receiver.system_id, item, f"status 0x{status:02X}")
        self.pump(receiver.system_id)

    def pump(self, system_id: str) -> None:
        """Send from the queue of ``system_id`` as far as the windows allow."""
        queue = self._ready.get(system_id)
        receivers = self._receivers.get(system_id)
        if not queue or not receivers or self._clock is None:
            return
        now = self._clock()
        window = self.window
        stats = self._stats
        used: list[Receiver] = []
        while queue:
            # The least busy connection takes the next one, which spreads load over binds.
            target = min(receivers, key=lambda r: len(r.inflight))
            if len(target.inflight) >= window:
                break
            item = queue.popleft()
            seq = target.next_sequence()
            target.inflight[seq] = (item, now)
            target.write(with_sequence(item.frame, seq))
            item.attempts += 1
            if item.is_receipt:
                stats.receipts_sent += 1
                if item.attempts > 1:
                    stats.receipts_resent += 1
            else:
                stats.mo_sent += 1
            if target not in used:
                used.append(target)
        for receiver in used:
            receiver.flush()

    # --- internals -------------------------------------------------------------------------

    def _retry(self, system_id: str, item: Outbound, why: str) -> None:
        if item.attempts >= self.max_attempts:
            if item.is_receipt:
                self._stats.receipts_abandoned += 1
            else:
                self._stats.mo_abandoned += 1
            log.warning(
                "simulator.deliver_abandoned",
                system_id=system_id,
                message_id=item.label,
                attempts=item.attempts,
                reason=why,
            )
            return
        delay = min(_MAX_RETRY_DELAY, self.retry_delay * 2 ** max(0, item.attempts - 1))
        self.schedule(system_id, item, delay)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_at(due, self._fire)
        self._timer_due = due

    def _fire(self) -> None:
        self._timer = None
        assert self._clock is not None
        now = self._clock() + 0.0005  # what is due within half a millisecond goes now too
        heap = self._heap
        touched: set[str] = set()
        while heap and heap[0][0] <= now:
            _due, _n, system_id, item = heapq.heappop(heap)
            self._ready[system_id].append(item)
            touched.add(system_id)
        if heap:
            self._arm(heap[0][0])
        for system_id in touched:
            self.pump(system_id)

    def _sweep(self) -> None:
        assert self._loop is not None and self._clock is not None
        self._sweeper = self._loop.call_later(self._sweep_interval, self._sweep)
        deadline = self._clock() - self.resp_timeout
        for system_id, receivers in self._receivers.items():
            for receiver in receivers:
                late = [s for s, (_item, sent) in receiver.inflight.items() if sent < deadline]
                for seq in late:
                    item, _sent = receiver.inflight.pop(seq)
                    self._retry(system_id, item, "no deliver_sm_resp")
            if receivers:
                self.pump(system_id)
