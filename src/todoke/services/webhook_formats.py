"""Webhook formats: how an event becomes an HTTP request, and how hard it is retried.

The machinery (outbox, worker, leases, attempts, ordering, backoff, dead letters, replay,
Basic auth, the address guard) is the same for every push todoke makes; a *format* only says
what one request looks like. todoke's own format is ``standard`` (Standard Webhooks, signed
JSON). A compatible API registers its own, e.g. the 絶対リーチ! DLR push (form field ``json=``
with ``eventNotifications``, 3 retries, 10 s) or the MediaSMS 送達結果通知 (a form POST)::

    from todoke.domain.webhooks import RetryPolicy
    from todoke.services.webhook_formats import Rendered, WebhookFormat, form_body

    def render(event: WebhookEvent, endpoint: Endpoint, now_ms: int) -> Rendered | None:
        if event.message is None or event.message.client_tag is None:
            return None                      # not sent for this event: the delivery is skipped
        return Rendered(form_body({"json": ...}), FORM, {})

    runtime.services.webhooks.formats.register(
        WebhookFormat("zettai_reach_json", render,
                      RetryPolicy(max_attempts=4, max_age_ms=None, timeout_ms=10_000)))

Register formats in ``Runtime.__init__`` (``app.py``) so that every process that delivers
webhooks (``todoke serve`` and ``todoke worker``) knows them. An endpoint names its format
(``todoke webhooks add --format NAME``); its own ``max_attempts`` / ``max_age_seconds`` /
``timeout_ms``, when set, override the format's policy.

A renderer is a plain function ``(event, endpoint, now_ms) -> Rendered | None``: no I/O, it
must not raise for any event it can be given (an exception counts as a failed attempt). It
gets the event's recorded ``data`` and, for message events, the stored ``Message``
(``message_payload`` gives the unified view). The worker adds ``Authorization: Basic`` when
the endpoint has a user and password, and ``User-Agent``; everything else is the renderer's.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import urlencode

from standardwebhooks.webhooks import Webhook

from todoke.domain import status as status_catalogue
from todoke.domain import webhooks as wh
from todoke.services.webhook_types import Endpoint, WebhookEvent

JST: Final = timezone(timedelta(hours=9), "JST")
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One request: body bytes, its content type, and headers of the format."""

    body: bytes
    content_type: str
    headers: Mapping[str, str]


Renderer = Callable[[WebhookEvent, Endpoint, int], "Rendered | None"]


@dataclass(frozen=True, slots=True)
class WebhookFormat:
    """A named way of sending events, with its default retry policy."""

    name: str
    render: Renderer
    policy: wh.RetryPolicy
    description: str = ""


class WebhookFormats:
    """The registry of formats one process knows (``standard`` is always there)."""

    def __init__(self, standard_policy: wh.RetryPolicy) -> None:
        self._formats: dict[str, WebhookFormat] = {}
        self.register(
            WebhookFormat(
                wh.STANDARD_FORMAT,
                render_standard,
                standard_policy,
                "Standard Webhooks: signed JSON {type, timestamp, data}",
            )
        )

    def register(self, fmt: WebhookFormat) -> None:
        """Add (or replace) a format."""
        self._formats[fmt.name] = fmt

    def get(self, name: str) -> WebhookFormat | None:
        return self._formats.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._formats))


# --- helpers for every format -----------------------------------------------------------------


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 in JST."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, JST).isoformat(timespec="milliseconds")


def form_body(fields: Mapping[str, str]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body (UTF-8)."""
    return urlencode(list(fields.items())).encode("ascii")


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic authentication (UTF-8, RFC 7617)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def message_payload(event: WebhookEvent) -> dict[str, Any]:
    """The unified view of a message event: the message with its status at the event.

    Keys: messageId, clientTag, groupTag, to, from, carrier, parts, deliveredParts,
    billableParts, status (NTT status object), error (NTT error object or null), final,
    cause, attempt, detail, createdAt, sentAt, doneAt. Status fields are those recorded with
    the event; the message fields are the stored message's.
    """
    data = event.data
    m = event.message
    st = status_catalogue.STATUSES.get(str(data.get("status", "")))
    err_code = data.get("error")
    err = status_catalogue.ERRORS.get(str(err_code)) if err_code else None
    out: dict[str, Any] = {
        "messageId": m.id if m else data.get("messageId"),
        "clientTag": m.client_tag if m else None,
        "groupTag": m.group_tag if m else None,
        "to": m.to if m else None,
        "from": m.sender_code if m else None,
        "carrier": data.get("carrier") or (m.carrier if m else None),
        "parts": m.parts if m else None,
        "deliveredParts": data.get("deliveredParts", m.delivered_parts if m else 0),
        "billableParts": data.get("billableParts", m.billable_parts if m else 0),
        "status": st.to_dict() if st else None,
        "error": err.to_dict() if err else None,
        "final": bool(data.get("final")),
        "cause": data.get("cause"),
        "attempt": data.get("attempt"),
        "detail": data.get("detail"),
        "createdAt": iso(m.created_at) if m else None,
        "sentAt": iso(m.sent_at) if m else None,
        "doneAt": iso(m.done_at) if m and data.get("final") else None,
    }
    return out


def event_payload(event: WebhookEvent) -> dict[str, Any]:
    """The ``data`` of the standard payload for any event type."""
    if event.type in (wh.MESSAGE_STATUS, wh.MESSAGE_FINAL):
        return message_payload(event)
    return dict(event.data)


def standard_body(event: WebhookEvent) -> bytes:
    """``{"type", "timestamp", "data"}``, the payload shape the Standard Webhooks spec advises."""
    payload = {"type": event.type, "timestamp": iso(event.created_at), "data": event_payload(event)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, event_id: str, now_ms: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    timestamp = datetime.fromtimestamp(now_ms // 1000, UTC)
    signature = Webhook(secret).sign(event_id, timestamp, body.decode("utf-8"))
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(now_ms // 1000),
        "webhook-signature": signature,
    }


def render_standard(event: WebhookEvent, endpoint: Endpoint, now_ms: int) -> Rendered:
    """todoke's own format: signed JSON (``webhook-id`` is the event id, same on retries)."""
    body = standard_body(event)
    return Rendered(body, JSON, sign(endpoint.secret, event.id, now_ms, body))
