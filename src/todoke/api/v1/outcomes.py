"""``/v1/webhooks``, ``/v1/inbound``, ``/v1/usage`` and ``/v1/reports/messages.csv``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from todoke.api.auth import AccountDep, services_of
from todoke.api.v1 import outcome_schemas as o
from todoke.domain import phone
from todoke.domain.inbound import InboundFilter
from todoke.errors import InvalidInput, ServiceUnavailable
from todoke.services.inbound import InboundService
from todoke.services.reports import (
    ReportService,
    parse_day,
    parse_moment,
    parse_month,
)
from todoke.services.webhook_types import EndpointSpec
from todoke.services.webhooks import WebhookService


def _webhooks(request: Request[Any, Any, Any]) -> WebhookService:
    service = services_of(request).webhooks
    if service is None:  # pragma: no cover - app.py always builds it
        raise ServiceUnavailable("webhooks are not available")
    return service


def _inbound(request: Request[Any, Any, Any]) -> InboundService:
    service = services_of(request).inbound
    if service is None:  # pragma: no cover
        raise ServiceUnavailable("inbound messages are not available")
    return service


def _reports(request: Request[Any, Any, Any]) -> ReportService:
    service = services_of(request).reports
    if service is None:  # pragma: no cover
        raise ServiceUnavailable("reports are not available")
    return service


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/",
        status_code=201,
        summary="Add a webhook endpoint",
        description="Answers with the endpoint's `id` and its signing `secret` (`whsec_…`, "
        "shown here and on `GET /v1/webhooks/{id}` only). Requests are signed per the "
        "Standard Webhooks spec.",
    )
    async def create(
        self, request: Request[Any, Any, Any], account: AccountDep, data: JSONBody[o.EndpointIn]
    ) -> o.EndpointOut:
        endpoint = await _webhooks(request).create(
            account.id,
            data.url,
            events=data.events,
            basic_user=data.basic_auth.username if data.basic_auth else None,
            basic_password=data.basic_auth.password if data.basic_auth else None,
            description=data.description,
        )
        return o.endpoint_out(endpoint, with_secret=True)

    @get("/", summary="List the account's webhook endpoints")
    async def list_endpoints(
        self, request: Request[Any, Any, Any], account: AccountDep
    ) -> o.EndpointListOut:
        found = await _webhooks(request).endpoints(account.id)
        return o.EndpointListOut(endpoints=[o.endpoint_out(e) for e in found])

    @get("/{endpoint_id:str}", summary="One webhook endpoint, with its signing secret")
    async def get_endpoint(
        self, request: Request[Any, Any, Any], account: AccountDep, endpoint_id: FromPath[str]
    ) -> o.EndpointOut:
        endpoint = await _webhooks(request).get(account.id, endpoint_id)
        return o.endpoint_out(endpoint, with_secret=True)

    @patch("/{endpoint_id:str}", summary="Change a webhook endpoint")
    async def update(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        endpoint_id: FromPath[str],
        data: JSONBody[o.EndpointPatch],
    ) -> o.EndpointOut:
        auth = data.basic_auth
        spec = EndpointSpec(
            url=data.url,
            events=tuple(data.events) if data.events is not None else None,
            basic_user=auth.username if isinstance(auth, o.BasicAuthIn) else None,
            basic_password=auth.password if isinstance(auth, o.BasicAuthIn) else None,
            clear_basic_auth=auth is None,
            description=data.description,
            enabled=data.enabled,
        )
        endpoint = await _webhooks(request).update(account.id, endpoint_id, spec)
        return o.endpoint_out(endpoint)

    @delete("/{endpoint_id:str}", status_code=204, summary="Remove a webhook endpoint")
    async def remove(
        self, request: Request[Any, Any, Any], account: AccountDep, endpoint_id: FromPath[str]
    ) -> None:
        await _webhooks(request).delete(account.id, endpoint_id)

    @post(
        "/{endpoint_id:str}/replay",
        status_code=202,
        summary="Send the endpoint's dead-lettered events again",
    )
    async def replay(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        endpoint_id: FromPath[str],
    ) -> o.ReplayOut:
        raw = await request.body()
        data = o.ReplayIn()
        if raw.strip():
            try:
                data = msgspec.json.decode(raw, type=o.ReplayIn)
            except msgspec.ValidationError as exc:
                raise InvalidInput(str(exc), field="body") from None
            except msgspec.DecodeError:
                raise InvalidInput("the body is not valid JSON", field="body") from None
        count = await _webhooks(request).replay(
            account.id,
            endpoint_id,
            since=parse_moment(data.since, "since", end=False) if data.since else None,
            until=parse_moment(data.until, "until", end=True) if data.until else None,
        )
        return o.ReplayOut(replayed=count)

    @get("/{endpoint_id:str}/deliveries", summary="The endpoint's deliveries, newest first")
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        endpoint_id: FromPath[str],
        state_: Annotated[str | None, QueryParameter(name="state", max_length=16)] = None,
        cursor: Annotated[int | None, QueryParameter(name="cursor", ge=1)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    ) -> o.DeliveryListOut:
        found = await _webhooks(request).deliveries(
            account.id, endpoint_id, state=state_, before_id=cursor, limit=limit
        )
        next_cursor = found[-1].id if len(found) == limit else None
        return o.DeliveryListOut(
            deliveries=[o.delivery_out(d) for d in found], next_cursor=next_cursor
        )


class InboundController(Controller):
    path = "/v1/inbound"
    tags = ["inbound"]

    @get("/", summary="Inbound messages (replies), newest first")
    async def list_inbound(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
        to: Annotated[str | None, QueryParameter(name="to", max_length=20)] = None,
        received_from: Annotated[str | None, QueryParameter(name="receivedFrom")] = None,
        received_to: Annotated[str | None, QueryParameter(name="receivedTo")] = None,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=32)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    ) -> o.InboundListOut:
        flt = InboundFilter(
            from_number=phone.normalize(from_) if from_ else None,
            to_code=to,
            received_from=parse_moment(received_from, "receivedFrom", end=False)
            if received_from
            else None,
            received_to=parse_moment(received_to, "receivedTo", end=True) if received_to else None,
            before_id=cursor,
            limit=limit,
        )
        found = await _inbound(request).find(account, flt)
        next_cursor = found[-1].id if len(found) == limit else None
        return o.InboundListOut(inbound=[o.inbound_out(m) for m in found], next_cursor=next_cursor)

    @get("/{inbound_id:str}", summary="One inbound message")
    async def get_inbound(
        self, request: Request[Any, Any, Any], account: AccountDep, inbound_id: FromPath[str]
    ) -> o.InboundOut:
        return o.inbound_out(await _inbound(request).get(account, inbound_id))


class ReportsController(Controller):
    path = "/v1"
    tags = ["reports"]

    @get(
        "/usage",
        summary="Usage counts of a month (per day and carrier) or of one day",
        description="`month=YYYYMM`, or `date=YYYYMMDD` for one day. A period whose receipts "
        'may still arrive says `"state": "unready"`. Agency viewers may pass `clientId`.',
    )
    async def usage(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        month: Annotated[str | None, QueryParameter(name="month", max_length=7)] = None,
        date: Annotated[str | None, QueryParameter(name="date", max_length=10)] = None,
        client_id: Annotated[int | None, QueryParameter(name="clientId", ge=1)] = None,
    ) -> Response[bytes]:
        reports = _reports(request)
        target = reports.target_account(account.id, account.may_read_all, client_id)
        if (month is None) == (date is None):
            raise InvalidInput("give month=YYYYMM or date=YYYYMMDD", field="month")
        if month is not None:
            period = await reports.month(target, parse_month(month))
            body = msgspec.json.encode(o.month_out(period, target))
        else:
            day = await reports.day(target, parse_day(date or ""))
            out = o.day_out(day)
            body = msgspec.json.encode({"clientId": target, **msgspec.to_builtins(out)})
        return Response(body, media_type="application/json")

    @get(
        "/reports/messages.csv",
        summary="Results of a period as CSV (streamed)",
        description="One row per message created in [from, to): `from`/`to` are dates "
        "(YYYY-MM-DD; `to` inclusive) or ISO 8601 times (JST without an offset; `to` "
        "exclusive). `encoding`: utf-8 (default), utf-8-bom or shift_jis (cp932, as Excel "
        "reads it).",
        media_type="text/csv",
    )
    async def messages_csv(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        from_: Annotated[str, QueryParameter(name="from", max_length=40)],
        to: Annotated[str, QueryParameter(name="to", max_length=40)],
        encoding: Annotated[str, QueryParameter(name="encoding", max_length=16)] = "utf-8",
        group_tag: Annotated[str | None, QueryParameter(name="groupTag", max_length=200)] = None,
        status_group: Annotated[int | None, QueryParameter(name="statusGroup", ge=1, le=5)] = None,
    ) -> Stream:
        chunks = await _reports(request).export_csv(
            account.id,
            start=parse_moment(from_, "from", end=False),
            end=parse_moment(to, "to", end=True),
            encoding=encoding,
            group_tag=group_tag,
            status_group=status_group,
        )
        return Stream(
            chunks,
            media_type="text/csv",
            encoding="Shift_JIS" if encoding == "shift_jis" else "utf-8",
            headers={"Content-Disposition": 'attachment; filename="messages.csv"'},
        )


OUTCOME_HANDLERS = [WebhooksController, InboundController, ReportsController]
