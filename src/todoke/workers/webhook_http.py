"""The HTTP edge of webhook delivery: one shared httpx client and the address guard.

Outbound requests go only where an account configured, and never to this machine or a private
network unless the operator allows it (``TODOKE_WEBHOOKS_ALLOW_PRIVATE=1``). A host name is
resolved here, every address it resolves to is checked, and the request is made to the
checked address (``Host`` header and TLS SNI keep the name, so certificates are verified
against it): a DNS answer that changes between check and connect (rebinding) cannot redirect
the request. Redirects are not followed. The whole request (connect, send, answer headers and
the first bytes of the body) is bounded by the endpoint's timeout: a 2xx after 10 s is a
failure.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping

import httpx
import structlog

from todoke.domain import webhooks as wh
from todoke.services.webhook_types import SendResult

log = structlog.get_logger(__name__)

_RESPONSE_BYTES = 500
_DNS_TTL = 30.0


class HttpSender:
    """Implements ``SenderPort`` and ``ResolverPort`` with one pooled ``httpx.AsyncClient``."""

    def __init__(self, *, allow_private: bool, max_connections: int = 200) -> None:
        self.allow_private = allow_private
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,  # no proxies from the environment: the guard judges targets
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                    keepalive_expiry=30.0,
                ),
                timeout=httpx.Timeout(10.0),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- ResolverPort -------------------------------------------------------------------

    async def check(self, url: str) -> None:
        """Raise ``UrlRefused`` when the URL's host resolves to a forbidden address.

        A host that does not resolve (yet) is accepted: delivery retries it.
        """
        target = wh.parse_target(url, allow_private=self.allow_private)
        if self.allow_private or target.literal_ip:
            return
        try:
            addresses = await asyncio.wait_for(self._resolve(target.host, target.port), 5.0)
        except (OSError, TimeoutError):
            return
        _refuse_forbidden(addresses)

    # --- SenderPort ---------------------------------------------------------------------

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_ms: int
    ) -> SendResult:
        started = time.monotonic()
        timeout = timeout_ms / 1000

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(timeout):
                request_url, extra, extensions = await self._pin(url)
                client = self._http()
                request = client.build_request(
                    "POST",
                    request_url,
                    content=body,
                    headers={**headers, **extra},
                    extensions=extensions,
                    timeout=httpx.Timeout(timeout),
                )
                response = await client.send(request, stream=True)
                try:
                    excerpt = await _excerpt(response)
                finally:
                    await response.aclose()
        except wh.UrlRefused as exc:
            return SendResult(None, elapsed(), error=f"refused: {exc}", permanent=True)
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(None, elapsed(), error=f"timeout after {timeout:g} s")
        except OSError as exc:  # DNS failures (socket.gaierror) and the like
            return SendResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:200])
        except httpx.HTTPError as exc:
            return SendResult(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:200])
        return SendResult(response.status_code, elapsed(), response=excerpt)

    async def _pin(self, url: str) -> tuple[httpx.URL | str, dict[str, str], dict[str, str]]:
        """The URL to connect to, extra headers and request extensions (checked address)."""
        target = wh.parse_target(url, allow_private=self.allow_private)
        if self.allow_private or target.literal_ip:
            return url, {}, {}
        addresses = await self._resolve(target.host, target.port)
        _refuse_forbidden(addresses)
        parsed = httpx.URL(url)
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        return parsed.copy_with(host=addresses[0]), {"host": host_header}, extensions

    async def _resolve(self, host: str, port: int) -> list[str]:
        key = (host.lower(), port)
        cached = self._dns.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise OSError(f"{host} has no address")
        if len(self._dns) > 10_000:
            self._dns.clear()
        self._dns[key] = (now + _DNS_TTL, addresses)
        return addresses


def _refuse_forbidden(addresses: list[str]) -> None:
    bad = [a for a in addresses if wh.is_forbidden_address(a)]
    if bad:
        raise wh.UrlRefused(
            f"the host resolves to a loopback, private or reserved address ({bad[0]})"
        )


async def _excerpt(response: httpx.Response) -> str:
    """The first bytes of the answer body (for the attempt log), decoded leniently."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _RESPONSE_BYTES:
            break
    return b"".join(chunks)[:_RESPONSE_BYTES].decode("utf-8", errors="replace")
