"""送達結果取得: a result by smsid (個別方式, ``/api5/``) and the results of a period as CSV
(CSV 形式, ``/api5/csv/``); and ``/cancelapi/``.

``/api5/?smsid=…`` answers two lines, ``200`` and the status (label, or number when the
account asked for numbers), as MediaSMS client libraries read it. Errors are the code alone:
574 (smsid missing or malformed), 514 (no message with that smsid).

``/api5/csv/?startdatetime=YYYYMMDDhhmm&enddatetime=YYYYMMDDhhmm[&encode=shiftjis]`` streams
one row per message accepted in [start, end) (JST, at most 31 days), in the common CSV format
of the CSV send with the result columns after it; domestic numbers with hyphens. Memory stays
at one page of messages whatever the period holds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from litestar import Request, Response, route
from litestar.response import Stream

from todoke.api.auth import services_of
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.edge import (
    answer,
    authenticate,
    error_answer,
    mediasms_of,
    read_params,
    url_too_long,
)
from todoke.api.compat.mediasms.params import given, parse_datetime, parse_smsid
from todoke.api.compat.mediasms.records import carrier_of, read_facade, status_of, status_value
from todoke.api.compat.mediasms.send import ALL_METHODS
from todoke.domain import phone
from todoke.domain.message import Message, MessageFilter
from todoke.errors import InvalidInput, NotCancellable, NotFound
from todoke.services.mediasms import MediaSmsLogin
from todoke.services.messages import JST, to_ms

MAX_PERIOD_DAYS = 31
CSV_HEADER = [
    "携帯番号", "info1", "info2", "info3", "info4", "memo", "クリック数", "テキストID",
    "SMSタイトル", "SMS本文", "smsid", "送信日時", "ステータス", "キャリア", "通数",
    "課金通数", "受付日時",
]  # fmt: skip
_ENCODINGS = {"utf8": "utf-8", "utf-8": "utf-8", "shiftjis": "cp932", "sjis": "cp932"}


async def _by_smsid(request: Request[Any, Any, Any], login: MediaSmsLogin, smsid: str) -> Message:
    found = await services_of(request).messages.find(
        login.account, MessageFilter(client_tag=smsid, limit=1)
    )
    if not found:
        raise NotFound(f"no message with smsid {smsid}")
    return found[0]


async def _guard(request: Request[Any, Any, Any]) -> tuple[dict[str, str], MediaSmsLogin] | int:
    if url_too_long(request):
        return codes.URL_TOO_LONG
    if request.method not in ("GET", "POST"):
        return codes.METHOD
    params = await read_params(request)
    return params.values, await authenticate(request, params.values)


@route(
    "/api5/",
    http_method=ALL_METHODS,
    name="mediasms_result",
    include_in_schema=False,
    status_code=200,
)
async def result_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    """送達結果取得個別方式: the status of the message sent with ``smsid``."""
    try:
        guarded = await _guard(request)
        if isinstance(guarded, int):
            return answer(guarded, request)
        values, login = guarded
        smsid = parse_smsid(given(values, "smsid"), required=True)
        assert smsid is not None
        message = await _by_smsid(request, login, smsid)
        clicked = await services_of(request).links.clicks_by_message(login.account, [message.id])
        view = status_of(message, clicked=bool(clicked.get(message.id)))
        value = status_value(view, numeric=login.profile.numeric_status)
        return answer(codes.OK, request, lines=[value])
    except Exception as exc:
        return error_answer(request, exc)


@route(
    "/cancelapi/",
    http_method=ALL_METHODS,
    name="mediasms_cancel",
    include_in_schema=False,
    status_code=200,
)
async def cancel_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    """キャンセル API: cancel the message sent with ``smsid`` while it has not left.

    200 cancelled; 574 smsid missing or malformed; 514 no such message; 550 already handed
    to a carrier (or final).
    """
    try:
        guarded = await _guard(request)
        if isinstance(guarded, int):
            return answer(guarded, request)
        values, login = guarded
        smsid = parse_smsid(given(values, "smsid"), required=True)
        assert smsid is not None
        message = await _by_smsid(request, login, smsid)
        try:
            await services_of(request).messages.cancel(login.account, message.id)
        except NotCancellable:
            return answer(codes.FAILURE, request)
        return answer(codes.OK, request)
    except Exception as exc:
        return error_answer(request, exc)


def _period(values: dict[str, str]) -> tuple[datetime, datetime, str]:
    start = parse_datetime(given(values, "startdatetime"), "startdatetime")
    end = parse_datetime(given(values, "enddatetime"), "enddatetime")
    if start is None:
        raise InvalidInput("startdatetime is required", field="startdatetime")
    if end is None:
        raise InvalidInput("enddatetime is required", field="enddatetime")
    if (
        end <= start
        or (end - start).days > MAX_PERIOD_DAYS
        or ((end - start).days == MAX_PERIOD_DAYS and (end - start).seconds > 0)
    ):
        raise InvalidInput(
            f"the period must end after it starts and last at most {MAX_PERIOD_DAYS} days",
            field="enddatetime",
        )
    encode = (given(values, "encode") or "utf8").lower()
    if encode not in _ENCODINGS:
        raise InvalidInput("encode must be utf8 or shiftjis", field="encode")
    return start, end, _ENCODINGS[encode]


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, JST).strftime("%Y/%m/%d %H:%M:%S")


def _number(e164: str) -> str:
    """Domestic numbers with hyphens; a foreign number (not +81) without, as digits."""
    if e164.startswith("+81"):
        return phone.format_hyphenated(e164)
    return e164.lstrip("+")


def result_row(message: Message, *, numeric: bool, clicks: int = 0) -> list[str]:
    """One row of the result CSV (the columns of ``CSV_HEADER``)."""
    data = read_facade(message)
    info = [str(v) for v in data.get("info", [])][:5]
    info += [""] * (5 - len(info))
    titles = data.get("titles") or {}
    carrier = carrier_of(message)
    view = status_of(message, clicked=clicks > 0)
    return [
        _number(message.to),
        *info,
        str(clicks),
        str(data.get("textId", "")),
        str(titles.get("smstitle", "")),
        message.text,
        message.client_tag or "",
        _when(message.sent_at),
        status_value(view, numeric=numeric),
        carrier.display_name if carrier else "",
        str(message.parts),
        str(message.billable_parts),
        _when(message.created_at),
    ]


def _encode(rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding, errors="replace")


async def _csv_stream(
    request: Request[Any, Any, Any], login: MediaSmsLogin, start: int, end: int, encoding: str
) -> AsyncIterator[bytes]:
    yield _encode([CSV_HEADER], encoding)
    links = services_of(request).links
    pages = mediasms_of(request).messages_between(login.account.id, start, end)
    async for page in pages:
        clicks = await links.clicks_by_message(login.account, [m.id for m in page])
        yield _encode(
            [
                result_row(m, numeric=login.profile.numeric_status, clicks=clicks.get(m.id, 0))
                for m in page
            ],
            encoding,
        )


@route(
    "/api5/csv/",
    http_method=ALL_METHODS,
    name="mediasms_result_csv",
    include_in_schema=False,
    status_code=200,
)
async def result_csv_api(request: Request[Any, Any, Any]) -> Response[Any]:
    """送達結果取得 CSV 形式: the results of a period."""
    try:
        guarded = await _guard(request)
        if isinstance(guarded, int):
            return answer(guarded, request)
        values, login = guarded
        start, end, encoding = _period(values)
        name = f"result_{start:%Y%m%d%H%M}_{end:%Y%m%d%H%M}.csv"
        return Stream(
            _csv_stream(request, login, to_ms(start), to_ms(end), encoding),
            status_code=200,
            media_type="text/csv",
            encoding="shift_jis" if encoding == "cp932" else "utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    except Exception as exc:
        return error_answer(request, exc)
