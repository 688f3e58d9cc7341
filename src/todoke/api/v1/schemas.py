"""Request and response bodies of ``/v1`` (msgspec structs: validated and encoded in C)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import msgspec

from todoke.domain import status as status_catalogue
from todoke.domain.carrier import Carrier
from todoke.domain.message import Message, MessageEvent

JST = timezone(timedelta(hours=9), "JST")

Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LinkSpecIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Where a ``{NAME}`` placeholder of the text goes: a new URL, or one of the account's
    links (``linkId``); each message gets its own short URL, so clicks are counted per
    message."""

    long_url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    link_id: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    access_code: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class SendMessageIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """One message to send."""

    to: Annotated[str, msgspec.Meta(max_length=40, description="Japanese mobile number")]
    text: Annotated[
        str, msgspec.Meta(max_length=5000, description="Message text (not with templateId)")
    ] = ""
    from_: (
        Annotated[str, msgspec.Meta(max_length=20, description="Sender code (smsCode)")] | None
    ) = msgspec.field(default=None, name="from")
    client_tag: Tag | None = None
    group_tag: Tag | None = None
    schedule_at: (
        Annotated[datetime, msgspec.Meta(description="ISO 8601; JST when it has no offset")] | None
    ) = None
    validity_period: Annotated[int, msgspec.Meta(ge=1, description="Seconds")] | None = None
    carrier: Carrier | None = None
    webhook_url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    template_id: (
        Annotated[str, msgspec.Meta(max_length=32, description="A template instead of text")] | None
    ) = None
    template_params: (
        Annotated[dict[str, str], msgspec.Meta(description="Values of the template's {{names}}")]
        | None
    ) = None
    links: (
        Annotated[
            dict[str, LinkSpecIn],
            msgspec.Meta(description="Tracked links: placeholder NAME (written {NAME}) -> link"),
        ]
        | None
    ) = None


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Up to ``batch_max_messages`` messages, stored in one transaction."""

    messages: Annotated[list[SendMessageIn], msgspec.Meta(min_length=1, max_length=10_000)]


class CancelIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Which scheduled messages to cancel: every criterion given must match."""

    group_tag: Tag | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    all: bool = False


class StatusOut(msgspec.Struct, rename="camel"):
    group_id: int
    group_name: str
    id: int
    name: str
    description: str


class ErrorOut(msgspec.Struct, rename="camel"):
    group_id: int
    group_name: str
    id: int
    name: str
    description: str
    permanent: bool


class MessageOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    to: str
    text: str
    encoding: str
    parts: int
    characters: int
    status: StatusOut
    created_at: str
    updated_at: str
    valid_until: str
    attempts: int
    delivered_parts: int
    billable_parts: int
    from_: str | None = msgspec.field(default=None, name="from")
    carrier: str | None = None
    client_tag: str | None = None
    group_tag: str | None = None
    schedule_at: str | None = None
    webhook_url: str | None = None
    error: ErrorOut | None = None
    sent_at: str | None = None
    done_at: str | None = None


class MessageListOut(msgspec.Struct, rename="camel"):
    messages: list[MessageOut]
    next_cursor: str | None


class EventOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    status: StatusOut
    created_at: str
    error: ErrorOut | None = None
    attempt: int | None = None
    detail: dict[str, Any] | None = None


class EventListOut(msgspec.Struct):
    events: list[EventOut]


class BatchItemOut(msgspec.Struct, omit_defaults=True):
    index: int
    id: str | None = None
    to: str | None = None
    parts: int | None = None
    status: StatusOut | None = None
    error: dict[str, Any] | None = None


class BatchOut(msgspec.Struct):
    accepted: int
    rejected: int
    results: list[BatchItemOut]


class CancelOut(msgspec.Struct):
    cancelled: int
    ids: list[str]


_SECONDS: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS" in JST


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 in JST (what users in Japan read), e.g.
    ``2026-11-24T04:29:06.249+09:00``.

    Three per message answered, hundreds of answers per second, nearly all within the same
    few seconds: the date and time of a second is formatted once and kept (JST has a fixed
    offset), the milliseconds are appended.
    """
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        prefix = _SECONDS[seconds] = datetime.fromtimestamp(seconds, JST).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return f"{prefix}.{millis:03d}+09:00"


_STATUS_CACHE: dict[str, StatusOut] = {}
_ERROR_CACHE: dict[str, ErrorOut] = {}


def status_out(name: str) -> StatusOut:
    out = _STATUS_CACHE.get(name)
    if out is None:
        s = status_catalogue.STATUSES[name]
        out = StatusOut(s.group_id, s.group_name, s.id, s.name, s.description)
        _STATUS_CACHE[name] = out
    return out


def error_out(code: str | None) -> ErrorOut | None:
    if code is None:
        return None
    out = _ERROR_CACHE.get(code)
    if out is None:
        e = status_catalogue.ERRORS[code]
        out = ErrorOut(e.group_id, e.group_name, e.id, e.name, e.description, e.permanent)
        _ERROR_CACHE[code] = out
    return out


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        to=m.to,
        text=m.text,
        encoding=m.encoding,
        parts=m.parts,
        characters=m.characters,
        status=status_out(m.status),
        created_at=iso(m.created_at) or "",
        updated_at=iso(m.updated_at) or "",
        valid_until=iso(m.validity_until) or "",
        from_=m.sender_code,
        carrier=m.carrier,
        client_tag=m.client_tag,
        group_tag=m.group_tag,
        schedule_at=iso(m.schedule_at),
        webhook_url=m.webhook_url,
        error=error_out(m.error_code),
        attempts=m.attempts,
        delivered_parts=m.delivered_parts,
        billable_parts=m.billable_parts,
        sent_at=iso(m.sent_at),
        done_at=iso(m.done_at),
    )


def event_out(e: MessageEvent) -> EventOut:
    return EventOut(
        id=e.id,
        status=status_out(e.status),
        created_at=iso(e.created_at) or "",
        error=error_out(e.error_code),
        attempt=e.attempt,
        detail=e.detail or None,
    )
