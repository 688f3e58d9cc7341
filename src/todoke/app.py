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
from todoke.api.compat.push import PushEndpoints, register_push_formats
from todoke.api.compat.zettai_reach import zettai_reach_router
from todoke.api.errors import EXCEPTION_HANDLERS
from todoke.api.health import healthz, readyz
from todoke.api.links import links_router
from todoke.api.metrics import ConnectorSample, MetricsSample, metrics
from todoke.api.openapi_errors import document_errors
from todoke.api.protection import ip_rate_hook
from todoke.api.v1.batches import BatchesController
from todoke.api.v1.blocklist import BlocklistController
from todoke.api.v1.fast_send import FastSend
from todoke.api.v1.links import LinksController
from todoke.api.v1.messages import MessagesController
from todoke.api.v1.numbers import number_cleaning
from todoke.api.v1.outcomes import OUTCOME_HANDLERS
from todoke.api.v1.templates import TemplatesController
from todoke.config import Settings
from todoke.delivery import DeliveryEngine
from todoke.domain.inbound import InboundMessage
from todoke.domain.routing import MaintenanceWindow
from todoke.domain.webhooks import NUMBER_OPTED_OUT
from todoke.outcomes import WebhookEngine, build_outcomes, standard_policy
from todoke.services.accounts import AccountService
from todoke.services.batches import BatchService
from todoke.services.blocklist import OptOut
from todoke.services.container import Services
from todoke.services.links import ClickEvent, LinkPolicy, LinkService
from todoke.services.maintenance import MaintenanceCalendar
from todoke.services.mediasms import MediaSmsService
from todoke.services.message_reports import MessageReports
from todoke.services.messages import MessagePolicy, MessageService, now_ms
from todoke.services.numbers import NumberCleaningService
from todoke.services.protection import Protection
from todoke.services.templates import TemplateService
from todoke.services.zettai_settings import ZettaiSettingsService
from todoke.store.accounts import AccountStore
from todoke.store.batches import BatchStore
from todoke.store.database import Database
from todoke.store.links import LinkStore
from todoke.store.mediasms import MediaSmsStore
from todoke.store.message_reports import MessageReportStore
from todoke.store.messages import MessageStore
from todoke.store.numbers import NumberEventStore
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
            message_reports=MessageReports(MessageReportStore(self.db)),
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
        self.protection = build_protection(settings, self.db, self.writer, self.services)
        self.delivery: DeliveryEngine | None = None
        self.outcomes = build_outcomes(settings, self.db, self.writer)
        self.services.webhooks = self.outcomes.webhooks
        self.services.inbound = self.outcomes.inbound
        self.services.reports = self.outcomes.reports
        self.outcomes.inbound.add_listener(self._opt_out_on_reply)
        # The compatible APIs' pushes (api/compat/push.py): their formats, the endpoints kept
        # in step with the façade settings, and link clicks (emitted with the click row).
        register_push_formats(self.outcomes.webhooks.formats, standard_policy(settings))
        self.push_endpoints = PushEndpoints(self.outcomes.webhooks)
        self.services.zettai.on_change = self.push_endpoints.zettai
        if self.services.mediasms is not None:
            self.services.mediasms.on_change = self.push_endpoints.mediasms
        self.services.links.on_click = self._click_committed
        self.webhook_engine: WebhookEngine | None = None
        self._started = False

    async def _opt_out_on_reply(self, reply: InboundMessage) -> None:
        """A reply with an opt-out keyword puts its sender on the account's blocklist and
        emits ``number.opted_out`` (docs/protection.md)."""
        blocklist, webhooks = self.services.blocklist, self.services.webhooks
        if reply.account_id is None or blocklist is None or webhooks is None:
            return

        async def emit(o: OptOut) -> None:
            data = {
                "number": o.number,
                "keyword": o.keyword,
                "added": o.added,
                "inboundId": reply.id,
            }
            await webhooks.emit(o.account_id, NUMBER_OPTED_OUT, data)

        await blocklist.opt_out_reply(
            reply.account_id, reply.from_number, reply.text, on_opt_out=emit
        )

    async def _click_committed(self, click: ClickEvent) -> None:
        # The link.clicked event was written with the click row (store/links.py); wake the
        # local webhook worker so that it goes out now rather than at the next poll.
        if self.outcomes.webhooks.on_emitted is not None:
            self.outcomes.webhooks.on_emitted()

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
        await self.protection.start()
        self._started = True
        if self.services.batches is not None:
            await self.services.batches.abandon_stale()  # uploads a dead process left held
        if delivery:
            self.delivery = DeliveryEngine(self.settings, self.db, self.writer)
            self.services.messages.on_accepted = self.delivery.worker.wake
            self.delivery.on_inbound = self.outcomes.inbound.receive
            await self.delivery.start()
        if delivery and self.settings.webhooks_enabled:
            self.webhook_engine = WebhookEngine(self.settings, self.outcomes)
            self.webhook_engine.start()

    async def stop(self) -> None:
        if not self._started:
            return
        if self.delivery is not None:
            await self.delivery.stop()
            self.delivery = None
        if self.webhook_engine is not None:
            await self.webhook_engine.stop()
            self.webhook_engine = None
        await self.outcomes.sender.close()
        await self.protection.stop()
        await self.writer.stop()
        await self.db.dispose()
        self._started = False


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastSend:
    """The ASGI application. Without a ``runtime`` it starts and stops its own.

    The Litestar application answers every route; ``POST /v1/messages``, the accept hot
    path, is answered in front of it (``api/v1/fast_send.py``) when it can be answered
    exactly as Litestar would."""
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
            *OUTCOME_HANDLERS,
            BlocklistController,
        ],
        dependencies={"account": Provide(bearer_account)},
        before_request=ip_rate_hook(rt.protection),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        lifespan=[lifespan],
        state=_state(rt),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
    )
    document_errors(app)
    return FastSend(app, rt.services, settings.max_body_bytes)


def _state(rt: Runtime) -> State:
    return State(
        {"services": rt.services, "db": rt.db, "runtime": rt, "metrics": rt.metrics_sample}
    )


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
