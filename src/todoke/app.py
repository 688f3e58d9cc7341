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
from todoke.api.errors import EXCEPTION_HANDLERS
from todoke.api.health import healthz, readyz
from todoke.api.openapi_errors import document_errors
from todoke.api.protection import ip_rate_guard
from todoke.api.v1.blocklist import BlocklistController
from todoke.api.v1.messages import MessagesController
from todoke.config import Settings
from todoke.delivery import DeliveryEngine
from todoke.domain.routing import MaintenanceWindow
from todoke.services.accounts import AccountService
from todoke.services.container import Services
from todoke.services.maintenance import MaintenanceCalendar
from todoke.services.messages import MessagePolicy, MessageService, now_ms
from todoke.services.protection import Protection
from todoke.store.accounts import AccountStore
from todoke.store.database import Database
from todoke.store.messages import MessageStore
from todoke.store.routing import RoutingStore
from todoke.store.writer import GroupCommitter


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
        )
        self.protection = build_protection(settings, self.db, self.writer, self.services)
        self.delivery: DeliveryEngine | None = None
        self._started = False

    async def _load_windows(self) -> list[MaintenanceWindow]:
        return await RoutingStore(self.db).list_windows(since=now_ms())

    async def start(self, *, migrate: bool = True, delivery: bool = False) -> None:
        """Open the database (migrating it) and start the writer; ``delivery`` adds the
        dispatch worker, the connectors and, without configured connectors, the simulator."""
        if self._started:
            return
        if migrate:
            await self.db.migrate()
        self.writer.start()
        await self.protection.start()
        self._started = True
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
        await self.protection.stop()
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
    app = Litestar(
        route_handlers=[healthz, readyz, MessagesController, BlocklistController],
        dependencies={"account": Provide(bearer_account)},
        guards=[ip_rate_guard(rt.protection)],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=[lifespan],
        state=_state(rt),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
    )
    document_errors(app)
    return app


def _state(rt: Runtime) -> State:
    return State({"services": rt.services, "db": rt.db, "runtime": rt})


def build_protection(
    settings: Settings, db: Database, writer: GroupCommitter, services: Services
) -> Protection:
    """The protections of a process (docs/protection.md), wired into the services."""
    from todoke.domain.protection import parse_network
    from todoke.services.blocklist import BlocklistService
    from todoke.services.protection import ProtectionPolicy
    from todoke.store.protection import ProtectionStore

    store = ProtectionStore(db, writer)
    shared = settings.shared_rate_limits
    policy = ProtectionPolicy(
        auth_failure_limit=settings.auth_failure_limit,
        ip_rate_limit=settings.ip_rate_limit,
        ip_rate_burst=settings.ip_rate_burst,
        send_rate_limit=settings.send_rate_limit,
        daily_quota=settings.daily_quota,
        monthly_quota=settings.monthly_quota,
        flood_max_messages=settings.flood_max_messages,
        flood_max_identical=settings.flood_max_identical,
        duplicate_window_seconds=settings.duplicate_window_seconds,
        trusted_proxies=tuple(parse_network(p) for p in settings.trusted_proxies),
        cache_seconds=settings.token_cache_seconds,
        refresh_seconds=settings.protection_refresh_seconds,
        shared_rate_limits=(not settings.is_sqlite) if shared is None else shared,
        sync_seconds=settings.rate_limit_sync_seconds,
    )
    protection = Protection(store, policy)
    services.protection = protection
    services.blocklist = BlocklistService(store, opt_out_keywords=settings.opt_out_keywords)
    services.messages.protection = protection
    return protection
