"""Scheduled sends: ``checkreservation.json``, ``cancelreservation.json``,
``cancelreservationall.json``."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from litestar import Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.zettai_reach.codes import ALREADY_SENT_ERROR, invalid, past
from todoke.api.compat.zettai_reach.common import authenticate, echo, ok
from todoke.api.compat.zettai_reach.params import read_params
from todoke.api.compat.zettai_reach.views import jst, reservation_item
from todoke.domain import status
from todoke.domain.message import Message, MessageFilter
from todoke.services.message_reports import day_start
from todoke.services.messages import JST, now_ms, to_ms


@route(
    "/p5/api/checkreservation.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="CommonMT 予約送信確認",
    include_in_schema=False,
    opt={"zettai_defaults": {"count": 0, "status": []}},
)
async def check_reservation(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request)
    caller = await authenticate(request, params, sms_code=True)
    params.require_one("clientTag", "scheduleTime", "scheduleDate")
    client_tag = params.text("clientTag", max_length=200)
    schedule_time = params.schedule_time()
    schedule_date = params.day("scheduleDate")
    group_tag = params.text("groupTag", max_length=200)
    services = services_of(request)
    now = jst(now_ms())
    found: list[Message]
    if client_tag is not None:
        # Priority clientTag > scheduleTime > scheduleDate (the ※ notes of the document).
        tagged = await services.messages.find(
            caller.account, MessageFilter(client_tag=client_tag, limit=1)
        )
        found = [m for m in tagged if m.sender_code == caller.sms_code]
        if found and found[0].status != status.SCHEDULED.name:
            if found[0].status != status.CANCELLED.name:
                raise ALREADY_SENT_ERROR
            found = []
    elif schedule_time is not None:
        moment = schedule_time.replace(tzinfo=JST)
        if moment < now.replace(second=0, microsecond=0):
            raise past("scheduleTime")
        start = to_ms(moment)
        found = await services.message_reports.scheduled(
            caller.account,
            sender_code=caller.sms_code,
            group_tag=group_tag,
            schedule_from=start,
            schedule_to=start + 60_000,
        )
    else:
        assert schedule_date is not None
        if schedule_date < now.date():
            raise past("scheduleDate")
        found = await services.message_reports.scheduled(
            caller.account,
            sender_code=caller.sms_code,
            group_tag=group_tag,
            schedule_from=day_start(schedule_date),
            schedule_to=day_start(schedule_date + timedelta(days=1)),
        )
    return ok(count=len(found), status=[reservation_item(m) for m in found])


@route(
    "/p5/api/cancelreservation.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="CommonMT 予約送信キャンセル",
    include_in_schema=False,
    opt={"zettai_defaults": {}},
)
async def cancel_reservation(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request)
    caller = await authenticate(request, params, strict_client_id=True)
    client_tag = params.text("clientTag", max_length=200, required_=True)
    assert client_tag is not None
    echo(request, clientTag=client_tag)
    messages = services_of(request).messages
    found = await messages.find(caller.account, MessageFilter(client_tag=client_tag, limit=1))
    if not found:
        raise invalid("clientTag")
    message = found[0]
    if message.status != status.CANCELLED.name:  # cancelling twice succeeds twice
        if message.schedule_at is None or not status.is_cancellable(message.status):
            raise ALREADY_SENT_ERROR
        await messages.cancel(caller.account, message.id)  # NotCancellable -> 130 on a race
    return ok(clientTag=client_tag)


@route(
    "/p5/api/cancelreservationall.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="CommonMT 予約送信一括キャンセル",
    include_in_schema=False,
    opt={"zettai_defaults": {}},
)
async def cancel_reservation_all(request: Request[Any, Any, Any]) -> Response[bytes]:
    # The table has no 120 row: an over-long groupTag is 110.
    params = await read_params(request, has_too_long=False)
    caller = await authenticate(request, params)
    start = params.day("startDate")
    end = params.day("endDate")
    group_tag = params.text("groupTag", max_length=200)
    if start is not None and end is not None and end < start:
        raise invalid("endDate")
    # (※1): each given criterion narrows; none given cancels every reservation. endDate
    # includes its whole day.
    await services_of(request).messages.cancel_scheduled(
        caller.account,
        group_tag=group_tag,
        schedule_from=datetime.combine(start, time(), JST) if start else None,
        schedule_to=datetime.combine(end + timedelta(days=1), time(), JST) if end else None,
    )
    return ok()
