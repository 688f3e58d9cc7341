"""The responseCode tables of the 絶対リーチ! API, and the one mapping of todoke's error tree
onto them (seeds/002 and the OpenAPI document, each operation's 200 response).

Every answer of the façade is HTTP 200 with ``responseCode`` / ``responseMessage``, except
where the tables have no row: who may ask at all (credentials, the API限定 IP allowlist, an
address blocked after failed logins, the rate limit, a database outage). Those are HTTP
errors with the document's ``Error`` schema (``{"code", "message"}``), as its
``Unauthorized`` / ``InternalServerError`` responses describe; docs/compat/zettai-reach.md
lists every case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from todoke import errors

SUCCESS = 0
REQUIRED = 100  # Required {項目名}.
INVALID = 110  # Invalid {項目名}.
TOO_LONG = 120  # {項目名} too long.
ALREADY_SENT = 130  # Already send.
PAST = 140  # Past {項目名}.
EXCEED = 300  # Exceed sending count.
DUPLICATE = 400  # Duplicate client tag.
SYSTEM = 500  # System error.


class ZrError(Exception):
    """A refusal in the façade's own terms: a responseCode and its message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def required(name: str) -> ZrError:
    return ZrError(REQUIRED, f"Required {name}.")


def invalid(name: str) -> ZrError:
    return ZrError(INVALID, f"Invalid {name}.")


def too_long(name: str) -> ZrError:
    return ZrError(TOO_LONG, f"{name} too long.")


def past(name: str) -> ZrError:
    return ZrError(PAST, f"Past {name}.")


ALREADY_SENT_ERROR = ZrError(ALREADY_SENT, "Already send.")
EXCEED_ERROR = ZrError(EXCEED, "Exceed sending count.")
DUPLICATE_ERROR = ZrError(DUPLICATE, "Duplicate client tag.")
SYSTEM_ERROR = ZrError(SYSTEM, "System error.")


@dataclass(frozen=True, slots=True)
class HttpRefusal:
    """An answer outside the responseCode tables: an HTTP status with an ``Error`` body."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


# todoke's field names (the services speak /v1) -> the façade's parameter names.
FIELD_NAMES = {
    "text": "message",
    "to": "phoneNumber",
    "from": "smsCode",
    "scheduleAt": "scheduleTime",
    "carrier": "carrierId",
    "clientTag": "clientTag",
    "groupTag": "groupTag",
    "longUrl": "longUrl",
    "name": "name",
    "domain": "domain",
    "referenceDate": "referenceDate",
    "month": "month",
}

_TOO_LONG_CODES = ("too_long", "text_too_long")


def translate(exc: BaseException) -> ZrError | HttpRefusal:
    """The façade's answer to an error raised by a service or by the protection layer."""
    if isinstance(exc, ZrError):
        return exc
    if isinstance(exc, errors.DuplicateClientTag):
        return DUPLICATE_ERROR
    if isinstance(exc, errors.QuotaExceeded):
        return EXCEED_ERROR
    if isinstance(exc, errors.NotCancellable):
        return ALREADY_SENT_ERROR
    if isinstance(exc, errors.InvalidInput):
        name = FIELD_NAMES.get(exc.field or "", exc.field or "parameter")
        if exc.code in _TOO_LONG_CODES:
            return too_long(name)
        if exc.code == "past_time":
            return invalid(name)  # mt.json has no 140 row: a past scheduleTime is invalid
        return invalid(name)
    if isinstance(exc, errors.Unauthenticated):
        return HttpRefusal(401, "401", "Unauthorized.")
    if isinstance(exc, errors.IpBlocked):
        return HttpRefusal(403, "403", "Forbidden: this address is blocked.")
    if isinstance(exc, errors.Forbidden):
        return HttpRefusal(403, "403", "Forbidden: this address may not use the API.")
    if isinstance(exc, errors.RateLimited):
        retry = str(max(1, round(exc.retry_after)))
        return HttpRefusal(503, "503", "Too many requests.", {"Retry-After": retry})
    if isinstance(exc, errors.ServiceUnavailable):
        return HttpRefusal(503, "503", "Service unavailable.", {"Retry-After": "1"})
    return SYSTEM_ERROR
