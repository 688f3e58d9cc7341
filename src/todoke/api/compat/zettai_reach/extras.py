"""``shortenurl.json`` (ショート URL 登録), ``template.json`` (登録済み定型文取得) and
``numbercleaning.json`` (電話番号クリーニング): the shared link, template and number-cleaning
services in the façade's terms."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, route

from todoke.api.auth import services_of
from todoke.api.compat.zettai_reach.codes import invalid
from todoke.api.compat.zettai_reach.common import authenticate, echo, ok
from todoke.api.compat.zettai_reach.params import read_params
from todoke.domain import links as link_rules
from todoke.errors import InvalidInput


@route(
    "/p1/api/shortenurl.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="ショート URL 登録",
    include_in_schema=False,
    opt={"zettai_defaults": {}},
)
async def shorten_url(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request)
    caller = await authenticate(request, params)
    name = params.text("name", max_length=link_rules.MAX_NAME)
    long_url = params.text("longUrl", max_length=link_rules.MAX_URL, required_=True)
    domain = params.get("domain")
    services = services_of(request)
    if domain is not None:
        # 独自ドメインオプション: only the account's configured domain.
        configured = (await services.zettai.get(caller.account.id)).short_domain
        try:
            wanted = link_rules.check_domain(domain)
        except InvalidInput:
            raise invalid("domain") from None
        if configured is None or wanted != configured:
            raise invalid("domain")
    assert long_url is not None
    link = await services.links.create(caller.account, long_url, name=name, domain=domain)
    return ok(shortUrl=services.links.short_url(link), name=link.name)


@route(
    "/p5/api/template.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="登録済み定型文取得",
    include_in_schema=False,
    opt={"zettai_defaults": {"count": 0, "templates": []}},
)
async def template_json(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request, has_too_long=False)
    caller = await authenticate(request, params)
    found = await services_of(request).templates.list_all(caller.account)
    return ok(
        count=len(found),
        templates=[
            {
                "title": t.title,
                "default_content": t.content,
                "parameters": [{"parameter_name": name} for name in t.parameters],
            }
            for t in found
        ],
    )


@route(
    "/p5/api/numbercleaning.json",
    http_method=["GET", "POST"],
    status_code=200,
    summary="電話番号クリーニング",
    include_in_schema=False,
    opt={"zettai_defaults": {"status": "ERROR"}},
)
async def number_cleaning(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await read_params(request, has_too_long=False)
    caller = await authenticate(request, params)
    del caller  # any account may ask; the reference data is the platform's
    phone = params.phone()
    echo(request, phoneNumber=phone)
    reference = params.day("referenceDate", required_=True)
    assert reference is not None
    echo(request, referenceDate=f"{reference:%Y%m%d}")
    result = await services_of(request).numbers.judge(phone, reference)
    return ok(
        phoneNumber=result.number,
        referenceDate=f"{reference:%Y%m%d}",
        status=result.status.value,
    )
