"""``status.json`` (CommonMT ステータス取得) and ``separatedsuccesscount.json`` (通数集計)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.zettai_reach.common import authenticate, ok
from todoke.api.compat.zettai_reach.params import read_params
from todoke.api.compat.zettai_reach.views import status_item
from todoke.domain.carrier import Carrier
from todoke.domain.message import MessageFilter
from todoke.services.numbers import today_jst


@route(
    "/p5/api/status.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="CommonMT ステータス取得",
    include_in_schema=False,
    opt={"zettai_defaults": {"status": []}},
)
async def status_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request)
    caller = await authenticate(request, params)
    params.require_one("clientTag", "date")
    client_tag = params.text("clientTag", max_length=203)
    day = params.day("date")
    services = services_of(request)
    if client_tag is not None:  # clientTag > date
        found = await services.messages.find(
            caller.account, MessageFilter(client_tag=client_tag, limit=1)
        )
    else:
        assert day is not None
        found = await services.message_reports.sent_on(caller.account, day)
    return ok(status=[status_item(m) for m in found])


@route(
    "/p5/api/separatedsuccesscount.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="通数集計",
    include_in_schema=False,
    opt={"zettai_defaults": {"separatedSuccessCount": []}},
)
async def separated_success_count(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request, has_too_long=False)
    caller = await authenticate(request, params, allow_all=True)
    year, month = params.month()
    services = services_of(request)
    if caller.all_clients:
        account_ids = await services.zettai.readable_accounts(caller.account)
    else:
        account_ids = [caller.account.id]
    counts = await services.message_reports.monthly_billable(
        account_ids, year, month, today=today_jst()
    )
    items: list[dict[str, Any]] = []
    for account_id in account_ids:
        per_carrier = counts.get(account_id, {})
        item: dict[str, Any] = {}
        for carrier in Carrier:
            parts = per_carrier.get(carrier.value, 0)
            if parts:  # "0 通の場合は表示されません"
                item[str(carrier.carrier_id)] = parts
        if item:
            items.append({"clientId": account_id, **item})
    return ok(separatedSuccessCount=items)
