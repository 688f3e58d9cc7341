"""The public side of short links: ``GET /s/{code}`` redirects (after an access code, when the
link has one). An account's own short-link domain points at todoke too (its links are
``https://DOMAIN/s/CODE``), so the same route serves it.

No authentication: the recipient of an SMS opens these. Every answer is small HTML or a
redirect; nothing says whether another account's code exists.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl

from litestar import MediaType, Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Redirect

from todoke.api.auth import client_ip, services_of
from todoke.errors import NotFound, TodokeError
from todoke.services.links import Opened

_NO_STORE = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
input,button{{font-size:1.2rem;padding:.4rem;margin:.3rem 0}}
.error{{color:#b00020}}</style></head>
<body>{body}</body></html>
"""

_FORM = """<h1>アクセスコードの入力<br><small>Enter the access code</small></h1>
<p>このリンクを開くには、SMS に記載のアクセスコードを入力してください。<br>
<small>Enter the access code given in your SMS to open this link.</small></p>
{error}
<form method="post" action="{action}">
<label for="accessCode">アクセスコード / Access code</label><br>
<input id="accessCode" name="accessCode" autocomplete="one-time-code" required maxlength="64"
 autofocus><br>
<button type="submit">開く / Open</button>
</form>"""


def _page(
    title: str, body: str, status: int, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        _PAGE.format(title=html.escape(title), body=body),
        status_code=status,
        media_type=MediaType.HTML,
        headers={**_NO_STORE, **(headers or {})},
    )


def _form(action: str, error: str = "", status: int = 200) -> Response[str]:
    notice = f'<p class="error">{error}</p>' if error else ""
    body = _FORM.format(action=html.escape(action, quote=True), error=notice)
    return _page("アクセスコード / Access code", body, status)


def _not_found() -> Response[str]:
    return _page(
        "Not found",
        "<h1>リンクが見つかりません<br><small>Link not found</small></h1>"
        "<p>このリンクは存在しないか、無効になっています。<br>"
        "<small>This link does not exist or is no longer valid.</small></p>",
        404,
    )


def _answer(opened: Opened, action: str) -> Response[Any]:
    if opened.kind == "redirect":
        assert opened.location is not None
        return Redirect(opened.location, status_code=302, headers=_NO_STORE)
    if opened.kind == "ask":
        return _form(action)
    if opened.kind == "wrong":
        return _form(
            action,
            "アクセスコードが正しくありません。<br><small>The access code is not correct.</small>",
            403,
        )
    return _page(
        "Locked",
        "<h1>しばらくしてからお試しください<br><small>Try again later</small></h1>"
        "<p>アクセスコードの誤入力が続いたため、一時的にロックされています。<br>"
        "<small>Too many wrong access codes: this link is locked for a while.</small></p>",
        429,
        {"Retry-After": str(opened.retry_after)},
    )


async def _open(
    request: Request[Any, Any, Any], code: str, *, access_code: str | None
) -> Response[Any]:
    action = request.url.path
    try:
        opened = await services_of(request).links.open(
            code,
            access_code=access_code,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    except NotFound:
        return _not_found()
    return _answer(opened, action)


async def _posted_code(request: Request[Any, Any, Any]) -> str:
    body = (await request.body())[:4096].decode("utf-8", errors="replace")
    for name, value in parse_qsl(body, keep_blank_values=True):
        if name == "accessCode":
            return value.strip()
    return ""


@get("/s/{code:str}", include_in_schema=False)
async def open_link(request: Request[Any, Any, Any], code: FromPath[str]) -> Response[Any]:
    return await _open(request, code, access_code=None)


@post("/s/{code:str}", include_in_schema=False, status_code=200)
async def open_link_with_code(
    request: Request[Any, Any, Any], code: FromPath[str]
) -> Response[Any]:
    return await _open(request, code, access_code=await _posted_code(request))


def _error(_request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return _page("Error", "<h1>Error</h1>", exc.status_code)
    if isinstance(exc, TodokeError):
        return _page(
            "Unavailable", "<h1>しばらくしてからお試しください / Try again later</h1>", 503
        )
    return _page("Error", "<h1>Error</h1>", 500)


links_router = Router(
    path="/",
    route_handlers=[open_link, open_link_with_code],
    exception_handlers={Exception: _error, TodokeError: _error, HTTPException: _error},
)
