"""``/api/``: the MediaSMS send API (個別方式), GET, POST form, multipart and JSON.

One request, one message, through the same composer and
:class:`~todoke.services.messages.MessageService` as ``/v1`` (templates and tracked links:
``drafts``). A multipart POST that carries a ``file`` part is a CSV send (CSV 投入方式, see
``csv_send``), as is any POST to ``/api3/``.
"""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.csv_send import send_csv
from todoke.api.compat.mediasms.drafts import draft_of, template_text, text_rule
from todoke.api.compat.mediasms.edge import (
    Params,
    answer,
    authenticate,
    error_answer,
    read_params,
    url_too_long,
)
from todoke.api.compat.mediasms.params import check_placeholders, parse_send
from todoke.api.compat.mediasms.records import facade_data
from todoke.domain import phone, text
from todoke.domain.message import Message
from todoke.services.mediasms import MediaSmsLogin
from todoke.services.messages import SendRequest

ALL_METHODS = [
    HttpMethod.GET,
    HttpMethod.POST,
    HttpMethod.PUT,
    HttpMethod.PATCH,
    HttpMethod.DELETE,
]


async def send_one(
    request: Request[Any, Any, Any], params: Params, login: MediaSmsLogin
) -> Response[bytes]:
    """One message: the template's text or ``smstext``, its ``{URL…}`` as tracked links,
    through the composer (links committed first, then the message)."""
    spec = parse_send(params.values)
    services = services_of(request)
    body = spec.text
    if spec.text_id is not None:
        body = await template_text(services.templates, login.account, spec.text_id)
        check_placeholders(body, spec.links)
    assert body is not None
    draft = draft_of(
        SendRequest(
            to=spec.to,
            text=body,
            client_tag=spec.smsid,
            schedule_at=spec.schedule_at,
            carrier=spec.carrier,
            max_characters=text.MEDIASMS_LONG_BYTES,  # the façade's own rules: text_rule
            facade_data=facade_data(
                spec.notify,
                smsid=spec.smsid,
                titles=spec.titles,
                params=spec.params if login.profile.keep_params else None,
                text_id=spec.text_id,
            ),
        ),
        spec.links,
        rule=text_rule(
            long_message=login.profile.long_message,
            carrier=spec.carrier or phone.carrier_of_block(spec.to),
        ),
        sample_url=services.links.sample_url(),
    )
    results = await services.composer.send(login.account, [draft])
    assert isinstance(results, list)
    first = results[0]
    if isinstance(first, Exception):
        raise first
    assert isinstance(first, Message)
    return answer(codes.OK, request)


async def _handle(request: Request[Any, Any, Any], *, csv_only: bool) -> Response[bytes]:
    try:
        if url_too_long(request):
            return answer(codes.URL_TOO_LONG, request)
        if request.method not in ("GET", "POST"):
            return answer(codes.METHOD, request)
        params = await read_params(request)
        login = await authenticate(request, params.values)
        if csv_only or params.file is not None:
            if request.method != "POST":
                return answer(codes.METHOD, request)
            return await send_csv(request, params, login)
        return await send_one(request, params, login)
    except Exception as exc:  # every error is a code (never a 500 page)
        return error_answer(request, exc)


@route(
    "/api/", http_method=ALL_METHODS, name="mediasms_send", include_in_schema=False, status_code=200
)
async def send_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    """個別方式 send; a multipart ``file`` makes it a CSV send."""
    return await _handle(request, csv_only=False)


@route(
    "/api3/",
    http_method=ALL_METHODS,
    name="mediasms_send_csv",
    include_in_schema=False,
    status_code=200,
)
async def send_csv_api(request: Request[Any, Any, Any]) -> Response[bytes]:
    """CSV 投入方式: multipart ``file``."""
    return await _handle(request, csv_only=True)
