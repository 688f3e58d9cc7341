"""Bodies of ``/v1/webhooks``, ``/v1/inbound`` and ``/v1/usage`` (msgspec structs)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from todoke.api.v1.schemas import iso
from todoke.domain.inbound import InboundMessage
from todoke.services.reports import Counts, Period
from todoke.services.webhook_types import DeliveryView, Endpoint


class BasicAuthIn(msgspec.Struct, forbid_unknown_fields=True):
    """HTTP Basic credentials todoke sends with each request (as MediaSMS does)."""

    username: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    password: Annotated[str, msgspec.Meta(max_length=200)]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A new webhook endpoint."""

    url: Annotated[str, msgspec.Meta(max_length=2048, description="http(s) URL")]
    events: list[str] | None = None
    basic_auth: BasicAuthIn | None = None
    description: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Changes to an endpoint; ``basicAuth: null`` removes the credentials."""

    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    events: list[str] | None = None
    basic_auth: BasicAuthIn | msgspec.UnsetType | None = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    enabled: bool | None = None


class EndpointOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    url: str
    events: list[str]
    format: str
    enabled: bool
    created_at: str
    updated_at: str
    failing: bool
    secret: str | None = None
    basic_auth_user: str | None = None
    description: str | None = None
    failing_since: str | None = None
    flagged_at: str | None = None
    last_success_at: str | None = None


class EndpointListOut(msgspec.Struct):
    endpoints: list[EndpointOut]


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True):
    """Which dead events to send again: all, or those created in [since, until)."""

    since: str | None = None
    until: str | None = None


class ReplayOut(msgspec.Struct):
    replayed: int


class DeliveryOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    event_id: str
    event_type: str
    state: str
    attempts: int
    created_at: str
    updated_at: str
    message_id: str | None = None
    next_at: str | None = None
    last_status: int | None = None
    last_error: str | None = None


class DeliveryListOut(msgspec.Struct, rename="camel"):
    deliveries: list[DeliveryOut]
    next_cursor: int | None


class InboundOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    from_: str = msgspec.field(name="from")
    to: str = ""
    text: str = ""
    received_at: str = ""
    reply_to: str | None = None


class InboundListOut(msgspec.Struct, rename="camel"):
    inbound: list[InboundOut]
    next_cursor: str | None


class CountsOut(msgspec.Struct, rename="camel"):
    sent: int
    delivered: int
    failed: int
    not_sent: int
    parts: int
    billable_parts: int


class CarrierCountsOut(msgspec.Struct, rename="camel"):
    carrier: str
    sent: int
    delivered: int
    failed: int
    not_sent: int
    parts: int
    billable_parts: int


class DayUsageOut(msgspec.Struct, rename="camel"):
    date: str
    state: str
    totals: CountsOut
    carriers: list[CarrierCountsOut]


class MonthUsageOut(msgspec.Struct, rename="camel"):
    month: str
    client_id: int
    state: str
    totals: CountsOut
    carriers: list[CarrierCountsOut]
    days: list[DayUsageOut]


def endpoint_out(ep: Endpoint, *, with_secret: bool = False) -> EndpointOut:
    return EndpointOut(
        id=ep.id,
        url=ep.url,
        events=list(ep.events),
        format=ep.format,
        enabled=ep.enabled,
        created_at=iso(ep.created_at) or "",
        updated_at=iso(ep.updated_at) or "",
        failing=ep.failing_since is not None,
        secret=ep.secret if with_secret else None,
        basic_auth_user=ep.basic_user,
        description=ep.description,
        failing_since=iso(ep.failing_since),
        flagged_at=iso(ep.flagged_at),
        last_success_at=iso(ep.last_success_at),
    )


def delivery_out(d: DeliveryView) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        state=d.state,
        attempts=d.attempts,
        created_at=iso(d.created_at) or "",
        updated_at=iso(d.updated_at) or "",
        message_id=d.message_id,
        next_at=iso(d.next_at),
        last_status=d.last_status,
        last_error=d.last_error,
    )


def inbound_out(m: InboundMessage) -> InboundOut:
    return InboundOut(
        id=m.id,
        from_=m.from_number,
        to=m.to_code,
        text=m.text,
        received_at=iso(m.received_at) or "",
        reply_to=m.reply_to,
    )


def _counts(c: Counts) -> dict[str, Any]:
    return {
        "sent": c.sent,
        "delivered": c.delivered,
        "failed": c.failed,
        "not_sent": c.not_sent,
        "parts": c.parts,
        "billable_parts": c.billable_parts,
    }


def _carriers(p: Period) -> list[CarrierCountsOut]:
    return [CarrierCountsOut(carrier=k, **_counts(v)) for k, v in sorted(p.carriers.items())]


def day_out(p: Period) -> DayUsageOut:
    return DayUsageOut(
        date=p.label, state=p.state, totals=CountsOut(**_counts(p.totals)), carriers=_carriers(p)
    )


def month_out(p: Period, client_id: int) -> MonthUsageOut:
    return MonthUsageOut(
        month=p.label,
        client_id=client_id,
        state=p.state,
        totals=CountsOut(**_counts(p.totals)),
        carriers=_carriers(p),
        days=[day_out(d) for d in p.days],
    )
