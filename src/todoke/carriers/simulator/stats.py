"""What the simulator saw and did: counters for tests, drills and benchmarks."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from todoke.domain.carrier import Carrier
from todoke.domain.status import Cause


@dataclass(slots=True)
class SimulatorStats:
    """Counters of one simulator, updated in place (read them from the simulator's loop).

    ``submits`` counts submit_sm PDUs (parts) received, ``parts_accepted`` those answered
    ESME_ROK, ``messages`` complete messages (concatenated parts reassembled). ``refused``
    counts submit_sm_resp errors by command_status (throttling and maintenance included).
    Receipt counters count PDUs: ``receipts_sent`` includes resends. ``by_outcome`` counts
    messages by the outcome decided for them. ``duplicates`` counts, per (destination, text),
    the copies received after the first: the reliability drills bound duplicates towards the
    SMSC with it. ``texts(destination)`` gives the last texts received for a destination.
    """

    binds: int = 0
    submits: int = 0
    parts_accepted: int = 0
    messages: int = 0
    throttled: int = 0
    maintenance_refusals: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    receipts_sent: int = 0
    receipts_resent: int = 0
    receipts_acked: int = 0
    receipts_abandoned: int = 0
    mo_sent: int = 0
    mo_acked: int = 0
    mo_abandoned: int = 0
    by_outcome: Counter[Cause] = field(default_factory=Counter)
    by_carrier: Counter[Carrier] = field(default_factory=Counter)
    duplicates: Counter[tuple[str, str]] = field(default_factory=Counter)
    max_seen: int = field(default=2_000_000, repr=False)
    max_destinations: int = field(default=10_000, repr=False)
    texts_per_destination: int = field(default=20, repr=False)
    _seen: dict[int, None] = field(default_factory=dict, repr=False)
    _texts: dict[str, deque[str]] = field(default_factory=dict, repr=False)

    @property
    def duplicate_count(self) -> int:
        """Messages received again with the same destination and text."""
        return sum(self.duplicates.values())

    def record_message(self, destination: str, text: str) -> None:
        """Count one complete message; remember its text and whether it repeats one."""
        self.messages += 1
        # A 64-bit hash stands for (destination, text): the set stays small for the drills'
        # millions of messages, and a false duplicate is a 1 in 2**64 event.
        key = hash((destination, text))
        if key in self._seen:
            self.duplicates[(destination, text)] += 1
        else:
            self._seen[key] = None
            if len(self._seen) > self.max_seen:
                del self._seen[next(iter(self._seen))]
        texts = self._texts.get(destination)
        if texts is None:
            if len(self._texts) >= self.max_destinations:
                del self._texts[next(iter(self._texts))]
            texts = self._texts[destination] = deque(maxlen=self.texts_per_destination)
        texts.append(text)

    def texts(self, destination: str) -> list[str]:
        """The last texts received for ``destination`` (as submitted, without '+'), oldest
        first; empty when none or forgotten."""
        return list(self._texts.get(destination.removeprefix("+"), ()))
