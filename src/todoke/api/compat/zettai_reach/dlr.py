"""DLR 通知(Common): the delivery report pushed to a customer's server.

Pure functions, no I/O: :func:`dlr_payload` builds the ``eventNotifications`` document of a
message's final status; :func:`format_dlr` encodes it as the request body, ``json=…`` or
``xml=…`` (URL-encoded, ``application/x-www-form-urlencoded``), as the document's callback
says. The webhook outbox delivers it with :data:`DLR_TIMEOUT_SECONDS` and
:data:`DLR_RETRIES` ("2xx within 10 seconds, otherwise 3 retries").

A push is made only when the account has a DLR URL and the message had a clientTag
("clientTag を指定しなかった場合は DLR 通知を受信できません"): :func:`should_push`.

The document gives the JSON schema only; the XML form mirrors it element for element under an
``<eventNotifications>`` root, one ``<eventNotification>`` per item (docs/compat/zettai-reach.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

from todoke.api.compat.zettai_reach.views import CARRIER_NAMES, carrier_of, jst, view_of
from todoke.domain import status
from todoke.domain.message import Message
from todoke.domain.status_maps import ZR_DELIVERED

DLR_TIMEOUT_SECONDS = 10.0
DLR_RETRIES = 3
DLR_FORMATS = ("json", "xml")
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}


def message_id_32(message_id: str) -> str:
    """The 32-character messageId of the callback: todoke's 26-character id (128 bits in
    Crockford base32) as 32 hex digits. Reversible, and stable for one message."""
    value = 0
    for char in message_id.upper():
        value = value * 32 + _VALUE.get(char, 0)
    return f"{value & ((1 << 128) - 1):032x}"


def should_push(message: Message, dlr_url: str | None) -> bool:
    """Whether a final status of ``message`` is pushed to ``dlr_url``."""
    return (
        bool(dlr_url)
        and bool(message.client_tag)
        and status.is_final(message.status)
        and message.status != status.CANCELLED.name  # cancelled by the customer: nothing to report
    )


def dlr_notification(message: Message, *, at: int | None = None) -> dict[str, Any]:
    """One ``eventNotifications`` item for a message; ``at`` is when the status was obtained
    (default: the message's last update)."""
    view = view_of(message)
    carrier = carrier_of(message)
    item: dict[str, Any] = {
        "type": "DLR",
        "dateTime": f"{jst(at if at is not None else message.updated_at):%Y/%m/%d %H:%M:%S}",
        "messageId": message_id_32(message.id),
        "phoneNumber": message.to,
        "smsCode": message.sender_code or "",
        "carrierId": str(carrier.carrier_id) if carrier else None,
        "carrierName": CARRIER_NAMES[carrier] if carrier else "",
        "messageText": message.text,
        "clientId": str(message.account_id),
        "clientTag": message.client_tag or "",
        "statusId": str(view.status_id),
        "statusDescription": view.status_description,
    }
    if view.detailed_status_id is not None:
        item["detailedStatusId"] = int(view.detailed_status_id)
    if view.status_id == ZR_DELIVERED:  # "statusId が 2 の場合のみ有効値が出力されます"
        item["separatedSuccessCount"] = message.billable_parts
    return item


def dlr_payload(messages: Sequence[Message]) -> dict[str, Any]:
    """The whole callback document for one or more messages."""
    return {"eventNotifications": [dlr_notification(m) for m in messages]}


def dlr_xml(payload: Mapping[str, Any]) -> str:
    """The XML form of a callback document."""
    root = ElementTree.Element("eventNotifications")
    for item in payload.get("eventNotifications", []):
        node = ElementTree.SubElement(root, "eventNotification")
        for key, value in item.items():
            child = ElementTree.SubElement(node, key)
            if value is not None:
                child.text = str(value)
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>' + body


def encode_dlr(payload: Mapping[str, Any], fmt: str) -> tuple[dict[str, str], bytes, str]:
    """(headers, body, content type) of the push: ``json=…`` or ``xml=…``."""
    if fmt not in DLR_FORMATS:
        raise ValueError(f"unknown DLR format {fmt!r}")
    if fmt == "json":
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    else:
        text = dlr_xml(payload)
    body = urlencode({fmt: text}, encoding="utf-8").encode("ascii")
    return {"Content-Type": CONTENT_TYPE}, body, CONTENT_TYPE


def dlr_event(message: Message, settings: Any) -> tuple[str, str, dict[str, Any]] | None:
    """What to enqueue when ``message`` changes: (URL, format, payload), or None when no push
    is due. ``settings`` is the account's :class:`~todoke.services.zettai_settings.ZettaiSettings`.
    """
    url = getattr(settings, "dlr_url", None)
    if not should_push(message, url):
        return None
    return str(url), str(getattr(settings, "dlr_format", "json")), dlr_payload([message])


def _format_of(endpoint: Any) -> str:
    if isinstance(endpoint, Mapping):
        value = endpoint.get("dlr_format") or endpoint.get("format")
    else:
        value = getattr(endpoint, "dlr_format", None) or getattr(endpoint, "format", None)
    text = str(value or "json").lower()
    return "xml" if text.endswith("xml") else "json"


def format_dlr(event: Mapping[str, Any], endpoint: Any) -> tuple[dict[str, str], bytes, str]:
    """The outbox's format function: ``(event payload, endpoint) -> (headers, body, type)``.

    ``event`` is the document of :func:`dlr_payload` (or one item of it); the endpoint says
    ``json`` or ``xml`` in ``dlr_format`` (or ``format``; a value ending in ``xml`` means
    XML), as a mapping key or an attribute.
    """
    payload = event if "eventNotifications" in event else {"eventNotifications": [dict(event)]}
    return encode_dlr(payload, _format_of(endpoint))
