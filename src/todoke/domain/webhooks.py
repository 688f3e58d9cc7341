"""Webhook rules that need no I/O: event types, target URLs, retry schedule, the address guard.

Event types
-----------
``message.status``  a message changed to a pending status (accepted, scheduled, handed to a
                    connector, sent and waiting for its receipt, held, requeued after a failed
                    attempt): one event per attempt and per step.
``message.final``   a message reached its final status (delivered, undeliverable, expired,
                    rejected, cancelled). Exactly one per message.
``message.inbound`` a handset sent a message to one of the account's sender codes (MO).
``link.clicked``    a recipient opened a tracked short link.

An endpoint subscribes to a list of these (all of them when none is given).

Retry schedule
--------------
After a failed attempt ``n`` (1, 2, ...) the next one comes after
``min(cap, base * 2**(n-1))``, scaled by a jitter factor in [0.5, 1.0] so that deliveries that
failed together do not come back together. A delivery is dead-lettered after a failed attempt
once it is older than the policy's ``max_age_ms`` (24 h for the standard format: so retries go
on for *at least* that long) or once it has made ``max_attempts`` attempts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

MESSAGE_STATUS: Final = "message.status"
MESSAGE_FINAL: Final = "message.final"
MESSAGE_INBOUND: Final = "message.inbound"
LINK_CLICKED: Final = "link.clicked"
NUMBER_OPTED_OUT: Final = "number.opted_out"  # a reply with an opt-out keyword (配信停止…)
EVENT_TYPES: Final[tuple[str, ...]] = (
    MESSAGE_STATUS,
    MESSAGE_FINAL,
    MESSAGE_INBOUND,
    LINK_CLICKED,
    NUMBER_OPTED_OUT,
)

STANDARD_FORMAT: Final = "standard"
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - the format prefix of secrets, not a secret
MAX_URL_LENGTH: Final = 2048

# Delivery states (``webhook_deliveries.state``).
QUEUED: Final = "queued"  # waits for an earlier event of the same message to the same endpoint
PENDING: Final = "pending"  # due at ``next_at`` (first try or a retry)
DELIVERED: Final = "delivered"  # the receiver answered 2xx in time
DEAD: Final = "dead"  # retries exhausted (or refused for good): replayable
SKIPPED: Final = "skipped"  # the endpoint's format does not send this event (e.g. no clientTag)
DONE_STATES: Final[tuple[str, ...]] = (DELIVERED, DEAD, SKIPPED)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one endpoint is tried.

    ``max_attempts`` None: no limit by count; ``max_age_ms`` None: no limit by age (at least
    one of them must be set). ``timeout_ms`` bounds each request: a 2xx that comes later is a
    failure.
    """

    max_attempts: int | None = None
    max_age_ms: int | None = 24 * 3600 * 1000
    timeout_ms: int = 10_000
    base_ms: int = 5_000
    cap_ms: int = 3_600_000

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.max_age_ms is None:
            raise ValueError("a retry policy needs max_attempts or max_age_ms")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.timeout_ms < 1 or self.base_ms < 1 or self.cap_ms < self.base_ms:
            raise ValueError("timeout, base and cap must be positive, cap >= base")


def retry_delay_ms(attempt: int, policy: RetryPolicy, jitter: float) -> int:
    """Delay after failed attempt ``attempt`` (1-based); ``jitter`` is a draw in [0, 1)."""
    exponent = min(max(attempt - 1, 0), 40)
    raw = min(policy.cap_ms, policy.base_ms * (1 << exponent))
    return max(1, int(raw * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))))


def next_after_failure(
    *, attempt: int, first_at: int, now: int, policy: RetryPolicy, jitter: float
) -> int | None:
    """When to try again after failed attempt ``attempt``, or None: dead-letter it."""
    if policy.max_attempts is not None and attempt >= policy.max_attempts:
        return None
    if policy.max_age_ms is not None and now - first_at >= policy.max_age_ms:
        return None
    return now + retry_delay_ms(attempt, policy, jitter)


def is_success(status_code: int | None) -> bool:
    """A 2xx answer (redirects are not followed: a 3xx is a failure)."""
    return status_code is not None and 200 <= status_code < 300


# --- target URLs ---------------------------------------------------------------------------


class UrlRefused(ValueError):
    """A webhook URL that todoke will not call; the message says why, for the customer."""


def is_forbidden_address(address: str) -> bool:
    """Whether an IP address is loopback, private, link-local or otherwise not public.

    IPv4-mapped and 6to4/Teredo-embedded IPv4 addresses are judged by the IPv4 address they
    carry, so ``::ffff:127.0.0.1`` is loopback.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_forbidden_address(str(embedded))
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


_LOCAL_NAMES: Final = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed webhook URL."""

    url: str
    scheme: str
    host: str  # without brackets
    port: int
    literal_ip: bool


def parse_target(url: str, *, allow_private: bool) -> Target:
    """Check a webhook URL's form and, when it names an address, the address.

    Host names are resolved at delivery time (where the resolved address is checked again and
    pinned for the request); here only what the URL itself says is judged.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL must be 1 to {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UrlRefused("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("the URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("credentials in the URL are not allowed: use basicAuth")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("the URL has no host")
    literal = _is_ip(host)
    if not allow_private:
        if host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost"):
            raise UrlRefused("the URL points to this machine (loopback)")
        if literal and is_forbidden_address(host):
            raise UrlRefused("the URL points to a loopback, private or reserved address")
    return Target(url, scheme, host, port or (443 if scheme == "https" else 80), literal)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def event_types(requested: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The subscription of an endpoint: the given types (validated) or every type."""
    if not requested:
        return EVENT_TYPES
    unknown = [t for t in requested if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}: one of {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(requested))
