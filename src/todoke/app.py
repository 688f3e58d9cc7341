"""Composition root: builds the concrete adapters and hands them to the services and edges.

``Runtime`` owns what a process runs (database, group committer, services); ``create_app``
builds the ASGI application on top of it. ``todoke serve`` starts both in one event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from todoke import __version__
from todoke.api.auth import bearer_account
from todoke.api.compat.mediasms import mediasms_router
from todoke.api.compat.zettai_reach import zettai_reach_router
from todoke.api.errors import EXCEPTION_HANDLERS
from todoke.api.health import healthz, readyz
from todoke.api.links import links_router
from todoke.api.metrics import ConnectorSample, MetricsSample, metrics
from todoke.api.v1.batches import BatchesController
from todoke.api.v1.links import LinksController
from todoke.api.v1.messages import MessagesController
from todoke.api.v1.numbers import number_cleaning
from todoke.api.v1.templates import TemplatesController
from todoke.config import Settings
from todoke.delivery import DeliveryEngine
from todoke.domain.routing import MaintenanceWindow
from todoke.services.accounts import AccountService
from todoke.services.batches import BatchService
from todoke.services.container import Services
from todoke.services.links import LinkPolicy, LinkService
from todoke.services.maintenance import MaintenanceCalendar
from todoke.services.mediasms import MediaSmsService
from todoke.services.messages import MessagePolicy, MessageService, now_ms
from todoke.services.numbers import NumberCleaningService
from todoke.services.reports import ReportService
from todoke.services.templates import TemplateService
from todoke.services.zettai_settings import ZettaiSettingsService
from todoke.store.accounts import AccountStore
from todoke.store.batches import BatchStore
from todoke.store.database import Database
from todoke.store.links import LinkStore
from todoke.store.mediasms import MediaSmsStore
from todoke.store.messages import MessageStore
from todoke.store.numbers import NumberEventStore
from todoke.store.reports import MessageReportStore
from todoke.store.routing import RoutingStore
from todoke.store.stats import queue_depth
from todoke.store.templates import TemplateStore
from todoke.store.writer import GroupCommitter
from todoke.store.zettai import ZettaiSettingsStore


class Runtime:
    """The long-lived parts of one todoke process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
            connect_timeout=settings.db_connect_timeout,
        )
        self.writer = GroupCommitter(self.db, max_batch=settings.group_commit_max_batch)
        self.services = Services(
            accounts=AccountService(
                AccountStore(self.db), cache_seconds=settings.token_cache_seconds
            ),
            messages=MessageService(
                MessageStore(self.db, self.writer),
                MessagePolicy(
                    default_validity_seconds=settings.default_validity_seconds,
                    max_validity_seconds=settings.max_validity_seconds,
                    max_text_characters=settings.max_text_characters,
                ),
                MaintenanceCalendar(self._load_windows),
            ),
            idempotency_ttl_ms=settings.idempotency_ttl_seconds * 1000,
            batch_max_messages=settings.batch_max_messages,
            templates=TemplateService(TemplateStore(self.db)),
            links=LinkService(
                LinkStore(self.db, self.writer),
                LinkPolicy(
                    base_url=settings.short_links_url,
                    failure_limit=settings.link_access_code_attempts,
                    lock_seconds=settings.link_lock_seconds,
                ),
            ),
            numbers=NumberCleaningService(NumberEventStore(self.db)),
            reports=ReportService(MessageReportStore(self.db)),
            zettai=ZettaiSettingsService(ZettaiSettingsStore(self.db), AccountStore(self.db)),
        )
        self.services.mediasms = MediaSmsService(
            MediaSmsStore(self.db),
            self.services.accounts,
            cache_seconds=settings.token_cache_seconds,
        )
        self.services.batches = BatchService(
            BatchStore(self.db, self.writer), self.services.messages, self.services.composer
        )
        self.delivery: DeliveryEngine | None = None
        self._started = False

    async def _load_windows(self) -> list[MaintenanceWindow]:
        return await RoutingStore(self.db).list_windows(since=now_ms())

    async def metrics_sample(self) -> MetricsSample:
        """What ``GET /metrics`` reports for this process."""
        connectors: list[ConnectorSample] = []
        if self.delivery is not None:
            pool = self.delivery.pool
            for name in pool.names:
                connector = pool.get(name)
                if connector is None:
                    continue
                st = connector.stats
                connectors.append(
                    ConnectorSample(
                        name,
                        connector.ready,
                        st.submitted,
                        st.acked,
                        st.errors,
                        st.throttled,
                        st.reconnects,
                        st.receipts,
                        st.inbound,
                        st.in_flight,
                    )
                )
        return MetricsSample(
            await queue_depth(self.db, now=now_ms()), connectors, self.delivery is not None
        )

    async def start(self, *, migrate: bool = True, delivery: bool = False) -> None:
        """Open the database (migrating it) and start the writer; ``delivery`` adds the
        dispatch worker, the connectors and, without configured connectors, the simulator."""
        if self._started:
            return
        if migrate:
            await self.db.migrate()
        self.writer.start()
        self._started = True
        if self.services.batches is not None:
            await self.services.batches.abandon_stale()  # uploads a dead process left held
        if delivery:
            self.delivery = DeliveryEngine(self.settings, self.db, self.writer)
            self.services.messages.on_accepted = self.delivery.worker.wake
            await self.delivery.start()

    async def stop(self) -> None:
        if not self._started:
            return
        if self.delivery is not None:
            await self.delivery.stop()
            self.delivery = None
        await self.writer.stop()
        await self.db.dispose()
        self._started = False


def create_app(settings: Settings, runtime: Runtime | None = None) -> Litestar:
    """The ASGI application. Without a ``runtime`` it starts and stops its own."""
    rt = runtime or Runtime(settings)
    owns_runtime = runtime is None

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if owns_runtime:
            await rt.start()
        try:
            yield
        finally:
            if owns_runtime:
                await rt.stop()

    openapi = OpenAPIConfig(
        title="todoke API",
        version=__version__,
        description="Native JSON API of todoke (届け): durable SMS accept for Japan.",
        path="/",
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), SwaggerRenderPlugin(path="/docs")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API token")
            }
        ),
        security=[{"bearer": []}],
    )
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            MessagesController,
            BatchesController,
            mediasms_router(),
            LinksController,
            TemplatesController,
            number_cleaning,
            zettai_reach_router,
            links_router,
        ],
        dependencies={"account": Provide(bearer_account)},
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=[lifespan],
        state=_state(rt),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
    )


def _state(rt: Runtime) -> State:
    return State(
        {"services": rt.services, "db": rt.db, "runtime": rt, "metrics": rt.metrics_sample}
    )
