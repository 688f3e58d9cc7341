"""The 絶対リーチ! SMS CommonMT façade: a Router with its own exception handlers, so that
every answer on its paths is in the API's own terms (responseCode tables, or the document's
``Error`` schema for what the tables do not cover)."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response, Router
from litestar.exceptions import HTTPException

from todoke.api.compat.zettai_reach import extras, reservations, send, status
from todoke.api.compat.zettai_reach.codes import SYSTEM_ERROR, HttpRefusal, ZrError, translate
from todoke.api.compat.zettai_reach.common import answer, echoed
from todoke.errors import TodokeError

log = structlog.get_logger(__name__)


def _refusal(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    result = translate(exc)
    if isinstance(result, HttpRefusal):
        return answer(result.body(), result.status, result.headers or None)
    if result is SYSTEM_ERROR and not isinstance(exc, ZrError):
        log.warning("zettai.system_error", path=request.url.path, error=type(exc).__name__)
    return _envelope(request, result)


def _envelope(request: Request[Any, Any, Any], error: ZrError) -> Response[bytes]:
    defaults: dict[str, Any] = dict(request.route_handler.opt.get("zettai_defaults", {}))
    return answer(
        {
            "responseCode": error.code,
            "responseMessage": error.message,
            **defaults,
            **echoed(request),
        }
    )


def _http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    if exc.status_code >= 500:
        log.error("zettai.http_error", status=exc.status_code)
        return _envelope(request, SYSTEM_ERROR)
    return answer({"code": str(exc.status_code), "message": str(exc.detail)}, exc.status_code)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("zettai.unhandled", path=request.url.path, error=type(exc).__name__)
    return _envelope(request, SYSTEM_ERROR)


zettai_reach_router = Router(
    path="/",
    route_handlers=[
        send.mt,
        reservations.check_reservation,
        reservations.cancel_reservation,
        reservations.cancel_reservation_all,
        status.status_json,
        status.separated_success_count,
        extras.shorten_url,
        extras.template_json,
        extras.number_cleaning,
    ],
    # TodokeError is named here, not only Exception: the app's own handler for it (the /v1
    # error body) would otherwise be found first.
    exception_handlers={
        ZrError: _refusal,
        TodokeError: _refusal,
        HTTPException: _http_error,
        Exception: _unexpected,
    },
)
