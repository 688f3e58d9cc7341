"""Leases: a dispatch worker killed with SIGKILL mid-batch loses nothing.

A ``todoke worker`` process claims a batch and submits it to an SMSC that never answers, so it
holds leases on claimed and in-flight messages when it is killed. A second worker (in this
process, routed to the carrier simulator) takes every one of them over once the leases have run
out, and each message ends DELIVERED. Each message shows two attempts, the dead worker's one
closed as abandoned.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import make_settings
from tests.integration.smsc_stub import StubSmsc
from todoke.app import Runtime
from todoke.carriers.simulator import CarrierSimulator, SimulatorConfig
from todoke.domain.message import Message
from todoke.domain.routing import ConnectorConfig
from todoke.services.messages import SendRequest, now_ms
from todoke.store.routing import RoutingStore
from todoke.store.tables import attempts, messages

MESSAGES = 60
LEASE_SECONDS = 5


async def _wait(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_sigkilled_worker_claims_come_back(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, dispatch_lease_seconds=LEASE_SECONDS, retry_base_seconds=0.2
    )
    stuck = StubSmsc()
    stuck.withhold = True  # accepts binds, never answers submit_sm: the worker stays mid-batch
    await stuck.start()

    setup = Runtime(settings)
    await setup.start()
    try:
        issued = await setup.services.accounts.create("lease", sms_code="44444")
        result = await setup.services.messages.send(
            issued.account,
            [SendRequest(to=f"090{i:04d}9900", text=f"lease {i}") for i in range(MESSAGES)],
        )
        assert isinstance(result, list)
        ids = [m.id for m in result if isinstance(m, Message)]
        assert len(ids) == MESSAGES
        routing = RoutingStore(setup.db)
        now = now_ms()
        await routing.add_connector(
            ConnectorConfig("stuck", "127.0.0.1", stuck.port, "esme", "secret", window=5),
            now=now,
        )
        await routing.set_route(account_id=None, carrier="all", connector_names=["stuck"], now=now)
    finally:
        await setup.stop()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TODOKE_")},
        "TODOKE_DATABASE_URL": database_url,
        "TODOKE_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "todoke", "worker", stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:

        async def window_full() -> bool:
            return len(stuck.submits) >= 5

        await _wait(window_full, 30, "the worker to fill its window")
    finally:
        worker.send_signal(signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 10)
        log.close()
    submitted_before = len(stuck.submits)
    assert submitted_before == 5  # the window: nothing more left the dead worker
    await stuck.stop()

    sim = CarrierSimulator(SimulatorConfig(port=0, seed=3, time_factor=0.001))
    host, port = await sim.start()
    check = Runtime(settings)
    await check.start()
    try:
        async with check.db.connect() as conn:
            leased = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.lease_owner.is_not(None))
            )
        assert leased and leased >= submitted_before  # the dead worker's claims are still held
        routing = RoutingStore(check.db)
        now = now_ms()
        await routing.add_connector(ConnectorConfig("sim", host, port, "docomo", "sim"), now=now)
        await routing.set_route(account_id=None, carrier="all", connector_names=["sim"], now=now)
    finally:
        await check.stop()

    survivor = Runtime(settings)
    await survivor.start(delivery=True)
    try:

        async def all_delivered() -> bool:
            async with survivor.db.connect() as conn:
                done = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(messages)
                    .where(messages.c.status == "DELIVERED_TO_HANDSET", messages.c.id.in_(ids))
                )
            return done == MESSAGES

        await _wait(all_delivered, 60, "every message to be delivered by the survivor")
        async with survivor.db.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(attempts.c.message_id, attempts.c.connector, attempts.c.state)
                )
            ).all()
    finally:
        await survivor.stop()
        await sim.stop()

    by_message: dict[str, list[tuple[str, str]]] = {}
    for mid, connector, state in rows:
        by_message.setdefault(mid, []).append((connector, state))
    # Attempts are written before anything is submitted (persist, then send), so each
    # message the dead worker claimed carries its abandoned attempt, closed by the survivor.
    assert set(by_message) == set(ids)
    for tries in by_message.values():
        assert sorted(c for c, _ in tries) == ["sim", "stuck"]
        states = dict(tries)
        assert states["stuck"] != "sending"
