"""What happens to each simulated message: forced by the number's suffix, else drawn by seed.

Deterministic by construction: a message's draw is a hash of (seed, destination, attempt),
where ``attempt`` counts the messages seen for that destination. The same seed and the same
messages give the same outcomes whatever the interleaving of connections, and a resubmission
draws again (so a temporary failure can be followed by a success). The suffix table is in the
package docstring (``todoke.carriers.simulator``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import blake2b
from types import MappingProxyType
from typing import Final

from todoke.carriers.simulator.profiles import CarrierProfile
from todoke.carriers.smpp.pdu import CommandStatus
from todoke.domain.status import Cause
from todoke.domain.status_maps import classify_smpp_error

_2_64: Final = float(1 << 64)


@dataclass(frozen=True, slots=True)
class Forced:
    """What a forced suffix does. ``cause`` is the receipt outcome (``None``: the profile's
    random draw); ``submit_status`` refuses the submit_sm; ``first_only`` limits the forced
    behaviour to the destination's first attempt (later attempts are DELIVERED)."""

    cause: Cause | None = None
    submit_status: int = 0
    receipt: bool = True
    receipt_copies: int = 1
    first_only: bool = False


# Keyed by the destination's last four digits; documented in the package docstring.
FORCED_SUFFIXES: Final[Mapping[str, Forced]] = MappingProxyType(
    {
        "9900": Forced(Cause.DELIVERED),
        "9901": Forced(Cause.ABSENT_SUBSCRIBER),
        "9902": Forced(Cause.NETWORK_CONGESTION),
        "9903": Forced(Cause.UNKNOWN_SUBSCRIBER),
        "9904": Forced(Cause.SMS_REFUSED),
        "9905": Forced(Cause.HANDSET_ERROR),
        "9906": Forced(Cause.PARTIAL_DELIVERY),
        "9907": Forced(submit_status=CommandStatus.ESME_RINVDSTADR),
        "9908": Forced(Cause.DELIVERED, receipt=False),
        "9909": Forced(Cause.ABSENT_SUBSCRIBER, first_only=True),
        "9910": Forced(Cause.HANDSET_BUSY),
        "9911": Forced(Cause.CALL_BARRED),
        "9912": Forced(Cause.OTHER_NETWORK_FAILURE),
        "9913": Forced(Cause.EXPIRED),
        "9914": Forced(Cause.UNKNOWN),
        "9915": Forced(Cause.REJECTED_BY_CARRIER),
        "9916": Forced(Cause.DELIVERY_FAILED),
        "9917": Forced(submit_status=CommandStatus.ESME_RSUBMITFAIL, first_only=True),
        "9918": Forced(Cause.DELIVERED, receipt_copies=2),
    }
)
_RESERVED_PREFIX: Final = "99"  # 9919-9999: reserved, always DELIVERED
_ALWAYS_DELIVERED: Final = Forced(Cause.DELIVERED)


@dataclass(frozen=True, slots=True)
class Decision:
    """The fate of one message (all its parts).

    ``submit_status`` non-zero: submit_sm is refused with it (``cause`` is then what the
    platform will classify it as) and nothing else applies.
    ``cause`` PARTIAL_DELIVERY: parts 1..``delivered_parts`` are DELIVRD, the rest UNDELIV.
    ``delay_ok`` / ``delay_fail``: seconds (already scaled) until a delivered / failed part's
    receipt. ``receipt_copies`` 0 is a lost receipt. ``reply``: the recipient answers (MO).
    """

    cause: Cause
    delay_ok: float
    delay_fail: float
    submit_status: int = 0
    receipt_copies: int = 1
    delivered_parts: int = 0
    reply: bool = False
    reply_pick: float = 0.0

    def part_cause(self, seq: int) -> Cause:
        """The outcome of part ``seq`` (1-based)."""
        if self.cause is Cause.PARTIAL_DELIVERY:
            return Cause.DELIVERED if seq <= self.delivered_parts else Cause.PARTIAL_DELIVERY
        return self.cause


class OutcomePlanner:
    """Decides each message's outcome; remembers attempts per destination (bounded)."""

    __slots__ = ("_attempts", "_memory", "_mo_reply_rate", "_seed", "_time_factor")

    def __init__(
        self, *, seed: int, time_factor: float, mo_reply_rate: float, memory: int = 200_000
    ) -> None:
        self._seed = seed
        self._time_factor = time_factor
        self._mo_reply_rate = mo_reply_rate
        self._memory = memory
        self._attempts: dict[str, int] = {}

    def decide(self, profile: CarrierProfile, destination: str, parts: int) -> Decision:
        """The decision for the next message to ``destination`` made of ``parts`` parts."""
        attempt = self._attempts.pop(destination, 0) + 1
        self._attempts[destination] = attempt  # re-inserted: eviction drops the stalest
        if len(self._attempts) > self._memory:
            del self._attempts[next(iter(self._attempts))]
        digest = blake2b(f"{self._seed}:{destination}:{attempt}".encode(), digest_size=32).digest()
        u_outcome, u_latency, u_partial, u_reply = (
            int.from_bytes(digest[i : i + 8], "big") / _2_64 for i in (0, 8, 16, 24)
        )
        forced = FORCED_SUFFIXES.get(destination[-4:])
        if forced is None and destination[-4:-2] == _RESERVED_PREFIX:
            forced = _ALWAYS_DELIVERED
        if forced is not None and forced.first_only and attempt > 1:
            forced = _ALWAYS_DELIVERED
        copies = 1
        if forced is not None:
            if forced.submit_status:
                status = forced.submit_status
                return Decision(classify_smpp_error(status), 0.0, 0.0, submit_status=status)
            cause = forced.cause if forced.cause is not None else Cause.DELIVERED
            copies = forced.receipt_copies if forced.receipt else 0
        else:
            cause = _draw(profile.outcome_rates, u_outcome)
            # docomo (and Rakuten) 一部受信: a long message only partly reaches the handset.
            if cause is Cause.DELIVERED and parts > 1 and u_partial < profile.partial_delivery_rate:
                cause = Cause.PARTIAL_DELIVERY
        if cause is Cause.PARTIAL_DELIVERY and parts < 2:
            cause = Cause.DELIVERED  # a single part is received whole or not at all
        low, high = profile.latency_ms
        latency_ms = low + (high - low) * u_latency
        fail_ms = latency_ms
        if profile.failure_receipt_delay_ms is not None:
            # au: KDDI takes ~20 minutes to report a failure (seeds/002); successes are quick.
            fail_ms = profile.failure_receipt_delay_ms + latency_ms
        scale = self._time_factor / 1000.0
        return Decision(
            cause=cause,
            delay_ok=latency_ms * scale,
            delay_fail=fail_ms * scale,
            receipt_copies=copies,
            # 1..parts-1 parts arrive: at least one part is received and one is missing.
            delivered_parts=1 + int(u_latency * (parts - 1)) if parts > 1 else parts,
            reply=cause is Cause.DELIVERED and u_reply < self._mo_reply_rate,
            reply_pick=u_reply,
        )


def _draw(rates: Mapping[Cause, float], u: float) -> Cause:
    """The cause whose cumulative-rate slot ``u`` falls in; DELIVERED for the remainder."""
    acc = 0.0
    for cause, rate in rates.items():
        acc += rate
        if u < acc:
            return cause
    return Cause.DELIVERED
