"""The HTTP edge of the MediaSMS façade: reading parameters, authentication, code answers.

Parameters come from the query string (GET, and POST URLs such as ``/api3/?encode=…``), a
form body (``application/x-www-form-urlencoded`` or ``multipart/form-data``) or a JSON object
whose values are strings (numbers are taken as their digits). Later sources win.

The answer is the code only: ``200`` as ``text/plain``; a JSON request gets
``{"result": "200"}``, which is what MediaSMS client libraries that send JSON decode.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, ValidationException

from todoke import errors
from todoke.api.auth import guarded_auth, services_of
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.params import SEND_PARAMETERS
from todoke.domain.message import Account
from todoke.services.mediasms import MediaSmsLogin, MediaSmsService

log = structlog.get_logger(__name__)

MAX_URL_BYTES = 8190  # seeds/003: API リクエストは GET で最大 8190 バイト
KNOWN_PARAMETERS = SEND_PARAMETERS | {"smstexttype", "encode", "startdatetime", "enddatetime"}


@dataclass(slots=True)
class Params:
    """Every parameter of a request, and the uploaded ``file`` of a CSV send."""

    values: dict[str, str]
    json: bool = False
    file: UploadFile | None = None


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == (
        "application/json"
    )


def answer(
    code: int,
    request: Request[Any, Any, Any],
    *,
    lines: list[str] | None = None,
    http_status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """The code (and, for the answers that have them, more lines) as MediaSMS sends it."""
    status = http_status if http_status is not None else codes.http_status(code)
    if wants_json(request) and not lines:
        body = msgspec.json.encode({"result": str(code)})
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)
    text = "\n".join([str(code), *(lines or [])])
    return Response(
        text.encode("utf-8"),
        status_code=status,
        media_type=MediaType.TEXT,
        headers=headers,
    )


def error_answer(request: Request[Any, Any, Any], exc: BaseException) -> Response[bytes]:
    """The code answer of any error, with the headers HTTP clients expect."""
    if isinstance(exc, HTTPException):
        return _http_error(request, exc)
    code = codes.code_for(exc)
    headers: dict[str, str] = {}
    if code == codes.AUTH and isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Basic realm="MediaSMS"'
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    elif code == codes.UNAVAILABLE:
        headers["Retry-After"] = "1"
    if not isinstance(exc, errors.TodokeError):
        log.error("mediasms.unhandled", path=request.url.path, error=type(exc).__name__)
    elif code == codes.FAILURE:
        log.info("mediasms.failure", error=exc.code)
    return answer(code, request, http_status=codes.http_status_for(exc), headers=headers)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 405:
        return answer(codes.METHOD, request)
    if exc.status_code == 413:  # the body is over the server's limit
        return answer(codes.FAILURE, request, http_status=413)
    if exc.status_code >= 500:
        log.error("mediasms.http_error", status=exc.status_code)
        return answer(codes.FAILURE, request, http_status=500)
    return answer(codes.FAILURE, request)


def exception_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Router-level handler: every error under the façade's paths becomes a code."""
    return error_answer(request, exc)


# The app registers handlers for todoke's errors and Litestar's HTTP errors; a router's
# handler wins only for a key at least as specific, so the façade names them too (the per-IP
# limit and guarded_auth's refusals must come out as 503/555, not as /v1 JSON).
EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    errors.TodokeError: exception_handler,
    HTTPException: exception_handler,
    ValidationException: exception_handler,
    Exception: exception_handler,
}


def url_too_long(request: Request[Any, Any, Any]) -> bool:
    """Whether the request URL (path and query) is over 8190 bytes: code 414."""
    path = request.scope.get("raw_path") or request.scope["path"].encode()
    return len(path) + 1 + len(request.scope.get("query_string", b"")) > MAX_URL_BYTES


def _decode_pairs(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidInput(
            "parameters must be UTF-8, percent-encoded", field="smstext"
        ) from None
    return dict(pairs)


async def read_params(request: Request[Any, Any, Any]) -> Params:
    """Every parameter of the request (see the module docstring)."""
    params = Params(_decode_pairs(request.scope.get("query_string", b"")))
    if request.method != "POST":
        return params
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        params.json = True
        params.values.update(_json_values(await request.body()))
    elif kind == "multipart/form-data":
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "file":
                    params.file = value
            else:
                params.values[str(key)] = str(value)
    else:  # application/x-www-form-urlencoded, or no type: read it as a form
        params.values.update(_decode_pairs(await request.body()))
    return params


def _json_values(body: bytes) -> dict[str, str]:
    try:
        decoded = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError:
        raise errors.InvalidInput("the body is not valid JSON", field="json") from None
    if not isinstance(decoded, dict):
        raise errors.InvalidInput("the JSON body must be an object", field="json")
    values: dict[str, str] = {}
    for key, value in decoded.items():
        if value is None:
            continue
        if isinstance(value, str):
            values[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[key] = str(value)
        elif key in KNOWN_PARAMETERS:
            raise errors.InvalidInput(f"{key} must be a string", field=str(key))
        # an unknown parameter is ignored, whatever its type
    return values


def _basic(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise errors.Unauthenticated("expected Basic authentication")
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise errors.Unauthenticated("malformed Basic credentials") from None
    if not sep:
        raise errors.Unauthenticated("malformed Basic credentials")
    return user, password


def mediasms_of(request: Request[Any, Any, Any]) -> MediaSmsService:
    service = services_of(request).mediasms
    if service is None:  # pragma: no cover - create_app always builds it
        raise errors.ServiceUnavailable("the MediaSMS API is not configured")
    return service


async def authenticate(request: Request[Any, Any, Any], values: dict[str, str]) -> MediaSmsLogin:
    """Basic auth, or the ``username``/``password`` parameters, through ``guarded_auth``."""
    found: list[MediaSmsLogin] = []

    async def verify() -> Account:
        credentials = _basic(request) or (values.get("username"), values.get("password"))
        login = await mediasms_of(request).authenticate(*credentials)
        found.append(login)
        return login.account

    account = await guarded_auth(request, verify)
    if found and found[-1].account.id == account.id:
        return found[-1]
    # guarded_auth answered without our verifier (it may cache): look the settings up.
    profile = await mediasms_of(request).profile(account.id)
    if profile is None:
        raise errors.Unauthenticated("the account has no MediaSMS login")
    return MediaSmsLogin(account, profile)
