"""``POST /p5/api/mt.json``: CommonMT 送信, through the same MessageService as ``/v1``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.zettai_reach.common import authenticate, echo, ok
from todoke.api.compat.zettai_reach.params import read_params
from todoke.domain.carrier import Carrier
from todoke.services.messages import SendRequest

MAX_MESSAGE = 660  # characters, full- and half-width alike (seeds/002)
CARRIER_IDS = ("101", "103", "105", "106")


@route(
    "/p5/api/mt.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="CommonMT 送信",
    include_in_schema=False,
    opt={"zettai_defaults": {}},
)
async def mt(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request)
    caller = await authenticate(request, params, sms_code=True)
    message = params.text("message", max_length=MAX_MESSAGE, required_=True)
    echo(request, smsMessage=message)
    phone = params.phone()
    echo(request, phoneNumber=phone)
    carrier_id = params.choice("carrierId", CARRIER_IDS)
    client_tag = params.text("clientTag", max_length=200)
    schedule_at = params.schedule_time()
    group_tag = params.text("groupTag", max_length=200)
    assert message is not None
    send = SendRequest(
        to=phone,
        text=message,
        sender_code=caller.sms_code,
        client_tag=client_tag,
        group_tag=group_tag,
        schedule_at=schedule_at,  # naive: JST
        carrier=Carrier.from_id(carrier_id) if carrier_id else None,
        max_characters=MAX_MESSAGE,
    )
    results = await services_of(request).messages.send(caller.account, [send])
    assert isinstance(results, list)
    first = results[0]
    if isinstance(first, Exception):
        raise first
    return ok(phoneNumber=first.to, smsMessage=first.text)
