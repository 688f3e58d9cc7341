"""Request parameters of the 絶対リーチ! API: parsing and the checks each operation's
parameter table asks for, raising the responseCode of the first violation.

Form bodies (``mt.json``, ``shortenurl.json``) and query strings are parsed alike, as UTF-8.
An empty value counts as not given (many clients send every field, empty when unused).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request

from todoke.api.compat.zettai_reach.codes import ZrError, invalid, required, too_long

# The request pattern of phoneNumber in the OpenAPI document.
PHONE_PATTERN = re.compile(r"^(\+81|0)(([26789]0[1-9][0-9]{7}$)|(20[1-9][0-9]{10}$))")
_DAY = re.compile(r"\d{8}")
_MONTH = re.compile(r"\d{6}")
_SCHEDULE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
_DIGITS = re.compile(r"[0-9]+")
_ALNUM = re.compile(r"[0-9A-Za-z]+")
_CLIENT_ID = re.compile(r"^[1-9][0-9]+")  # cancelreservation.json's pattern


def parse_urlencoded(raw: bytes) -> dict[str, str]:
    """Fields of an ``application/x-www-form-urlencoded`` text; the first of a repeated name
    wins. A value that is not UTF-8 keeps surrogate escapes, refused by :meth:`Params.get`."""
    text = raw.decode("utf-8", errors="surrogateescape")
    out: dict[str, str] = {}
    for name, value in parse_qsl(
        text, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"
    ):
        out.setdefault(name, value)
    return out


async def read_params(request: Request[Any, Any, Any], *, has_too_long: bool = True) -> Params:
    """Query string, then (for POST) the form body on top of it. ``has_too_long``: whether
    the operation's table has the 120 row (else an over-long value is 110 Invalid)."""
    values = parse_urlencoded(request.scope.get("query_string", b""))
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            values.update({k: str(v) for k, v in form.items() if isinstance(v, str)})
        else:
            values.update(parse_urlencoded(await request.body()))
    return Params(values, has_too_long=has_too_long)


class Params:
    """The parameters of one request."""

    def __init__(self, values: dict[str, str], *, has_too_long: bool = True) -> None:
        self._values = values
        self._has_too_long = has_too_long

    def _too_long(self, name: str) -> ZrError:
        return too_long(name) if self._has_too_long else invalid(name)

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None or value == "":
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(name) from None
        if "\x00" in value:  # no database text type holds NUL (PostgreSQL refuses it)
            raise invalid(name)
        return value

    def required(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise required(name)
        return value

    # --- shapes ------------------------------------------------------------------------

    def token(self) -> str:
        value = self.required("token")
        if len(value) > 32:
            raise self._too_long("token")
        if len(value) < 32 or not _ALNUM.fullmatch(value):
            raise invalid("token")
        return value

    def client_id(self, *, allow_all: bool = False, strict: bool = False) -> int | None:
        """The clientId as a number; ``None`` for ``all`` where allowed."""
        value = self.required("clientId")
        if allow_all and value == "all":
            return None
        pattern_ok = _CLIENT_ID.match(value) if strict else _DIGITS.fullmatch(value)
        if not pattern_ok or not value.isdigit() or len(value) > 18:
            raise invalid("clientId")
        return int(value)

    def sms_code(self) -> str:
        value = self.required("smsCode")
        if len(value) > 6:
            raise self._too_long("smsCode")
        if len(value) < 5:
            raise invalid("smsCode")
        return value

    def text(self, name: str, *, max_length: int, required_: bool = False) -> str | None:
        value = self.required(name) if required_ else self.get(name)
        if value is not None and len(value) > max_length:
            raise self._too_long(name)
        return value

    def phone(self, name: str = "phoneNumber") -> str:
        """A number matching the document's request pattern, as +81…."""
        value = self.required(name)
        if value.startswith(" 81"):
            value = "+" + value[1:]  # an unencoded + read as a space (the spec asks for %2B)
        if len(value) > 20:
            raise invalid(name)
        if not PHONE_PATTERN.match(value):
            raise invalid(name)
        return "+81" + value[3:] if value.startswith("+81") else "+81" + value[1:]

    def day(self, name: str, *, required_: bool = False) -> date | None:
        """``yyyyMMdd``."""
        value = self.required(name) if required_ else self.get(name)
        if value is None:
            return None
        if not _DAY.fullmatch(value):
            raise invalid(name)
        try:
            return datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            raise invalid(name) from None

    def month(self, name: str = "month") -> tuple[int, int]:
        value = self.required(name)
        if not _MONTH.fullmatch(value):
            raise invalid(name)
        year, month = int(value[:4]), int(value[4:])
        if not 1 <= month <= 12 or year < 2000:
            raise invalid(name)
        return year, month

    def schedule_time(self, name: str = "scheduleTime") -> datetime | None:
        """``yyyy-MM-dd HH:mm`` (JST), as a naive datetime."""
        value = self.get(name)
        if value is None:
            return None
        if not _SCHEDULE.fullmatch(value):
            raise invalid(name)
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M")
        except ValueError:
            raise invalid(name) from None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.get(name)
        if value is not None and value not in allowed:
            raise invalid(name)
        return value

    def require_one(self, *names: str) -> None:
        """At least one of ``names``: otherwise "Required" names the first (the highest
        priority of the operation's ※ note)."""
        if all(self.get(n) is None for n in names):
            raise required(names[0])
