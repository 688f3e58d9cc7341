"""Helpers of the protection tests: a runtime with chosen settings and clients from any address."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.conftest import Tenant, make_settings
from todoke.app import Runtime, create_app

FROZEN = 1_900_000_000.0  # a fixed rate-limiter clock: no refill during a test


@contextlib.asynccontextmanager
async def running(database_url: str, **overrides: Any) -> AsyncIterator[Runtime]:
    rt = Runtime(make_settings(database_url, **overrides))
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def freeze(rt: Runtime) -> None:
    """Stop the rate limiter's clock: a burst's counts no longer depend on timing."""
    rt.protection.limiter.clock = lambda: FROZEN


@contextlib.asynccontextmanager
async def client_from(
    rt: Runtime, ip: str = "127.0.0.1", app: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app or create_app(rt.settings, rt), client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def tenant_of(rt: Runtime, name: str, sms_code: str) -> Tenant:
    issued = await rt.services.accounts.create(name, sms_code=sms_code)
    return Tenant(issued.account.id, sms_code, issued.token)


async def send(c: httpx.AsyncClient, who: Tenant, to: str, text: str) -> httpx.Response:
    return await c.post("/v1/messages", json={"to": to, "text": text}, headers=who.headers)


def status_of(response: httpx.Response) -> tuple[str, str | None]:
    """(status name, error name) of a 202 answer."""
    assert response.status_code == 202, response.text
    body = response.json()
    error = body.get("error")
    return body["status"]["name"], error["name"] if error else None
