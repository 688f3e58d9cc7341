"""Who is asking, from where: the client address, the guarded authentication of every API,
and the ``Authorization: Bearer`` token of ``/v1`` requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from todoke.domain.message import Account
from todoke.errors import Unauthenticated
from todoke.services.container import Services
from todoke.services.protection import Protection

_CLIENT_IP = "todoke.client_ip"  # scope key: the resolved client address

AccountDep = NamedDependency[Account]
"""A handler parameter ``account: AccountDep`` is the authenticated account."""


def services_of(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state["services"]
    return services


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The address the request came from.

    The socket peer, unless the peer is one of the ``trusted_proxies`` of the settings: then
    ``X-Forwarded-For`` is read from the right, through trusted proxies only, and the first
    address that is not one of them is the client. An untrusted peer's ``X-Forwarded-For`` is
    ignored. Computed once per request.
    """
    return scope_client_ip(request.scope, services_of(request).protection)


def scope_client_ip(scope: Any, protection: Protection | None) -> str:
    """:func:`client_ip` from a raw ASGI scope (for guards and middleware)."""
    cached = scope.get(_CLIENT_IP)
    if cached is not None:
        return str(cached)
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if protection is None:
        address = peer or "unknown"
    else:
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        address = protection.client_address(peer, forwarded)
    scope[_CLIENT_IP] = address
    return address


async def guarded_auth(
    request: Request[Any, Any, Any], verify: Callable[[], Awaitable[Account]]
) -> Account:
    """The one way every API (``/v1`` and the façades) establishes who is asking.

    ``verify`` checks the API's own credentials and raises ``Unauthenticated``. Each façade
    calls this with its own verifier so that the rules around authentication apply alike to
    every API:

    1. a blocked client address is refused before ``verify`` runs (:class:`IpBlocked`);
    2. a failed ``verify`` counts against the address: the ``auth_failure_limit``-th
       consecutive failure (10 by default) blocks it until an operator lifts the block
       (``todoke ips unblock``); the ``Unauthenticated`` error is re-raised;
    3. an account with an IP allowlist is refused from any other address (:class:`Forbidden`);
    4. a success resets the address's failure count.
    """
    protection = services_of(request).protection
    if protection is None:
        return await verify()
    ip = client_ip(request)
    protection.check_blocked(ip)
    try:
        account = await verify()
    except Unauthenticated:
        await protection.auth_failed(ip)
        raise
    await protection.check_allowlist(account, ip)
    await protection.auth_succeeded(ip)
    return account


async def bearer_account(request: Request[Any, Any, Any]) -> Account:
    """Dependency: the account of the request's bearer token (401 otherwise)."""

    async def verify() -> Account:
        header = request.headers.get("authorization")
        if not header:
            raise Unauthenticated("missing Authorization: Bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected Authorization: Bearer <token>")
        return await services_of(request).accounts.authenticate(token.strip())

    return await guarded_auth(request, verify)
