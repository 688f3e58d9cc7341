"""Composition of the delivery engine of one process: connectors, dispatcher, worker, simulator.

Started by ``todoke serve`` (next to the API) and alone by ``todoke worker``. When the database
has no connector configured, the built-in carrier simulator is started and one connector per
carrier binds to it, so that a fresh ``make run`` delivers messages end to end.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

import structlog

from todoke.carriers.pool import ConnectorPool
from todoke.carriers.simulator import CarrierSimulator, SimulatorConfig
from todoke.carriers.smpp.connector import InboundMessage
from todoke.config import Settings
from todoke.domain.carrier import Carrier
from todoke.domain.routing import (
    ALL_CARRIERS,
    ConnectorConfig,
    Route,
    RoutingSnapshot,
)
from todoke.services.dispatch import Dispatcher, DispatchPolicy
from todoke.services.messages import now_ms
from todoke.store.database import Database
from todoke.store.delivery import DeliveryStore
from todoke.store.routing import RoutingStore
from todoke.store.writer import GroupCommitter
from todoke.workers.dispatch import DispatchWorker

log = structlog.get_logger(__name__)

SIMULATOR_PASSWORD = "sim"  # noqa: S105 - the built-in simulator on loopback, not a secret


def simulator_connectors(host: str, port: int) -> tuple[ConnectorConfig, ...]:
    """One connector per carrier, binding with the carrier's name (its simulator profile)."""
    return tuple(
        ConnectorConfig(
            name=f"sim-{c.value}",
            host=host,
            port=port,
            system_id=c.value,
            password=SIMULATOR_PASSWORD,
            window=50,
        )
        for c in Carrier
    )


def simulator_routes() -> tuple[Route, ...]:
    routes = [Route(None, c.value, (f"sim-{c.value}",)) for c in Carrier]
    routes.append(Route(None, ALL_CARRIERS, (f"sim-{Carrier.DOCOMO.value}",)))
    return tuple(routes)


class DeliveryEngine:
    """Everything that turns accepted messages into delivered ones, in this process."""

    def __init__(self, settings: Settings, db: Database, writer: GroupCommitter) -> None:
        self.settings = settings
        self.routing = RoutingStore(db)
        self.pool = ConnectorPool()
        self.simulator: CarrierSimulator | None = None
        self._simulator_address: tuple[str, int] | None = None
        owner = f"{socket.gethostname()}:{os.getpid()}"
        self.dispatcher = Dispatcher(
            DeliveryStore(db, writer),
            self.pool,
            owner=owner,
            policy=DispatchPolicy(
                lease_ms=settings.dispatch_lease_seconds * 1000,
                receipt_grace_ms=settings.receipt_grace_seconds * 1000,
                retry_base_ms=int(settings.retry_base_seconds * 1000),
            ),
        )
        # Where inbound messages go (the outcomes' InboundService; app.py sets it).
        self.on_inbound: Callable[..., Awaitable[object]] | None = None
        self.pool.bind(receipts=self.dispatcher.on_receipts, inbound=self._on_inbound)
        self.worker = DispatchWorker(
            self.dispatcher,
            self._snapshot,
            on_snapshot=self._apply_snapshot,
            batch=settings.dispatch_batch,
            max_in_flight=settings.dispatch_max_in_flight,
        )

    async def start(self) -> None:
        await self.worker.refresh()
        await self.pool.wait_ready(5.0)
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.pool.stop()
        if self.simulator is not None:
            await self.simulator.stop()
            self.simulator = None

    async def _snapshot(self) -> RoutingSnapshot:
        snapshot = await self.routing.snapshot(now=now_ms())
        if snapshot.connectors:
            return snapshot
        host, port = await self._ensure_simulator()
        return RoutingSnapshot(
            connectors=simulator_connectors(host, port),
            routes=simulator_routes() + snapshot.routes,
            windows=snapshot.windows,
        )

    async def _apply_snapshot(self, snapshot: RoutingSnapshot) -> None:
        await self.pool.sync(snapshot.connectors)

    async def _ensure_simulator(self) -> tuple[str, int]:
        if self._simulator_address is None:
            s = self.settings
            self.simulator = CarrierSimulator(
                SimulatorConfig(
                    host=s.simulator_host,
                    port=s.simulator_port,
                    seed=s.simulator_seed,
                    time_factor=s.simulator_time_factor,
                    mo_reply_rate=s.simulator_mo_reply_rate,
                )
            )
            self._simulator_address = await self.simulator.start()
            log.info(
                "simulator.started",
                address=f"{self._simulator_address[0]}:{self._simulator_address[1]}",
            )
        return self._simulator_address

    async def _on_inbound(self, message: InboundMessage) -> None:
        # Stored (and reported by webhook) before the connector acknowledges the deliver_sm;
        # an exception makes the SMSC redeliver it.
        if self.on_inbound is None:
            log.warning("inbound.unhandled", connector=message.connector)
            return
        await self.on_inbound(
            connector=message.connector,
            source=message.source,
            destination=message.destination,
            text=message.text,
            received_at=message.received_at_ms,
        )
