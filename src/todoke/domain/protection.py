"""The abuse guards as pure rules: flooding filter, duplicate detection, blocklists, opt-out.

No I/O here. The store gathers what a decision needs (a number's recent messages, its
blocklist entries) inside the accept transaction and asks :func:`screen` what to do; the
opt-out keywords of inbound replies are matched by :func:`opt_out_keyword`.

The flooding filter follows seeds/004 (REJECTED_FLOODING_FILTER): by default one number may
receive at most 20 messages and at most 6 identical messages per hour from one account. A
message beyond either limit is stored as a final REJECTED message (EC_DESTINATION_FLOODING,
EC_DESTINATION_TXT_FLOODING) and never reaches a carrier. Only messages that were not rejected
count: a refused message does not extend the refusal.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from todoke.domain.status import Cause

HOUR_MS: Final = 3_600_000

# account_id of the platform-wide (DND) blocklist entries.
PLATFORM: Final = 0

BLOCK_REASONS: Final = ("manual", "import", "keyword", "dnd")

DEFAULT_OPT_OUT_KEYWORDS: Final = ("配信停止", "ていし", "STOP")

# Causes of messages refused at acceptance: never sent, so never counted (quotas, flooding).
GUARD_CAUSES: Final = (
    Cause.FLOODING.value,
    Cause.TEXT_FLOODING.value,
    Cause.DUPLICATE.value,
    Cause.BLOCKLISTED.value,
    Cause.DND.value,
    Cause.OPTED_OUT.value,
)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ScreenPolicy:
    """What the accept transaction checks for one account (0 switches a rule off)."""

    flood_max_messages: int = 20
    flood_max_identical: int = 6
    duplicate_window_ms: int = 0

    @property
    def history_ms(self) -> int:
        """How far back a number's messages are needed (0: no history needed)."""
        flood = HOUR_MS if (self.flood_max_messages or self.flood_max_identical) else 0
        return max(flood, self.duplicate_window_ms)


@dataclass(frozen=True, slots=True)
class Quota:
    """An account's sending counts for the current JST day and month (None: no limit)."""

    daily: int | None
    monthly: int | None
    day_key: str  # "d20261123"
    month_key: str  # "m202611"
    day_start: int = 0  # epoch ms of 00:00 JST today
    month_start: int = 0  # epoch ms of the 1st, 00:00 JST

    @property
    def periods(self) -> tuple[tuple[str, int | None, int, str], ...]:
        """(key, limit, start, label) of the day and the month."""
        return (
            (self.day_key, self.daily, self.day_start, "daily"),
            (self.month_key, self.monthly, self.month_start, "monthly"),
        )


@dataclass(frozen=True, slots=True)
class AcceptGuard:
    """Everything the accept transaction enforces for one send request."""

    screen: ScreenPolicy
    quota: Quota | None = None


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """An account's limits as stored (None: the platform default; 0: off / unlimited)."""

    rate_limit: int | None = None
    daily_quota: int | None = None
    monthly_quota: int | None = None
    flood_max_messages: int | None = None
    flood_max_identical: int | None = None
    duplicate_window_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Recent:
    """One earlier message to the same number (not rejected), as the filter sees it."""

    text: str
    created_at: int


def blocked_cause(reasons: Iterable[tuple[int, str]]) -> Cause | None:
    """The cause of a send to a number listed as ``(account_id, reason)`` entries.

    The platform-wide list is the operator's do-not-disturb list (REJECTED_DND); an account's
    own entry is REJECTED_DESTINATION_BLOCKLISTED, with EC_CONTENT_BLOCKED when the recipient
    opted out by reply (603: ユーザーのオプトアウト).
    """
    cause: Cause | None = None
    for account_id, reason in reasons:
        if account_id == PLATFORM:
            return Cause.DND
        cause = Cause.OPTED_OUT if reason == "keyword" else Cause.BLOCKLISTED
    return cause


def screen(text: str, recent: Sequence[Recent], policy: ScreenPolicy, now: int) -> Cause | None:
    """Why a message to a number with these ``recent`` messages must be refused, or None."""
    if not recent:  # the common case: nothing sent to this number lately
        return None
    hour_ago = now - HOUR_MS
    if policy.duplicate_window_ms:
        since = now - policy.duplicate_window_ms
        if any(r.text == text and r.created_at > since for r in recent):
            return Cause.DUPLICATE
    if policy.flood_max_identical:
        same = sum(1 for r in recent if r.created_at > hour_ago and r.text == text)
        if same >= policy.flood_max_identical:
            return Cause.TEXT_FLOODING
    if policy.flood_max_messages:
        total = sum(1 for r in recent if r.created_at > hour_ago)
        if total >= policy.flood_max_messages:
            return Cause.FLOODING
    return None


# --- opt-out keywords -----------------------------------------------------------------------

_DROP_CATEGORIES: Final = ("Z", "P", "S", "C")  # separators, punctuation, symbols, controls


def normalize_keyword(text: str) -> str:
    """A reply or keyword in comparable form: NFKC, case-folded, without spaces or punctuation.

    So "ＳＴＯＰ", " stop. " and "Stop!" are all "stop", and "配信停止。" is "配信停止".
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] not in _DROP_CATEGORIES)
    return unicodedata.normalize("NFKC", kept)  # dropping may leave composable pairs


def opt_out_keyword(text: str, keywords: Iterable[str]) -> str | None:
    """The keyword a reply consists of, or None.

    A reply opts out when, normalised, it *is* a keyword: "配信停止" and "STOP!" do, while
    "明日の配信停止について教えて" does not (a sentence that merely mentions the word is a
    question for a person, not an instruction).
    """
    said = normalize_keyword(text)
    if not said:
        return None
    for keyword in keywords:
        if said == normalize_keyword(keyword):
            return keyword
    return None


# --- IP rules -------------------------------------------------------------------------------


def parse_network(value: str) -> IpNetwork:
    """An address or CIDR range (IPv4 or IPv6), normalised; ValueError when it is neither."""
    return ipaddress.ip_network(value.strip(), strict=False)


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client address, or None when it is not one (an IPv4-mapped IPv6 one becomes IPv4)."""
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_in(address: str, networks: Sequence[IpNetwork]) -> bool:
    """Whether ``address`` lies in one of ``networks`` (an unparsable address never does)."""
    parsed = parse_address(address)
    if parsed is None:
        return False
    return any(parsed.version == n.version and parsed in n for n in networks)


@dataclass(frozen=True, slots=True)
class BlockEntry:
    """A number on a blocklist (``account_id`` 0: the platform-wide list)."""

    account_id: int
    number: str
    reason: str
    created_at: int
    note: str | None = None


@dataclass(frozen=True, slots=True)
class IpRecord:
    """Authentication failures of one client address; ``blocked_at`` set: blocked."""

    ip: str
    failures: int
    last_failure_at: int | None = None
    blocked_at: int | None = None

    @property
    def blocked(self) -> bool:
        return self.blocked_at is not None
