"""What the MediaSMS façade keeps with a message, and a message's MediaSMS status.

``facade_data`` (``messages.facade_data``) is a small JSON object written in the accept
transaction, so a message and its MediaSMS details are stored together or not at all:
``notify`` (status=1), ``smsid``, ``titles`` (smstitle and the carrier titles), ``params``
(the send parameters, when the account keeps them for the result push), ``info`` (a CSV
row's columns 2-6) and ``textId``.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from todoke.domain import status as catalogue
from todoke.domain.carrier import Carrier
from todoke.domain.message import Message
from todoke.domain.status import Cause
from todoke.domain.status_maps import (
    MEDIASMS_REDIRECT,
    MediaSmsStatus,
    mediasms_pending_view,
    mediasms_view,
)


def facade_data(
    notify: bool,
    *,
    smsid: str | None,
    titles: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    info: list[str] | None = None,
    text_id: int | None = None,
) -> str | None:
    """The JSON kept with a message (None when there is nothing to keep)."""
    data: dict[str, Any] = {}
    if notify:
        data["notify"] = True
    if smsid:
        data["smsid"] = smsid
    if titles:
        data["titles"] = titles
    if params:
        data["params"] = params
    if info and any(info):
        data["info"] = info
    if text_id is not None:
        data["textId"] = text_id
    if not data:
        return None
    return msgspec.json.encode({"api": "mediasms", **data}).decode()


def read_facade(message: Message) -> dict[str, Any]:
    """The message's MediaSMS data ({} for a message sent another way)."""
    if not message.facade_data:
        return {}
    try:
        data = json.loads(message.facade_data)
    except ValueError:
        return {}
    return data if isinstance(data, dict) and data.get("api") == "mediasms" else {}


def cause_of(message: Message) -> Cause:
    """The cause of a final message (a cancelled one may have none stored)."""
    if message.cause:
        try:
            return Cause(message.cause)
        except ValueError:
            pass
    if message.status == catalogue.CANCELLED.name:
        return Cause.CANCELLED
    if message.status == catalogue.DELIVERED.name:
        return Cause.DELIVERED
    return Cause.UNKNOWN


def carrier_of(message: Message) -> Carrier | None:
    try:
        return Carrier(message.carrier) if message.carrier else None
    except ValueError:
        return None


def status_of(message: Message, *, clicked: bool = False) -> MediaSmsStatus:
    """The MediaSMS status: 送信前/送信中/処理中 while pending, the final one after.

    A message whose tracked link was clicked after it left is リダイレクト, whatever its
    receipt said or has not said yet: the recipient opened it, and the link service made it
    billable (``billable_parts``), so the status and the 課金通数 agree. A click that bills
    nothing (before the message left; a docomo 一部受信 receipt after the click) leaves the
    status as it is.
    """
    if clicked and message.billable_parts > 0:
        return MEDIASMS_REDIRECT
    current = catalogue.STATUSES[message.status]
    if not current.final:
        return mediasms_pending_view(current)
    return mediasms_view(cause_of(message), carrier_of(message), final=True)


def status_value(view: MediaSmsStatus, *, numeric: bool) -> str:
    """The label, or its number (数値化) where the provider published one; a label without
    a published number is sent as the label even in numeric mode."""
    if numeric and view.code is not None:
        return str(view.code)
    return view.label
