"""Webhooks: endpoints per account, events, and the decisions of delivery.

Reuse (for the compatible APIs and any other service)
----------------------------------------------------
* **Emit an event** outside a transaction: ``await services.webhooks.emit(account_id,
  "link.clicked", {...})``. Inside a group-commit handler (so that the event commits with the
  change it reports): ``await todoke.store.outbox.emit_in(conn, account_id, "link.clicked",
  {...})``. Message status events need no call: ``store.delivery._write_transitions`` and the
  accept and cancel paths write them.
* **A push format of your own**: register a :class:`~todoke.services.webhook_formats.
  WebhookFormat` on ``services.webhooks.formats`` (see that module), then create the
  account's endpoint with ``format=`` (``todoke webhooks add --format NAME`` or
  :meth:`WebhookService.create`).

Delivery (``WebhookDeliverer``, driven by ``workers/webhooks.py``): claim due deliveries with
a lease, render with the endpoint's format, POST, and record one attempt: 2xx within the
timeout is delivered; otherwise a retry after exponential backoff with jitter while the
policy allows (24 h at least for the standard format), then dead-lettered and the endpoint
flagged. A refused target address is dead at once. Dead deliveries are replayed on request.
"""

from __future__ import annotations

import base64
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog

from todoke.domain import webhooks as wh
from todoke.domain.ids import time_ordered_id
from todoke.errors import InvalidInput
from todoke.services.messages import now_ms
from todoke.services.webhook_formats import WebhookFormats, basic_auth
from todoke.services.webhook_types import (
    Delivery,
    DeliveryView,
    Endpoint,
    EndpointSpec,
    NewEvent,
    Outcome,
    ResolverPort,
    SenderPort,
    SendResult,
    WebhookStorePort,
    policy_of,
)

log = structlog.get_logger(__name__)

MAX_ENDPOINTS_PER_ACCOUNT = 20
USER_AGENT = "todoke-webhooks/1"
_SECRET_BYTES = 24


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return wh.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


class WebhookService:
    """Endpoints, events and replay for the edges (API, CLI) and other services."""

    def __init__(
        self,
        store: WebhookStorePort,
        formats: WebhookFormats,
        *,
        allow_private: bool = False,
        resolver: ResolverPort | None = None,
    ) -> None:
        self.store = store
        self.formats = formats
        self.allow_private = allow_private
        self.resolver = resolver
        self.on_emitted: Callable[[], None] | None = None  # wakes the local webhook worker

    # --- endpoints -----------------------------------------------------------------------

    async def create(
        self,
        account_id: int,
        url: str,
        *,
        events: Sequence[str] | None = None,
        format: str = wh.STANDARD_FORMAT,
        basic_user: str | None = None,
        basic_password: str | None = None,
        max_attempts: int | None = None,
        max_age_seconds: int | None = None,
        timeout_ms: int | None = None,
        options: Mapping[str, Any] | None = None,
        description: str | None = None,
        check_dns: bool = True,
    ) -> Endpoint:
        """A new endpoint with a fresh signing secret (``whsec_…``).

        ``check_dns=False`` (an operator's setting, e.g. a façade's push URL) checks the URL's
        form and literal address only; the host is still resolved and checked at delivery.
        """
        await self._check_url(url, check_dns=check_dns)
        types = self._events(events)
        self._check_format(format)
        _check_basic(basic_user, basic_password)
        _check_policy(max_attempts, max_age_seconds, timeout_ms)
        if len(await self.store.endpoints(account_id)) >= MAX_ENDPOINTS_PER_ACCOUNT:
            raise InvalidInput(
                f"an account has at most {MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints",
                field="url",
                code="too_many",
            )
        now = now_ms()
        endpoint = Endpoint(
            id=time_ordered_id(now),
            account_id=account_id,
            url=url,
            events=types,
            format=format,
            secret=new_signing_secret(),
            created_at=now,
            updated_at=now,
            basic_user=basic_user,
            basic_password=basic_password,
            max_attempts=max_attempts,
            max_age_seconds=max_age_seconds,
            timeout_ms=timeout_ms,
            options=dict(options or {}),
            description=_description(description),
        )
        created = await self.store.create_endpoint(endpoint)
        log.info("webhook.endpoint_created", endpoint=created.id, account=account_id)
        return created

    async def update(
        self, account_id: int, endpoint_id: str, spec: EndpointSpec, *, check_dns: bool = True
    ) -> Endpoint:
        if spec.url is not None:
            await self._check_url(spec.url, check_dns=check_dns)
        events = self._events(spec.events) if spec.events is not None else None
        if spec.format is not None:
            self._check_format(spec.format)
        current = await self.store.get_endpoint(account_id, endpoint_id)
        if not spec.clear_basic_auth and (
            spec.basic_user is not None or spec.basic_password is not None
        ):
            _check_basic(
                spec.basic_user if spec.basic_user is not None else current.basic_user,
                spec.basic_password if spec.basic_password is not None else current.basic_password,
            )
        _check_policy(spec.max_attempts, spec.max_age_seconds, spec.timeout_ms)
        spec = replace(spec, events=events, description=_description(spec.description))
        return await self.store.update_endpoint(account_id, endpoint_id, spec, now=now_ms())

    async def delete(self, account_id: int, endpoint_id: str) -> None:
        await self.store.delete_endpoint(account_id, endpoint_id)

    async def get(self, account_id: int, endpoint_id: str) -> Endpoint:
        return await self.store.get_endpoint(account_id, endpoint_id)

    async def endpoints(self, account_id: int | None) -> list[Endpoint]:
        return await self.store.endpoints(account_id)

    async def deliveries(
        self,
        account_id: int,
        endpoint_id: str,
        *,
        state: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryView]:
        if state is not None and state not in (wh.QUEUED, wh.PENDING, *wh.DONE_STATES):
            raise InvalidInput(f"unknown delivery state {state!r}", field="state")
        return await self.store.deliveries(
            account_id, endpoint_id, state=state, before_id=before_id, limit=limit
        )

    async def replay(
        self,
        account_id: int | None,
        endpoint_id: str,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> int:
        """Send the endpoint's dead events again (all, or those created in [since, until)).

        ``account_id`` None is an operator's replay (any account's endpoint).
        """
        count = await self.store.replay(
            account_id, endpoint_id, since=since, until=until, now=now_ms()
        )
        log.info("webhook.replayed", endpoint=endpoint_id, deliveries=count)
        self._wake()
        return count

    # --- events --------------------------------------------------------------------------

    async def emit(
        self,
        account_id: int,
        event_type: str,
        data: Mapping[str, Any],
        *,
        chain: str | None = None,
        message_id: str | None = None,
        at: int | None = None,
    ) -> None:
        """Record an event in a transaction of its own; it is delivered like every other."""
        check_event_type(event_type)
        event = NewEvent(
            account_id=account_id,
            type=event_type,
            data=dict(data),
            at=at if at is not None else now_ms(),
            message_id=message_id,
            chain=chain,
            webhook_url_known=message_id is None,
        )
        await self.store.emit([event])
        self._wake()

    def _wake(self) -> None:
        if self.on_emitted is not None:
            self.on_emitted()

    # --- rules ---------------------------------------------------------------------------

    async def _check_url(self, url: str, *, check_dns: bool = True) -> None:
        try:
            wh.parse_target(url, allow_private=self.allow_private)
            if check_dns and self.resolver is not None and not self.allow_private:
                await self.resolver.check(url)
        except wh.UrlRefused as exc:
            raise InvalidInput(str(exc), field="url", code="invalid_url") from None

    @staticmethod
    def _events(events: Sequence[str] | None) -> tuple[str, ...]:
        try:
            return wh.event_types(list(events) if events is not None else None)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="events", code="unknown_event_type") from None

    def _check_format(self, name: str) -> None:
        if self.formats.get(name) is None:
            raise InvalidInput(
                f"unknown webhook format {name!r}: one of {', '.join(self.formats.names())}",
                field="format",
                code="unknown_format",
            )


def check_event_type(event_type: str) -> None:
    """Raise ``ValueError`` for an event type endpoints cannot subscribe to."""
    if event_type not in wh.EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}: one of {wh.EVENT_TYPES}")


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 200:
        raise InvalidInput("description is longer than 200 characters", field="description")
    return value


def _check_basic(user: str | None, password: str | None) -> None:
    if user is None and password is None:
        return
    if not user or password is None:
        raise InvalidInput(
            "basicAuth needs both a username and a password", field="basicAuth", code="invalid"
        )
    if ":" in user or len(user) > 100 or len(password) > 200:
        raise InvalidInput(
            "the Basic auth username must not contain ':' (at most 100 characters; "
            "password at most 200)",
            field="basicAuth",
            code="invalid",
        )


def _check_policy(
    max_attempts: int | None, max_age_seconds: int | None, timeout_ms: int | None
) -> None:
    if max_attempts is not None and not 1 <= max_attempts <= 1000:
        raise InvalidInput("maxAttempts must be 1 to 1000", field="maxAttempts")
    if max_age_seconds is not None and not 1 <= max_age_seconds <= 30 * 24 * 3600:
        raise InvalidInput("maxAgeSeconds must be 1 s to 30 days", field="maxAgeSeconds")
    if timeout_ms is not None and not 100 <= timeout_ms <= 60_000:
        raise InvalidInput("timeoutMs must be 100 to 60000", field="timeoutMs")


class WebhookDeliverer:
    """Claims due deliveries and makes one attempt for each (the worker's decisions)."""

    def __init__(
        self,
        store: WebhookStorePort,
        formats: WebhookFormats,
        sender: SenderPort,
        *,
        owner: str,
        lease_ms: int = 60_000,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._formats = formats
        self._sender = sender
        self.owner = owner
        self.lease_ms = lease_ms
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.delivered = 0
        self.failed = 0

    async def claim(self, limit: int) -> list[Delivery]:
        return await self._store.claim(
            self.owner, now=now_ms(), limit=limit, lease_ms=self.lease_ms
        )

    async def deliver(self, d: Delivery) -> Outcome:
        """Make one attempt and record it (never raises for a delivery's own failure)."""
        outcome = await self._attempt(d)
        await self._store.record([outcome])
        if outcome.state == wh.DELIVERED:
            self.delivered += 1
        elif outcome.result is not None:
            self.failed += 1
        if outcome.state == wh.DEAD:
            log.warning(
                "webhook.dead_lettered",
                endpoint=d.endpoint.id,
                event_id=d.event.id,
                attempts=d.attempt,
                error=outcome.result.error if outcome.result else None,
                status=outcome.result.status_code if outcome.result else None,
            )
        return outcome

    async def _attempt(self, d: Delivery) -> Outcome:
        fmt = self._formats.get(d.endpoint.format)
        if fmt is None:
            log.error("webhook.unknown_format", format=d.endpoint.format, endpoint=d.endpoint.id)
            result = SendResult(None, 0, error=f"unknown format {d.endpoint.format!r}")
            return self._after_failure(d, result, self._default_policy())
        policy = policy_of(d.endpoint, fmt.policy)
        now = now_ms()
        try:
            rendered = fmt.render(d.event, d.endpoint, now)
        except Exception as exc:  # a bug in a format must not stop the others
            log.exception("webhook.render_failed", format=fmt.name, event_id=d.event.id)
            result = SendResult(None, 0, error=f"render failed: {type(exc).__name__}")
            return self._after_failure(d, result, policy)
        if rendered is None:
            return _outcome(d, wh.SKIPPED, now)
        headers = {
            **rendered.headers,
            "content-type": rendered.content_type,
            "user-agent": USER_AGENT,
        }
        ep = d.endpoint
        if ep.basic_user and ep.basic_password is not None:
            headers["authorization"] = basic_auth(ep.basic_user, ep.basic_password)
        result = await self._sender.post(
            d.url, headers=headers, body=rendered.body, timeout_ms=policy.timeout_ms
        )
        if wh.is_success(result.status_code) and result.error is None:
            return _outcome(d, wh.DELIVERED, now_ms(), result=result)
        return self._after_failure(d, result, policy)

    def _after_failure(self, d: Delivery, result: SendResult, policy: wh.RetryPolicy) -> Outcome:
        now = now_ms()
        nxt = (
            None
            if result.permanent
            else wh.next_after_failure(
                attempt=d.attempt,
                first_at=d.created_at,
                now=now,
                policy=policy,
                jitter=self._rng.random(),
            )
        )
        if nxt is None:
            return _outcome(d, wh.DEAD, now, result=result)
        return _outcome(d, wh.PENDING, now, result=result, next_at=nxt)

    def _default_policy(self) -> wh.RetryPolicy:
        standard = self._formats.get(wh.STANDARD_FORMAT)
        return standard.policy if standard is not None else wh.RetryPolicy()


def _outcome(
    d: Delivery,
    state: str,
    at: int,
    *,
    result: SendResult | None = None,
    next_at: int | None = None,
) -> Outcome:
    return Outcome(
        delivery_id=d.id,
        endpoint_id=d.endpoint.id,
        account_id=d.endpoint.account_id,
        chain=d.chain,
        attempt=d.attempt,
        state=state,
        at=at,
        next_at=next_at,
        result=result,
    )
