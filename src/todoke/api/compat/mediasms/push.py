"""送達結果通知: the MediaSMS result push, as a pure format function for the webhook outbox.

MediaSMS POSTs one form request per result to the account's result URL, with Basic auth, and
sends every attempt's result when it retries (seeds/003: 送達結果は複数回送信される可能性が
あります). The outbox (built separately) stores events and delivers them with its retry
policy; it calls :func:`format_result` to turn one event into the request:

* :func:`result_event` builds the event payload from a message and one of its events: the
  events a MediaSMS client is told about are each attempt's failure (a requeue after a
  temporary failure), the final status, and a click on a tracked link (リダイレクト);
  :func:`wants_push` says whether a message asked for them (status=1).
* :func:`format_result` ``(payload, endpoint) -> (headers, body, content type)``: an
  ``application/x-www-form-urlencoded`` UTF-8 body with ``smsid``, ``mobilenumber``
  (domestic digits), ``status`` (label or number per the account) and ``resultdatetime``
  (``YYYYMMDDhhmmss`` JST); with 「ReturnAPI で元パラメータ維持」 every send parameter comes
  first (credentials never), the result fields override the ones of the same name.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import urlencode

from todoke.api.compat.mediasms.records import read_facade, status_of
from todoke.domain import phone
from todoke.domain import status as catalogue
from todoke.domain.carrier import Carrier
from todoke.domain.message import Message, MessageEvent
from todoke.domain.status import Cause
from todoke.domain.status_maps import MEDIASMS_REDIRECT, mediasms_view
from todoke.services.mediasms import MediaSmsProfile
from todoke.services.messages import JST

FORMAT_NAME = "mediasms"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"


class ResultEvent(TypedDict, total=False):
    """The payload the outbox keeps for one MediaSMS result (JSON-serialisable)."""

    kind: str  # "result" | "click"
    smsid: str
    to: str  # E.164
    status: str  # MediaSMS label
    code: int | None  # its number, when published
    at: int  # epoch ms of the result
    attempt: int | None
    params: dict[str, str]  # the original send parameters, when the account keeps them


@dataclass(frozen=True, slots=True)
class ResultEndpoint:
    """What the format needs of the account's result endpoint (its MediaSMS settings)."""

    url: str
    username: str | None = None
    password: str | None = None
    numeric_status: bool = False
    keep_params: bool = False

    @classmethod
    def of(cls, profile: MediaSmsProfile) -> ResultEndpoint | None:
        if not profile.result_url:
            return None
        return cls(
            url=profile.result_url,
            username=profile.result_username,
            password=profile.result_password,
            numeric_status=profile.numeric_status,
            keep_params=profile.keep_params,
        )


def wants_push(message: Message) -> bool:
    """Whether the message was sent with status=1 (and an smsid)."""
    data = read_facade(message)
    return bool(data.get("notify")) and bool(data.get("smsid"))


def _event_cause(event: MessageEvent) -> Cause | None:
    """The cause of a retried attempt: its stored error names one temporary cause (each
    temporary cause has its own NTT error, see ``domain/status.py``)."""
    for cause in Cause:
        if cause.retryable and cause.error.name == event.error_code:
            # Throttling and maintenance holds are the platform pacing itself, not a result
            # of the message (domain/status.py): nothing to tell the customer.
            return None if cause in (Cause.THROTTLED, Cause.MAINTENANCE) else cause
    return None


def result_event(message: Message, event: MessageEvent) -> ResultEvent | None:
    """The push payload of ``event``, or None when MediaSMS would not report it.

    Reported: a final status, and an attempt that failed and is retried (each attempt's
    result, as MediaSMS sends them). Not reported: acceptance and the in-flight steps.
    """
    data = read_facade(message)
    current = catalogue.STATUSES[event.status]
    carrier = Carrier(message.carrier) if message.carrier else None
    if current.final:
        view = status_of(replace(message, status=event.status))
    elif event.error_code is not None and event.attempt is not None:
        cause = _event_cause(event)
        if cause is None:
            return None
        view = mediasms_view(cause, carrier, final=True)  # this attempt's outcome
    else:
        return None
    payload: ResultEvent = {
        "kind": "result",
        "smsid": str(data.get("smsid", message.client_tag or "")),
        "to": message.to,
        "status": view.label,
        "code": view.code,
        "at": event.created_at,
        "attempt": event.attempt,
    }
    if data.get("params"):
        payload["params"] = dict(data["params"])
    return payload


def click_event(message: Message, at: int) -> ResultEvent:
    """The push payload of a click on one of the message's links: リダイレクト."""
    data = read_facade(message)
    payload: ResultEvent = {
        "kind": "click",
        "smsid": str(data.get("smsid", message.client_tag or "")),
        "to": message.to,
        "status": MEDIASMS_REDIRECT.label,
        "code": MEDIASMS_REDIRECT.code,
        "at": at,
        "attempt": None,
    }
    if data.get("params"):
        payload["params"] = dict(data["params"])
    return payload


def format_result(
    payload: Mapping[str, Any], endpoint: ResultEndpoint
) -> tuple[dict[str, str], bytes, str]:
    """The HTTP request of one result: (headers, body, content type). Pure."""
    fields: dict[str, str] = {}
    if endpoint.keep_params:
        fields.update(
            {
                str(k): str(v)
                for k, v in (payload.get("params") or {}).items()
                if k not in ("username", "password")
            }
        )
    label = str(payload.get("status", ""))
    code = payload.get("code")
    to = str(payload.get("to", ""))
    at = payload.get("at")
    fields.update(
        {
            "smsid": str(payload.get("smsid", "")),
            "mobilenumber": phone.to_domestic(to) if to.startswith("+81") else to.lstrip("+"),
            "status": str(code) if endpoint.numeric_status and code is not None else label,
            "resultdatetime": (
                datetime.fromtimestamp(int(at) / 1000, JST).strftime("%Y%m%d%H%M%S")
                if at is not None
                else ""
            ),
        }
    )
    headers = {"Content-Type": CONTENT_TYPE}
    if endpoint.username is not None and endpoint.password is not None:
        token = base64.b64encode(f"{endpoint.username}:{endpoint.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    body = urlencode(fields, encoding="utf-8").encode("ascii")
    return headers, body, CONTENT_TYPE
