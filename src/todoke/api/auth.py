"""Who is asking: the ``Authorization: Bearer`` token of ``/v1`` requests."""

from __future__ import annotations

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


async def bearer_account(request: Request[Any, Any, Any]) -> Account:
    """Dependency: the account of the request's bearer token (401 otherwise)."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("missing Authorization: Bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected Authorization: Bearer <token>")
    return await services_of(request).accounts.authenticate(token.strip())
