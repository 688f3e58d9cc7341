"""Shared end-to-end fixtures: a runtime with delivery on (built-in simulator over loopback
SMPP), an HTTP client bound to it, and façade logins.

Every end-to-end test also runs on PostgreSQL (tests/conftest.py). A module that needs other
settings overrides ``engine_overrides``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, make_settings
from tests.integration.test_mediasms_api import Login
from todoke.app import Runtime, create_app

# Fast clocks: simulated carrier latency ×0.001, retries and webhook back-off in tenths of a
# second, so that a whole message life (and its pushes) fits in a test.
E2E_SETTINGS: dict[str, Any] = {
    "simulator_time_factor": 0.001,
    "retry_base_seconds": 0.2,
    "dispatch_lease_seconds": 30,
    "webhooks_allow_private": True,
    "webhooks_retry_base_seconds": 0.05,
    "webhooks_retry_max_seconds": 0.5,
}


async def start_engine(database_url: str, **overrides: Any) -> Runtime:
    """Start a runtime with dispatch, the simulator and the webhook worker."""
    settings = make_settings(database_url, **{**E2E_SETTINGS, **overrides})
    rt = Runtime(settings)
    await rt.start(delivery=True)
    if rt.webhook_engine is not None:
        rt.webhook_engine.worker._idle_poll = 0.02
    return rt


def client_for(rt: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(rt.settings, rt), client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def new_tenant(rt: Runtime, code: str, name: str | None = None) -> Tenant:
    issued = await rt.services.accounts.create(name or f"t{code}", sms_code=code)
    return Tenant(issued.account.id, code, issued.token)


async def mediasms_login(rt: Runtime, code: str = "44444") -> Login:
    """An account with MediaSMS credentials."""
    tenant = await new_tenant(rt, code, name="mediasms")
    assert rt.services.mediasms is not None
    creds = await rt.services.mediasms.issue_login(tenant.client_id)
    return Login(tenant, creds.username, creds.password)


@pytest.fixture
def engine_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
async def engine(database_url: str, engine_overrides: dict[str, Any]) -> AsyncIterator[Runtime]:
    rt = await start_engine(database_url, **engine_overrides)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def api(engine: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(engine) as c:
        yield c


@pytest.fixture
async def login(engine: Runtime) -> Login:
    return await mediasms_login(engine)
