"""Routes, maintenance windows and retry timing: pure decisions of the delivery engine.

Vocabulary (kept from SMS gateways such as Jasmin, not their structure): an MT *route* maps an
(account, carrier) pair to an ordered list of *connectors*; the first one that is up is used and
the next ones are the *failover*. A *maintenance window* (seeds/000) covers one carrier and
channel for a period and has an *effect* on messages to it.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from todoke.domain.carrier import Carrier

ALL_CARRIERS = "all"


class WindowEffect(enum.StrEnum):
    """What a maintenance window does to messages for its carrier and channel."""

    HOLD = "hold"  # keep the messages and send them, in order, after the window
    REFUSE = "refuse"  # the API refuses new sends (the provider answered 504); queued ones wait
    FALLBACK = "fallback"  # send through another connector (or SMS instead of RCS)


class WindowState(enum.StrEnum):
    PLANNED = "planned"
    CHANGED = "changed"  # planned, then moved (seeds/000 lists changed windows)
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A carrier x channel maintenance period; times in epoch milliseconds."""

    id: int
    carrier: str  # a Carrier value, or "all"
    channel: str  # "sms" | "rcs"
    starts_at: int
    ends_at: int
    effect: WindowEffect
    state: WindowState = WindowState.PLANNED
    fallback_connector: str | None = None
    note: str | None = None

    def covers(self, carrier: str | None, channel: str, now: int) -> bool:
        """Whether the window is in force for this carrier and channel at ``now``."""
        if self.state is WindowState.CANCELLED or self.channel != channel:
            return False
        if self.carrier not in (ALL_CARRIERS, carrier):
            return False
        return self.starts_at <= now < self.ends_at


def active_window(
    windows: Iterable[MaintenanceWindow], carrier: str | None, now: int, channel: str = "sms"
) -> MaintenanceWindow | None:
    """The window in force for the carrier (the one ending last when several overlap)."""
    found = [w for w in windows if w.covers(carrier, channel, now)]
    return max(found, key=lambda w: w.ends_at) if found else None


@dataclass(frozen=True, slots=True)
class Route:
    """An ordered list of connectors for an (account, carrier) pair."""

    account_id: int | None  # None: every account
    carrier: str  # a Carrier value or "all"
    connectors: tuple[str, ...]


class RoutingTable:
    """Resolves the connectors for a message; most specific route wins.

    Order: the account's route for the carrier, the account's route for all carriers, the
    platform's route for the carrier, the platform's route for all carriers.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes: dict[tuple[int | None, str], tuple[str, ...]] = {
            (r.account_id, r.carrier): r.connectors for r in routes if r.connectors
        }

    def __bool__(self) -> bool:
        return bool(self._routes)

    def connectors_for(self, account_id: int, carrier: str | None) -> tuple[str, ...]:
        keys: list[tuple[int | None, str]] = []
        if carrier:
            keys.append((account_id, carrier))
        keys.append((account_id, ALL_CARRIERS))
        if carrier:
            keys.append((None, carrier))
        keys.append((None, ALL_CARRIERS))
        for key in keys:
            found = self._routes.get(key)
            if found:
                return found
        return ()


def pick_connector(candidates: Sequence[str], ready: Mapping[str, bool]) -> str | None:
    """The first connector of the route that is up; None when none is."""
    for name in candidates:
        if ready.get(name, False):
            return name
    return None


def resolve_carrier(explicit: str | None, ported: str | None, block: str | None) -> str | None:
    """Carrier of a number: explicit > ported-number table > number block allocation."""
    return explicit or ported or block


def retry_delay_ms(attempt: int, *, base_ms: int = 30_000, cap_ms: int = 3_600_000) -> int:
    """Backoff before attempt ``attempt + 1``: exponential with full jitter in its upper half."""
    ceiling = int(min(cap_ms, base_ms * 2 ** max(0, attempt - 1)))
    return ceiling // 2 + random.randrange(ceiling // 2 + 1)  # noqa: S311 - jitter, not security


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """A configured SMPP connection to a carrier's SMSC."""

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    window: int = 10
    tps: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def public(self) -> dict[str, Any]:
        """Everything but the password (for listings)."""
        return {
            "name": self.name,
            "smpp": f"{self.host}:{self.port}",
            "systemId": self.system_id,
            "systemType": self.system_type,
            "window": self.window,
            "tps": self.tps,
            "options": dict(self.options),
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """Everything the dispatcher needs to route, read in one go and refreshed periodically."""

    connectors: tuple[ConnectorConfig, ...]
    routes: tuple[Route, ...]
    windows: tuple[MaintenanceWindow, ...]


def carrier_names() -> list[str]:
    """The values ``--carrier`` accepts."""
    return [ALL_CARRIERS, *(c.value for c in Carrier)]
