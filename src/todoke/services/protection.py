"""Protection of every API: client addresses, blocked addresses, failed authentications,
per-account IP allowlists, rate limits and quotas, and the guards a send carries into the
accept transaction.

One :class:`Protection` per process, built by ``todoke.app`` from the settings. The edges use it
through ``api/auth.py`` (``guarded_auth``, ``client_ip``) and the per-IP rate-limit guard; the
message service asks it to admit each send (:meth:`Protection.admit_send`). What must hold
across processes lives in the database (failure counts, blocks, limits, quota counters, shared
rate-limit state); each process keeps a copy in memory that it refreshes, so that the accept
path reads nothing from the database for these checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

import structlog

from todoke.domain.message import Account
from todoke.domain.protection import (
    AcceptGuard,
    AccountLimits,
    IpNetwork,
    IpRecord,
    Quota,
    ScreenPolicy,
    address_in,
    parse_address,
    parse_network,
)
from todoke.errors import Forbidden, InvalidInput, IpBlocked, RateLimited
from todoke.services.ports import ProtectionStorePort
from todoke.services.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

JST = timezone(timedelta(hours=9), "JST")


def _ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    """Platform defaults (from the settings); an account's own limits override some of them."""

    auth_failure_limit: int = 10
    ip_rate_limit: float = 80.0  # requests/s per client address; 0: off
    ip_rate_burst: float | None = None  # default: one second's worth
    send_rate_limit: int = 600  # messages/s per account; 0: unlimited
    daily_quota: int = 0  # messages per JST day per account; 0: none
    monthly_quota: int = 0
    flood_max_messages: int = 20
    flood_max_identical: int = 6
    duplicate_window_seconds: int = 0
    trusted_proxies: tuple[IpNetwork, ...] = ()
    cache_seconds: float = 5.0  # account limits and allowlists
    refresh_seconds: float = 2.0  # blocked addresses and failure counts from the database
    shared_rate_limits: bool = False  # sync rate limits through the database
    sync_seconds: float = 0.1


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """An account's limits with the platform defaults filled in (0: off / unlimited)."""

    rate_limit: int
    daily_quota: int
    monthly_quota: int
    flood_max_messages: int
    flood_max_identical: int
    duplicate_window_seconds: int
    stored: AccountLimits = field(default_factory=AccountLimits)

    @property
    def screen(self) -> ScreenPolicy:
        return ScreenPolicy(
            flood_max_messages=self.flood_max_messages,
            flood_max_identical=self.flood_max_identical,
            duplicate_window_ms=self.duplicate_window_seconds * 1000,
        )


K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    """Values loaded from the database, kept ``ttl`` seconds; concurrent misses of one key
    share one load (no stampede when a burst of requests of a new account arrives)."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._items: dict[K, tuple[float, asyncio.Future[V]]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        hit = self._items.get(key)
        if hit is not None:
            expires, future = hit
            if not future.done():
                return await asyncio.shield(future)
            if expires > time.monotonic() and future.exception() is None:
                return future.result()
        future = asyncio.get_running_loop().create_future()
        self._items[key] = (time.monotonic() + self._ttl, future)
        try:
            value = await load()
        except BaseException as exc:
            self._items.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        future.set_result(value)
        return value

    def forget(self, key: K) -> None:
        self._items.pop(key, None)


class Protection:
    """The protections of one process (see the module docstring)."""

    def __init__(
        self,
        store: ProtectionStorePort,
        policy: ProtectionPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.policy = policy
        self.limiter = RateLimiter(clock)
        self._failing: dict[str, int] = {}  # address -> consecutive failures on record
        self._blocked: set[str] = set()
        self._limits: _TtlCache[int, EffectiveLimits] = _TtlCache(policy.cache_seconds)
        self._rules: _TtlCache[int, tuple[IpNetwork, ...]] = _TtlCache(policy.cache_seconds)
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the blocked addresses and start the refresh (and rate-limit sync) loops."""
        await self.refresh()
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="protection-refresh"))
        if self.policy.shared_rate_limits:
            self._tasks.append(asyncio.create_task(self._sync_loop(), name="ratelimit-sync"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.policy.shared_rate_limits:
            with contextlib.suppress(Exception):  # best effort: the database may be gone
                await self.limiter.sync(self._store.rate_sync)

    async def refresh(self) -> None:
        """Adopt the blocks and failure counts of every process (and operator unblocks)."""
        records = await self._store.ip_snapshot()
        self._blocked = {r.ip for r in records if r.blocked}
        self._failing = {r.ip: r.failures for r in records if not r.blocked and r.failures}

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.refresh_seconds)
            try:
                await self.refresh()
                self.limiter.forget_idle()
            except Exception as exc:  # the database may be restarting: keep the last view
                log.warning("protection.refresh_failed", error=type(exc).__name__)

    async def _sync_loop(self) -> None:
        cleanup_at = 0.0
        while True:
            await asyncio.sleep(self.policy.sync_seconds)
            try:
                await self.limiter.sync(self._store.rate_sync)
                now = time.time()
                if now > cleanup_at:
                    cleanup_at = now + 60
                    await self._store.rate_cleanup(now - 60)
            except Exception as exc:
                log.warning("ratelimit.sync_failed", error=type(exc).__name__)

    # --- client addresses ----------------------------------------------------------------

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        """The client's address: the socket peer, or, when the peer is a trusted proxy, the
        first address of ``X-Forwarded-For`` read from the right that is not a trusted proxy.

        ``forwarded_for`` holds the header values in the order they came. An entry that is not
        an address stops the walk: the hop that added it is taken as the client.
        """
        if peer is None:
            return "unknown"
        proxies = self.policy.trusted_proxies
        if not proxies or not forwarded_for or not address_in(peer, proxies):
            return _canonical(peer)
        client = peer
        hops = [h.strip() for value in forwarded_for for h in value.split(",")]
        for hop in reversed(hops):
            if parse_address(hop) is None:
                break
            client = hop
            if not address_in(hop, proxies):
                break
        return _canonical(client)

    # --- authentication guards -------------------------------------------------------------

    def check_blocked(self, ip: str) -> None:
        """Refuse a blocked address before any credential is looked at."""
        if ip in self._blocked:
            raise IpBlocked(
                "this address is blocked after repeated authentication failures; "
                "ask the operator to lift the block"
            )

    async def auth_failed(self, ip: str) -> None:
        """Count a failed authentication; the limit-th consecutive one blocks the address."""
        record = await self._store.record_failure(
            ip, now=_ms(), limit=self.policy.auth_failure_limit
        )
        if record.blocked:
            if ip not in self._blocked:
                log.warning("auth.ip_blocked", ip=ip, failures=record.failures)
            self._blocked.add(ip)
            self._failing.pop(ip, None)
        else:
            self._failing[ip] = record.failures

    async def auth_succeeded(self, ip: str) -> None:
        """A success resets the address's count of consecutive failures."""
        if self._failing.pop(ip, None) is not None:
            await self._store.reset_failures(ip)

    async def check_allowlist(self, account: Account, ip: str) -> None:
        """Forbidden when the account has an allowlist and ``ip`` is not on it."""
        rules = await self._account_rules(account.id)
        if rules and not address_in(ip, rules):
            raise Forbidden(f"address {ip} is not on this account's IP allowlist")

    async def _account_rules(self, account_id: int) -> tuple[IpNetwork, ...]:
        async def load() -> tuple[IpNetwork, ...]:
            return tuple(parse_network(n) for n in await self._store.ip_rules(account_id))

        return await self._rules.get(account_id, load)

    # --- rate limits and quotas ----------------------------------------------------------

    def take_request(self, ip: str) -> None:
        """Count one HTTP request of ``ip``; RateLimited over the per-address limit."""
        rate = self.policy.ip_rate_limit
        if rate <= 0:
            return
        burst = self.policy.ip_rate_burst or rate
        wait = self.limiter.take("ip:" + ip, rate, burst)
        if wait is not None:
            raise RateLimited(
                f"more than {rate:g} requests per second from this address", retry_after=wait
            )

    async def admit_send(self, account: Account, count: int) -> AcceptGuard:
        """Admit ``count`` messages of ``account`` (RateLimited over its rate) and return
        what the accept transaction must enforce for them (guards and quotas)."""
        limits = await self.limits(account.id)
        if limits.rate_limit > 0 and count > 0:
            wait = self.limiter.take(
                f"send:{account.id}", limits.rate_limit, limits.rate_limit, count
            )
            if wait is not None:
                raise RateLimited(
                    f"this account may send {limits.rate_limit} messages per second",
                    retry_after=wait,
                )
        quota = None
        if limits.daily_quota or limits.monthly_quota:
            today = datetime.now(JST)
            midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
            quota = Quota(
                daily=limits.daily_quota or None,
                monthly=limits.monthly_quota or None,
                day_key=today.strftime("d%Y%m%d"),
                month_key=today.strftime("m%Y%m"),
                day_start=int(midnight.timestamp() * 1000),
                month_start=int(midnight.replace(day=1).timestamp() * 1000),
            )
        return AcceptGuard(limits.screen, quota)

    async def limits(self, account_id: int) -> EffectiveLimits:
        """The account's limits, defaults filled in (cached for ``cache_seconds``)."""
        return await self._limits.get(account_id, lambda: self._load_limits(account_id))

    async def _load_limits(self, account_id: int) -> EffectiveLimits:
        stored = await self._store.limits(account_id)
        p = self.policy
        return EffectiveLimits(
            rate_limit=_pick(stored.rate_limit, p.send_rate_limit),
            daily_quota=_pick(stored.daily_quota, p.daily_quota),
            monthly_quota=_pick(stored.monthly_quota, p.monthly_quota),
            flood_max_messages=_pick(stored.flood_max_messages, p.flood_max_messages),
            flood_max_identical=_pick(stored.flood_max_identical, p.flood_max_identical),
            duplicate_window_seconds=_pick(
                stored.duplicate_window_seconds, p.duplicate_window_seconds
            ),
            stored=stored,
        )

    # --- operator actions ----------------------------------------------------------------

    async def update_limits(self, account_id: int, changes: dict[str, int | None]) -> None:
        """Set some of an account's limits (None: back to the platform default; 0: off)."""
        for name, value in changes.items():
            if value is not None and value < 0:
                raise InvalidInput(f"{name} must be 0 or more", field=name)
        await self._store.set_limits(account_id, changes, _ms())
        self._limits.forget(account_id)

    async def allowlist(self, account_id: int) -> list[str]:
        return await self._store.ip_rules(account_id)

    async def set_allowlist(self, account_id: int, networks: Sequence[str]) -> list[str]:
        """Replace the account's IP allowlist (addresses or CIDR ranges; empty: any)."""
        parsed: list[str] = []
        for value in networks:
            try:
                parsed.append(str(parse_network(value)))
            except ValueError:
                raise InvalidInput(
                    f"{value!r} is not an IP address or CIDR range", field="allowIps"
                ) from None
        unique = sorted(set(parsed))
        await self._store.set_ip_rules(account_id, unique, _ms())
        self._rules.forget(account_id)
        return unique

    async def addresses(self) -> list[IpRecord]:
        """Blocked addresses and addresses with failures on record."""
        return sorted(await self._store.ip_snapshot(), key=lambda r: (not r.blocked, r.ip))

    async def unblock(self, ip: str) -> bool:
        """Lift the block of an address (every process sees it within ``refresh_seconds``)."""
        canonical = _canonical(ip)
        lifted = await self._store.unblock(canonical)
        self._blocked.discard(canonical)
        self._failing.pop(canonical, None)
        return lifted


def _pick(stored: int | None, default: float) -> int:
    return int(default) if stored is None else stored


@functools.lru_cache(maxsize=4096)
def _canonical(address: str) -> str:
    parsed = parse_address(address)
    return str(parsed) if parsed is not None else address
