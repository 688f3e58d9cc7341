"""The compatible APIs' pushes, delivered by the webhook outbox.

Mechanism: one webhook endpoint per account and push, kept in step with the façade's
account settings (:class:`PushEndpoints`, called by ``todoke zettai settings --dlr-url`` and
``todoke mediasms settings --result-url`` through the settings services' ``on_change``). The
outbox then needs no special rule: every status change already fans out, in the transaction
of the change, to the account's endpoints (``store/outbox.py``); the endpoint's *format*
decides what each event becomes, and skips (records ``skipped``, no request) the events its
API does not report. The endpoints are ordinary ones: ``todoke webhooks list|deliveries|
replay`` show and replay them, failures flag them like any other.

* ``zettai_reach_dlr``: DLR 通知(Common). Subscribed to ``message.final``; a final status of
  a message sent with a clientTag becomes the ``eventNotifications`` document, ``json=`` or
  ``xml=`` per the endpoint's ``dlr_format`` option; 2xx within 10 s, else 3 retries.
* ``mediasms``: 送達結果通知. Subscribed to ``message.status``, ``message.final`` and
  ``link.clicked``; for a message sent with status=1: each attempt that failed and is retried,
  the final status and each click (リダイレクト), one form POST each, in order (the outbox
  orders a message's events per endpoint). Basic auth is the endpoint's (the worker adds it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

import structlog

from todoke.api.compat.mediasms import push as mediasms_push
from todoke.api.compat.zettai_reach.dlr import (
    DLR_RETRIES,
    DLR_TIMEOUT_SECONDS,
    dlr_notification,
    format_dlr,
    should_push,
)
from todoke.domain import status as catalogue
from todoke.domain import webhooks as wh
from todoke.domain.message import Message, MessageEvent
from todoke.services.mediasms import MediaSmsProfile
from todoke.services.webhook_formats import Rendered, WebhookFormat, WebhookFormats
from todoke.services.webhook_types import Endpoint, EndpointSpec, WebhookEvent
from todoke.services.webhooks import WebhookService
from todoke.services.zettai_settings import ZettaiSettings

log = structlog.get_logger(__name__)

ZETTAI_FORMAT: Final = "zettai_reach_dlr"
MEDIASMS_FORMAT: Final = mediasms_push.FORMAT_NAME
ZETTAI_EVENTS: Final = (wh.MESSAGE_FINAL,)
MEDIASMS_EVENTS: Final = (wh.MESSAGE_STATUS, wh.MESSAGE_FINAL, wh.LINK_CLICKED)


def _at_event(event: WebhookEvent) -> Message | None:
    """The stored message with the status fields recorded with the event."""
    m = event.message
    if m is None:
        return None
    data = event.data
    name = str(data.get("status", m.status))
    st = catalogue.STATUSES.get(name)
    if st is None:
        return None
    return replace(
        m,
        status=name,
        status_group=st.group_id,
        error_code=data.get("error", m.error_code),
        cause=data.get("cause", m.cause),
        delivered_parts=int(data.get("deliveredParts", m.delivered_parts)),
        billable_parts=int(data.get("billableParts", m.billable_parts)),
    )


def _rendered(parts: tuple[dict[str, str], bytes, str]) -> Rendered:
    headers, body, content_type = parts
    extra = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "authorization")}
    return Rendered(body, content_type, extra)


def render_dlr(event: WebhookEvent, endpoint: Endpoint, now_ms: int) -> Rendered | None:
    """DLR 通知(Common) of a final status; None (skipped) for anything not reported."""
    if event.type != wh.MESSAGE_FINAL:
        return None
    message = _at_event(event)
    if message is None or not should_push(message, endpoint.url):
        return None
    item = dlr_notification(message, at=event.created_at)
    fmt = str(endpoint.options.get("dlr_format", "json"))
    return _rendered(format_dlr({"eventNotifications": [item]}, {"dlr_format": fmt}))


def _result_endpoint(endpoint: Endpoint) -> mediasms_push.ResultEndpoint:
    # Basic auth is added by the worker from the endpoint's own credentials.
    return mediasms_push.ResultEndpoint(
        url=endpoint.url,
        numeric_status=bool(endpoint.options.get("numeric_status")),
        keep_params=bool(endpoint.options.get("keep_params")),
    )


def render_result(event: WebhookEvent, endpoint: Endpoint, now_ms: int) -> Rendered | None:
    """送達結果通知 of one attempt result, final status or click; None when not reported."""
    m = event.message
    if m is None or not mediasms_push.wants_push(m):
        return None
    payload: Any
    if event.type == wh.LINK_CLICKED:
        payload = mediasms_push.click_event(m, event.created_at)
    elif event.type in (wh.MESSAGE_STATUS, wh.MESSAGE_FINAL):
        name = str(event.data.get("status", ""))
        st = catalogue.STATUSES.get(name)
        if st is None:
            return None
        attempt = event.data.get("attempt")
        history = MessageEvent(
            id=0,
            message_id=m.id,
            status=name,
            status_group=st.group_id,
            created_at=event.created_at,
            error_code=event.data.get("error"),
            attempt=int(attempt) if attempt is not None else None,
        )
        current = _at_event(event) or m
        payload = mediasms_push.result_event(current, history)
    else:
        return None
    if payload is None:
        return None
    return _rendered(mediasms_push.format_result(payload, _result_endpoint(endpoint)))


def register_push_formats(formats: WebhookFormats, standard: wh.RetryPolicy) -> None:
    """Register both formats (every process that delivers webhooks must know them)."""
    formats.register(
        WebhookFormat(
            ZETTAI_FORMAT,
            render_dlr,
            wh.RetryPolicy(
                max_attempts=1 + DLR_RETRIES,
                max_age_ms=None,
                timeout_ms=int(DLR_TIMEOUT_SECONDS * 1000),
                base_ms=standard.base_ms,
                cap_ms=standard.cap_ms,
            ),
            "絶対リーチ! DLR 通知(Common): json= or xml= form field, 3 retries, 10 s",
        )
    )
    formats.register(
        WebhookFormat(
            MEDIASMS_FORMAT,
            render_result,
            standard,
            "MediaSMS 送達結果通知: one form POST per result, Basic auth",
        )
    )


class PushEndpoints:
    """Keeps each account's push endpoint in step with its façade settings."""

    def __init__(self, webhooks: WebhookService) -> None:
        self._webhooks = webhooks

    async def zettai(self, settings: ZettaiSettings) -> Endpoint | None:
        """The DLR endpoint of ``settings`` (created, updated, or removed when no URL)."""
        return await self._sync(
            settings.account_id,
            ZETTAI_FORMAT,
            settings.dlr_url,
            EndpointSpec(
                url=settings.dlr_url,
                events=ZETTAI_EVENTS,
                format=ZETTAI_FORMAT,
                options={"dlr_format": settings.dlr_format},
                description="絶対リーチ! DLR 通知(Common)",
                clear_basic_auth=True,
            ),
        )

    async def mediasms(self, profile: MediaSmsProfile) -> Endpoint | None:
        """The result endpoint of ``profile`` (created, updated, or removed when no URL)."""
        user, password = profile.result_username, profile.result_password
        basic = user is not None and password is not None
        return await self._sync(
            profile.account_id,
            MEDIASMS_FORMAT,
            profile.result_url,
            EndpointSpec(
                url=profile.result_url,
                events=MEDIASMS_EVENTS,
                format=MEDIASMS_FORMAT,
                basic_user=user if basic else None,
                basic_password=password if basic else None,
                options={
                    "numeric_status": profile.numeric_status,
                    "keep_params": profile.keep_params,
                },
                description="MediaSMS 送達結果通知",
                clear_basic_auth=not basic,
            ),
        )

    # The URLs are the operator's (CLI): form and literal addresses are checked here, the
    # host's addresses at each delivery (resolved and pinned by the worker's guard).
    async def _sync(
        self, account_id: int, fmt: str, url: str | None, spec: EndpointSpec
    ) -> Endpoint | None:
        mine = [ep for ep in await self._webhooks.endpoints(account_id) if ep.format == fmt]
        if url is None:
            for ep in mine:
                await self._webhooks.delete(account_id, ep.id)
            return None
        for extra in mine[1:]:
            await self._webhooks.delete(account_id, extra.id)
        if mine:
            endpoint = await self._webhooks.update(account_id, mine[0].id, spec, check_dns=False)
        else:
            endpoint = await self._webhooks.create(
                account_id,
                url,
                events=spec.events,
                format=fmt,
                basic_user=spec.basic_user,
                basic_password=spec.basic_password,
                options=spec.options,
                description=spec.description,
                check_dns=False,
            )
        log.info("compat.push_endpoint", account=account_id, format=fmt, endpoint=endpoint.id)
        return endpoint
