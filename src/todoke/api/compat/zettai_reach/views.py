"""How a stored message looks in the 絶対リーチ! API (status items, reservations, times)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from todoke.domain import status
from todoke.domain.carrier import Carrier
from todoke.domain.message import Message
from todoke.domain.status import Cause
from todoke.domain.status_maps import ZR_DELIVERED, ZR_FAILED, ZettaiReachStatus, zettai_reach_view
from todoke.services.messages import JST

# carrierName as the document's キャリア ID table writes them.
CARRIER_NAMES = {
    Carrier.AU: "AU",
    Carrier.DOCOMO: "Docomo",
    Carrier.SOFTBANK: "Softbank",
    Carrier.RAKUTEN: "楽天モバイル",
}


def carrier_of(message: Message) -> Carrier | None:
    try:
        return Carrier(message.carrier) if message.carrier else None
    except ValueError:
        return None


def cause_of(message: Message) -> Cause | None:
    """The cause of a message, as the status view needs it (final messages always have one)."""
    if message.cause:
        try:
            return Cause(message.cause)
        except ValueError:
            pass
    if not status.is_final(message.status):
        return None
    # A final message without a stored cause: cancelled (the cancel writes none), or older rows.
    if message.status == status.CANCELLED.name:
        return Cause.CANCELLED
    if message.status_group == status.DELIVERED.group_id:
        return Cause.DELIVERED
    return Cause.DELIVERY_FAILED


def view_of(message: Message) -> ZettaiReachStatus:
    return zettai_reach_view(
        cause_of(message), carrier_of(message), final=status.is_final(message.status)
    )


def sms_code_value(code: str | None) -> int | str | None:
    """smsCode is an integer in the answers; a code with letters stays a string."""
    if code and code.isdigit():
        return int(code)
    return code


def jst(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, JST)


def status_time(ms: int) -> str:
    """``yyyyMMdd HHmmSSsss``."""
    moment = jst(ms)
    return f"{moment:%Y%m%d %H%M%S}{moment.microsecond // 1000:03d}"


def schedule_time(ms: int) -> str:
    """``yyyy-MM-dd HH:mm``."""
    return f"{jst(ms):%Y-%m-%d %H:%M}"


def status_item(message: Message) -> dict[str, Any]:
    """One element of status.json's ``status``."""
    view = view_of(message)
    carrier = carrier_of(message)
    final = view.status_id in (ZR_DELIVERED, ZR_FAILED)
    item: dict[str, Any] = {
        "dateTime": status_time(message.updated_at),
        "phoneNumber": message.to,
        "message": message.text,
        "smsCode": sms_code_value(message.sender_code),
        "carrierId": str(carrier.carrier_id) if carrier else None,
        "carrierName": CARRIER_NAMES[carrier] if carrier else "",
        "statusId": str(view.status_id),
        "detailedStatusId": view.detailed_status_id or "",
        "separatedSuccessCount": message.billable_parts if final else 0,
    }
    # "指定しなかった場合は空となります", and the schema's minLength is 1: left out.
    if message.client_tag:
        item["clientTag"] = message.client_tag
    return item


def reservation_item(message: Message) -> dict[str, Any]:
    """One element of checkreservation.json's ``status``."""
    item: dict[str, Any] = {
        "scheduleTime": schedule_time(message.schedule_at or message.created_at),
        "phoneNumber": message.to,
        "message": message.text,
        "smsCode": sms_code_value(message.sender_code),
    }
    if message.client_tag:
        item["clientTag"] = message.client_tag
    return item
