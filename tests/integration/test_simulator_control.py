"""The simulator's control endpoint (``todoke simulator --control-port``) over real ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from todoke.carriers.simulator import CarrierSimulator, SimulatorConfig
from todoke.carriers.simulator.control import ControlApp
from todoke.carriers.smpp.connector import SmppConfig, SmppConnector, Submission
from todoke.domain.carrier import Carrier


@pytest.fixture
async def sim() -> AsyncIterator[CarrierSimulator]:
    simulator = CarrierSimulator(SimulatorConfig(port=0, time_factor=0.0005))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def control(sim: CarrierSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ControlApp(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://control") as c:
        yield c


async def _noop(_event: object) -> None:
    return None


async def test_stats_count_what_the_smsc_received(
    sim: CarrierSimulator, control: httpx.AsyncClient
) -> None:
    host, port = sim.address
    connector = SmppConnector(
        SmppConfig(name="c", host=host, port=port, system_id="docomo", password="x"),
        on_receipt=_noop,
        on_inbound=_noop,  # type: ignore[arg-type]
    )
    await connector.start()
    try:
        assert await connector.wait_ready(5)
        for text in ("one", "two", "one"):  # the third repeats the first: a duplicate
            await connector.submit(Submission("k", "12345", "+819012349900", text, "GSM7"))
        stats = (await control.get("/stats")).json()
    finally:
        await connector.stop()
    assert stats["submits"] == 3
    assert stats["messages"] == 3
    assert stats["duplicates"] == 1
    assert stats["distinct"] == 2
    assert stats["binds"] == 1
    assert stats["by_outcome"] == {"delivered": 3}


async def test_drills_over_http(sim: CarrierSimulator, control: httpx.AsyncClient) -> None:
    r = await control.post("/maintenance", params={"carrier": "au", "on": "1"})
    assert r.json() == {"carrier": "au", "on": True}
    r = await control.post("/maintenance", params={"carrier": "au", "on": "0"})
    assert r.json()["on"] is False
    assert (await control.post("/disconnect")).json() == {"dropped": 0}
    r = await control.post("/restart", params={"down": "0.05"})
    assert r.status_code == 202
    await asyncio.sleep(0.3)
    _reader, writer = await asyncio.open_connection(*sim.address)  # listening again
    writer.close()
    await writer.wait_closed()


async def test_bad_requests_are_4xx(control: httpx.AsyncClient) -> None:
    assert (await control.post("/maintenance", params={"carrier": "nope"})).status_code == 400
    assert (await control.post("/restart", params={"down": "x"})).status_code == 400
    assert (await control.post("/restart", params={"down": "-1"})).status_code == 400
    assert (await control.get("/disconnect")).status_code == 405
    assert (await control.get("/nowhere")).status_code == 404


def test_maintenance_carrier_names_are_the_carriers() -> None:
    assert {c.value for c in Carrier} == {"docomo", "au", "softbank", "rakuten"}
