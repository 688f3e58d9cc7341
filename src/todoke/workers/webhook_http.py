"""The HTTP edge of webhook delivery: one shared aiohttp session and the address guard.

Outbound requests go only where an account configured, and never to this machine or a private
network unless the operator allows it (``TODOKE_WEBHOOKS_ALLOW_PRIVATE=1``). Host names are
resolved by :class:`GuardedResolver`, which checks every address a name resolves to; the
connection is then made to those very addresses (``Host`` and TLS SNI keep the name, so
certificates are verified against it), so a DNS answer that changes between check and connect
(rebinding) cannot redirect a request. Literal addresses are judged from the URL. Redirects are
not followed. The whole request (connect, send, answer headers and the first bytes of the body)
is bounded by the endpoint's timeout: a 2xx after 10 s is a failure.

Why aiohttp and not httpx (todoke's HTTP client elsewhere): measured on the development machine
against the same loopback receiver, httpx delivered 148 requests/s one at a time and 76/s with
16 at once (its connection pool scans every connection for each request), aiohttp 700 and
870/s; webhook delivery is the one place where todoke makes requests by the thousand.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from todoke.domain import webhooks as wh
from todoke.services.webhook_types import SendResult

log = structlog.get_logger(__name__)

_RESPONSE_BYTES = 500


class ForbiddenAddress(OSError):
    """A host name resolved to an address todoke must not call."""


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses loopback, private and reserved ones."""

    def __init__(self, *, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            bad = [r["host"] for r in found if wh.is_forbidden_address(r["host"])]
            if bad:
                raise ForbiddenAddress(
                    f"the host resolves to a loopback, private or reserved address ({bad[0]})"
                )
        return found

    async def close(self) -> None:
        await self._inner.close()


class HttpSender:
    """Implements ``SenderPort`` and ``ResolverPort`` with one pooled ``aiohttp`` session.

    Each host gets at most ``per_host`` requests at a time (a customer's server should not
    get hundreds at once); waiting for a turn is not part of a request's timeout.
    """

    def __init__(
        self, *, allow_private: bool, max_connections: int = 200, per_host: int = 16
    ) -> None:
        self.allow_private = allow_private
        self._max_connections = max_connections
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._per_host,
                resolver=GuardedResolver(allow_private=self.allow_private),
                ttl_dns_cache=30,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxies from the environment: the guard judges targets
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- ResolverPort -------------------------------------------------------------------

    async def check(self, url: str) -> None:
        """Raise ``UrlRefused`` when the URL's host resolves to a forbidden address.

        A host that does not resolve (yet) is accepted: delivery retries it.
        """
        target = wh.parse_target(url, allow_private=self.allow_private)
        if self.allow_private or target.literal_ip:
            return
        resolver = GuardedResolver(allow_private=False)
        try:
            await asyncio.wait_for(resolver.resolve(target.host, target.port), 5.0)
        except ForbiddenAddress as exc:
            raise wh.UrlRefused(str(exc)) from None
        except (OSError, TimeoutError):
            return
        finally:
            await resolver.close()

    # --- SenderPort ---------------------------------------------------------------------

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_ms: int
    ) -> SendResult:
        try:
            target = wh.parse_target(url, allow_private=self.allow_private)
        except wh.UrlRefused as exc:
            return SendResult(None, 0, error=f"refused: {exc}", permanent=True)
        key = f"{target.host}:{target.port}"
        gate = self._hosts.get(key)
        if gate is None:
            if len(self._hosts) > 10_000:
                self._hosts = {k: v for k, v in self._hosts.items() if v.locked()}
            gate = self._hosts[key] = asyncio.Semaphore(self._per_host)
        async with gate:
            return await self._post(url, headers=headers, body=body, timeout_ms=timeout_ms)

    async def _post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_ms: int
    ) -> SendResult:
        started = time.monotonic()
        timeout = timeout_ms / 1000

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(timeout):
                async with self._http().post(
                    url,
                    data=body,
                    headers=dict(headers),
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as response:
                    raw = await response.content.read(_RESPONSE_BYTES)
                    status = response.status
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenAddress) or isinstance(
                exc.__cause__, ForbiddenAddress
            ):
                return SendResult(None, elapsed(), error=f"refused: {exc.os_error}", permanent=True)
            return SendResult(None, elapsed(), error=f"connect failed: {exc.os_error}"[:200])
        except ForbiddenAddress as exc:
            return SendResult(None, elapsed(), error=f"refused: {exc}", permanent=True)
        except TimeoutError:
            return SendResult(None, elapsed(), error=f"timeout after {timeout:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return SendResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:200])
        return SendResult(status, elapsed(), response=raw.decode("utf-8", errors="replace") or None)
