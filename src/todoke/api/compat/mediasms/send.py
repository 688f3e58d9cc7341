"""``/api/``: the MediaSMS send API (個別方式), GET, POST form, multipart and JSON.

One request, one message, through the same :class:`~todoke.services.messages.MessageService`
as ``/v1``. A multipart POST that carries a ``file`` part is a CSV send (CSV 投入方式, see
``csv_send``), as is any POST to ``/api3/``.
"""

from __future__ import annotations

from typing import Any

from litestar import HttpMethod, Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.csv_send import send_csv
from todoke.api.compat.mediasms.edge import (
    Params,
    answer,
    authenticate,
    error_answer,
    read_params,
    url_too_long,
)
from todoke.api.compat.mediasms.hooks import PreparedLinks, hooks_of
from todoke.api.compat.mediasms.params import SendSpec, check_placeholders, check_text, parse_send
from todoke.api.compat.mediasms.records import facade_data
from todoke.domain import phone, text
from todoke.domain.message import Message
from todoke.errors import InvalidInput
from todoke.services.mediasms import MediaSmsLogin
from todoke.services.messages import SendRequest

ALL_METHODS = [
    HttpMethod.GET,
    HttpMethod.POST,
    HttpMethod.PUT,
    HttpMethod.PATCH,
    HttpMethod.DELETE,
]


async def resolve_text(
    request: Request[Any, Any, Any], login: MediaSmsLogin, spec: SendSpec
) -> tuple[str, PreparedLinks | None]:
    """The text to send: the template's or ``smstext``, with the links inserted, checked."""
    hooks = hooks_of(request)
    body = spec.text
    if spec.text_id is not None:
        body = await hooks.templates.template_text(login.account, spec.text_id)
        if body is None:
            raise InvalidInput(f"no template {spec.text_id}", field="smstextid")
        check_placeholders(body, spec.links)
    assert body is not None
    prepared = None
    used = [link for link in spec.links if link.placeholder in body]  # others: unused
    if used:
        prepared = await hooks.links.prepare(login.account, body, used)
        body = prepared.text
    carrier = spec.carrier or phone.carrier_of_block(spec.to)
    check_text(body, long_message=login.profile.long_message, carrier=carrier)
    return body, prepared


async def send_one(
    request: Request[Any, Any, Any], params: Params, login: MediaSmsLogin
) -> Response[bytes]:
    spec = parse_send(params.values)
    body, prepared = await resolve_text(request, login, spec)
    req = SendRequest(
        to=spec.to,
        text=body,
        client_tag=spec.smsid,
        schedule_at=spec.schedule_at,
        carrier=spec.carrier,
        max_characters=text.MEDIASMS_LONG_BYTES,  # the façade's own rules were checked above
        facade_data=facade_data(
            spec.notify,
            smsid=spec.smsid,
            titles=spec.titles,
            params=spec.params if login.profile.keep_params else None,
            text_id=spec.text_id,
        ),
    )
    results = await services_of(request).messages.send(login.account, [req])
    assert isinstance(results, list)
    first = results[0]
    if isinstance(first, Exception):
        raise first
    assert isinstance(first, Message)
    if prepared is not None:
        await hooks_of(request).links.attach(login.account, prepared, first.id)
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
