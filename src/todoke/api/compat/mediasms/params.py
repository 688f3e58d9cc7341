"""The parameters of the MediaSMS send API (seeds/003, パラメータ群), parsed and checked.

Pure functions: no I/O. Every refusal is an :class:`~todoke.errors.InvalidInput` naming the
parameter, which ``codes.code_for`` turns into the parameter's code. An empty value is the same
as an absent one: client libraries send every field, empty when unused.

Parameters that appear only in the seed's error table get the behaviour documented in
docs/compat/mediasms.md: carrier flags ``docomo``/``au``/``softbank`` designate the carrier,
the carrier titles are checked like ``smstitle`` and kept, ``sendingattempts`` /
``resendinginterval`` / ``gateway`` are refused with their code (todoke decides retries and
routes itself; silently ignoring them would promise what does not happen).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from todoke.domain import phone, text
from todoke.domain.carrier import Carrier
from todoke.errors import InvalidInput
from todoke.services.messages import JST

SEND_PARAMETERS = frozenset(
    {
        "username", "password", "mobilenumber", "smstextid", "smstitle", "smstext", "status",
        "smsid", "originalurl", "originalurl2", "originalurl3", "originalurl4",
        "originalurlcode", "originalurlcode2", "originalurlcode3", "originalurlcode4",
        "senddatetime", "sendingattempts", "resendinginterval", "docomo", "au", "softbank",
        "gateway", "docomotitle", "autitle", "softbanktitle",
    }
)  # fmt: skip
CREDENTIALS = frozenset({"username", "password"})

SMSID = re.compile(r"^[A-Za-z0-9]{1,50}$")  # 英数字（大小別） 1～50 桁
_TEXT_ID = re.compile(r"^[0-9]{1,6}$")  # 数値 6 桁以内 0～999999
_TITLE = re.compile(r"^[A-Za-z0-9._-]{2,11}$")  # 英数一部記号 2～11 桁 (「-」「_」「.」)
_URL_CODE = re.compile(r"^[A-Za-z0-9@%+/'!#$^?:;.,(){}\[\]~_-]{1,20}$")
_DATETIME = re.compile(r"^[0-9]{12}$")  # YYYYMMDDhhmm
_MAX_URL = 2083  # 文字列 最大 2083 文字
_URL_SLOTS = ("", "2", "3", "4")
_CARRIER_FLAGS = (("docomo", Carrier.DOCOMO), ("au", Carrier.AU), ("softbank", Carrier.SOFTBANK))
_TITLES = ("docomotitle", "autitle", "softbanktitle")


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """``originalurl{N}`` with its access code, inserted at ``{URL{N}}`` (N: "", 2, 3, 4)."""

    slot: str
    url: str
    access_code: str | None

    @property
    def placeholder(self) -> str:
        return "{URL" + self.slot + "}"


@dataclass(frozen=True, slots=True)
class SendSpec:
    """A checked send request in todoke's terms (text not yet resolved: see ``text_id``)."""

    to: str  # E.164
    carrier: Carrier | None  # designated with docomo/au/softbank=1, else None
    text: str | None
    text_id: int | None
    notify: bool  # status=1: deliver results to the account's result URL
    smsid: str | None
    links: tuple[LinkSpec, ...] = ()
    schedule_at: datetime | None = None
    titles: dict[str, str] = field(default_factory=dict)  # smstitle and carrier titles
    params: dict[str, str] = field(default_factory=dict)  # as sent, without credentials


def given(values: Mapping[str, str], name: str) -> str | None:
    """The parameter's value, or None when absent or empty."""
    value = values.get(name)
    return value if value else None


def parse_send(values: Mapping[str, str]) -> SendSpec:
    """Check every parameter of an individual send; the first bad one raises, in the order
    of the seed's table."""
    to = parse_mobilenumber(given(values, "mobilenumber"))
    text_id = parse_text_id(given(values, "smstextid"))
    titles = {}
    if (title := given(values, "smstitle")) is not None:
        titles["smstitle"] = parse_title(title, "smstitle")
    body = given(values, "smstext")
    if text_id is not None and body is not None:
        raise InvalidInput("smstextid and smstext exclude each other", field="smstextid")
    if text_id is None and body is None:
        raise InvalidInput("smstext (or smstextid) is required", field="smstext")
    notify = parse_status(given(values, "status"))
    smsid = parse_smsid(given(values, "smsid"), required=notify)
    links = parse_links(values, body)
    schedule_at = parse_datetime(given(values, "senddatetime"), "senddatetime")
    for name in ("sendingattempts", "resendinginterval", "gateway"):
        if given(values, name) is not None:
            raise InvalidInput(
                f"{name} is not offered: todoke retries and routes each message itself",
                field=name,
            )
    carrier = parse_carrier_flags(values)
    for name in _TITLES:
        if (value := given(values, name)) is not None:
            titles[name] = parse_title(value, name)
    return SendSpec(
        to=to,
        carrier=carrier,
        text=body,
        text_id=text_id,
        notify=notify,
        smsid=smsid,
        links=links,
        schedule_at=schedule_at,
        titles=titles,
        params={k: v for k, v in values.items() if k not in CREDENTIALS},
    )


def parse_mobilenumber(value: str | None, name: str = "mobilenumber") -> str:
    """A Japanese mobile number (090/080/070/060/020…, 81…; hyphens allowed) in E.164.

    Foreign numbers (not starting with 0 or 81) are refused: todoke has no international
    route (the seed makes them an account option of the provider's own network).
    """
    if value is None:
        raise InvalidInput(f"{name} is required", field=name)
    digits = value.replace("-", "").removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInput(f"{name} must be digits", field=name)
    if digits.startswith("81"):
        if len(digits) > 14:  # 81 + 12 digits of a 14-digit 020 number at most
            raise InvalidInput(f"{name} starting with 81 is too long", field=name)
        digits = "+" + digits
    elif not digits.startswith("0"):
        raise InvalidInput(f"{name}: international numbers are not supported", field=name)
    try:
        return phone.normalize(digits)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=name) from exc


def parse_text_id(value: str | None) -> int | None:
    if value is None:
        return None
    if not _TEXT_ID.match(value):
        raise InvalidInput("smstextid must be a number from 0 to 999999", field="smstextid")
    return int(value)


def parse_title(value: str, name: str) -> str:
    if not _TITLE.match(value) or value.isdigit():
        raise InvalidInput(
            f"{name} must be 2 to 11 letters, digits, '-', '_' or '.', not only digits",
            field=name,
        )
    return value


def parse_status(value: str | None) -> bool:
    if value is None or value == "0":
        return False
    if value == "1":
        return True
    raise InvalidInput("status must be 0 or 1", field="status")


def parse_smsid(value: str | None, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InvalidInput("smsid is required with status=1", field="smsid")
        return None
    if not SMSID.match(value):
        raise InvalidInput("smsid must be 1 to 50 letters or digits", field="smsid")
    return value


def parse_links(values: Mapping[str, str], body: str | None) -> tuple[LinkSpec, ...]:
    """``originalurl``..``originalurl4`` with ``originalurlcode``..``originalurlcode4``.

    A URL must be http(s) and at most 2083 characters; an access code needs its URL; a
    ``{URL…}`` placeholder in ``smstext`` needs its URL (a template's text is checked once it
    is known, by ``check_placeholders``).
    """
    links: list[LinkSpec] = []
    for slot in _URL_SLOTS:
        url_name, code_name = f"originalurl{slot}", f"originalurlcode{slot}"
        url = given(values, url_name)
        code = given(values, code_name)
        if url is not None and (
            len(url) > _MAX_URL
            or not url.startswith(("http://", "https://"))
            or any(c.isspace() for c in url)
        ):
            raise InvalidInput(
                f"{url_name} must be an http(s) URL of at most {_MAX_URL} characters",
                field=url_name,
            )
        if code is not None:
            if not _URL_CODE.match(code):
                raise InvalidInput(
                    f"{code_name} must be 1 to 20 letters, digits or allowed symbols",
                    field=code_name,
                )
            if url is None:
                raise InvalidInput(f"{code_name} needs {url_name}", field=code_name)
        if url is not None:
            links.append(LinkSpec(slot, url, code))
    if body is not None:
        check_placeholders(body, links)
    return tuple(links)


def check_placeholders(body: str, links: tuple[LinkSpec, ...] | list[LinkSpec]) -> None:
    """Every ``{URL…}`` in the text must have its ``originalurl…``."""
    have = {link.slot for link in links}
    for slot in _URL_SLOTS:
        if "{URL" + slot + "}" in body and slot not in have:
            name = f"originalurl{slot}"
            raise InvalidInput(f"the text has {{URL{slot}}} but no {name}", field=name)


def parse_datetime(value: str | None, name: str) -> datetime | None:
    """``YYYYMMDDhhmm`` in JST (aware)."""
    if value is None:
        return None
    if not _DATETIME.match(value):
        raise InvalidInput(f"{name} must be YYYYMMDDhhmm", field=name)
    try:
        return datetime.strptime(value, "%Y%m%d%H%M").replace(tzinfo=JST)
    except ValueError:
        raise InvalidInput(f"{name} is not a valid date and time", field=name) from None


def parse_carrier_flags(values: Mapping[str, str]) -> Carrier | None:
    """``docomo``/``au``/``softbank``: "1" designates the carrier, "0" (or nothing) does not;
    two designations at once are refused with the second flag's code."""
    chosen: Carrier | None = None
    for name, carrier in _CARRIER_FLAGS:
        value = given(values, name)
        if value is None or value == "0":
            continue
        if value != "1":
            raise InvalidInput(f"{name} must be 0 or 1", field=name)
        if chosen is not None:
            raise InvalidInput(f"{name}=1: another carrier is already designated", field=name)
        chosen = carrier
    return chosen


def check_text(body: str, *, long_message: bool, carrier: Carrier | None) -> None:
    """The seed's ``smstext`` rules (585): not empty, not only line breaks or spaces, within
    140 Shift_JIS bytes (70 characters with a 2-byte character, except to au), or 1340 bytes
    and 670 characters with the 長文オプション; no character carriers cannot carry."""
    if not body.strip(" \u3000\r\n\t"):
        raise InvalidInput("smstext is empty or only spaces and line breaks", field="smstext")
    text.check_mediasms_length(body, long_message=long_message, carrier=carrier)
    text.analyze(body, max_characters=text.MEDIASMS_LONG_BYTES, field="smstext")
