"""Who is asking: the ``Authorization: Bearer`` token of ``/v1`` requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from todoke.domain.message import Account
from todoke.errors import Unauthenticated
from todoke.services.container import Services

AccountDep = NamedDependency[Account]
"""A handler parameter ``account: AccountDep`` is the authenticated account."""


def services_of(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state["services"]
    return services


def client_ip(request: Request[Any, Any, Any]) -> str:
    """The address the request came from (the socket peer)."""
    client = request.scope.get("client")
    return str(client[0]) if client else "unknown"


async def guarded_auth(
    request: Request[Any, Any, Any], verify: Callable[[], Awaitable[Account]]
) -> Account:
    """The one way every API (``/v1`` and the façades) establishes who is asking.

    ``verify`` checks the API's own credentials and raises ``Unauthenticated``. Each façade
    calls this with its own verifier so that the rules around authentication apply alike to
    every API.
    """
    return await verify()


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
