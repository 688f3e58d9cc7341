"""Records and ports of webhook delivery, shared by ``services``, ``store`` and the workers.

The store implements :class:`WebhookStorePort`; the HTTP edge of the worker implements
:class:`SenderPort`. Formats (how an event becomes a request) are in ``webhook_formats``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from todoke.domain.message import Message
from todoke.domain.webhooks import RetryPolicy


@dataclass(slots=True)  # not frozen: one per accepted message (see Message)
class NewEvent:
    """An event to record in the outbox (and fan out to the endpoints that want it).

    ``chain`` orders delivery: events with the same chain reach one endpoint one after the
    other, in the order they were recorded. Message events use the message id. Leave
    ``webhook_url`` None with ``webhook_url_known`` False for message events when the
    message's ``webhookUrl`` is not at hand: the outbox reads it.
    """

    account_id: int
    type: str
    data: Mapping[str, Any]
    at: int
    message_id: str | None = None
    chain: str | None = None
    webhook_url: str | None = None
    webhook_url_known: bool = True


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint of an account (one row of ``webhook_endpoints``)."""

    id: str
    account_id: int
    url: str
    events: tuple[str, ...]
    format: str
    secret: str
    created_at: int
    updated_at: int
    basic_user: str | None = None
    basic_password: str | None = None
    max_attempts: int | None = None
    max_age_seconds: int | None = None
    timeout_ms: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    enabled: bool = True
    failing_since: int | None = None
    flagged_at: int | None = None
    last_success_at: int | None = None


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What a new endpoint (or a change of one) says; None leaves a field as it is."""

    url: str | None = None
    events: tuple[str, ...] | None = None
    format: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None
    max_attempts: int | None = None
    max_age_seconds: int | None = None
    timeout_ms: int | None = None
    options: Mapping[str, Any] | None = None
    description: str | None = None
    enabled: bool | None = None
    clear_basic_auth: bool = False


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event as a format renders it.

    ``data`` is what was recorded with the event. For message events ``message`` is the
    message as stored now (its text, number, tags; status fields come from ``data``, which is
    the state at the time of the event).
    """

    id: str
    account_id: int
    type: str
    created_at: int
    data: Mapping[str, Any]
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: one event for one endpoint (``url`` already resolved)."""

    id: int
    event: WebhookEvent
    endpoint: Endpoint
    url: str
    attempt: int  # the number of the attempt about to be made (1-based)
    created_at: int
    chain: str | None


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one HTTP request gave: a status code, or an error (timeout, refused, ...)."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    response: str | None = None  # the start of the answer body, for the attempt log
    permanent: bool = False  # a failure that retrying cannot fix (e.g. a refused address)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt, recorded with the attempt row in one transaction.

    ``state`` is the delivery's next state: delivered, pending (``next_at``), dead, skipped.
    """

    delivery_id: int
    endpoint_id: str
    account_id: int
    chain: str | None
    attempt: int
    state: str
    at: int
    next_at: int | None = None
    result: SendResult | None = None  # None: no request was made (skipped)


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery as the API lists it."""

    id: int
    event_id: str
    event_type: str
    endpoint_id: str
    state: str
    attempts: int
    created_at: int
    updated_at: int
    next_at: int | None
    last_status: int | None
    last_error: str | None
    message_id: str | None


class SenderPort(Protocol):
    """Makes one webhook request (the worker's HTTP edge)."""

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_ms: int
    ) -> SendResult: ...


class ResolverPort(Protocol):
    """Checks that a URL's host resolves to addresses todoke may call."""

    async def check(self, url: str) -> None: ...


class WebhookStorePort(Protocol):
    """Endpoints, the outbox and delivery bookkeeping."""

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint: ...

    async def update_endpoint(
        self, account_id: int, endpoint_id: str, spec: EndpointSpec, *, now: int
    ) -> Endpoint: ...

    async def delete_endpoint(self, account_id: int, endpoint_id: str) -> None: ...

    async def get_endpoint(self, account_id: int, endpoint_id: str) -> Endpoint: ...

    async def endpoints(self, account_id: int | None) -> list[Endpoint]: ...

    async def emit(self, events: Sequence[NewEvent]) -> None: ...

    async def claim(self, owner: str, *, now: int, limit: int, lease_ms: int) -> list[Delivery]: ...

    async def record(self, outcomes: Sequence[Outcome]) -> None: ...

    async def replay(
        self,
        account_id: int | None,
        endpoint_id: str,
        *,
        since: int | None,
        until: int | None,
        now: int,
    ) -> int: ...

    async def deliveries(
        self,
        account_id: int,
        endpoint_id: str,
        *,
        state: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[DeliveryView]: ...

    async def unblock_chains(self, *, now: int, limit: int) -> int: ...

    async def purge(self, *, before: int, limit: int) -> int: ...


def policy_of(endpoint: Endpoint, default: RetryPolicy) -> RetryPolicy:
    """The endpoint's retry policy: its own limits where set, the format's default elsewhere."""
    max_attempts = endpoint.max_attempts or default.max_attempts
    max_age_ms = endpoint.max_age_seconds * 1000 if endpoint.max_age_seconds else default.max_age_ms
    return RetryPolicy(
        max_attempts=max_attempts,
        max_age_ms=max_age_ms,
        timeout_ms=endpoint.timeout_ms or default.timeout_ms,
        base_ms=default.base_ms,
        cap_ms=default.cap_ms,
    )
