"""Tracked short links: codes, long-URL rules, and placeholders in a message text.

A message text names where a tracked link goes with a placeholder in braces, ``{URL}``; the
names are the caller's (MediaSMS uses ``{URL}``, ``{URL2}``, ``{URL3}``, ``{URL4}``; the native
API takes any name of letters, digits and ``_``). :func:`render_placeholders` puts the short
URLs in; braces that name no link are left as they are (a text may contain braces).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from todoke.errors import InvalidInput

CODE_ALPHABET = string.ascii_letters + string.digits
# 7 characters of 62: 3.5e12 codes. Short, because the URL counts against the 660/670
# characters of the message; unguessable enough that walking the space finds nothing useful.
CODE_LENGTH = 7
MAX_URL = 2048  # a link made by an API call (絶対リーチ! longUrl: 2048)
# A link inserted into a message: MediaSMS originalurl allows 2083 characters (the old
# browsers' limit), so per-message links do too.
MAX_MESSAGE_URL = 2083
MAX_NAME = 256
MAX_ACCESS_CODE = 64

PLACEHOLDER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_CODE = re.compile(rf"[{CODE_ALPHABET}]{{1,16}}")
_HOST = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


_CODE_SPACE = len(CODE_ALPHABET) ** CODE_LENGTH


def new_code() -> str:
    """A random short-link code (uniform over the code space: one draw, base 62)."""
    n = secrets.randbelow(_CODE_SPACE)
    chars = []
    for _ in range(CODE_LENGTH):
        n, digit = divmod(n, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[digit])
    return "".join(chars)


def is_code(value: str) -> bool:
    """Whether ``value`` can be a short-link code (cheap check before any lookup)."""
    return _CODE.fullmatch(value) is not None


def check_long_url(url: str, *, field: str = "longUrl", max_length: int = MAX_URL) -> str:
    """The URL a link redirects to: http(s), a host, at most ``max_length`` characters (2048
    by default), no spaces.

    Anything else (``javascript:``, ``data:``, relative URLs) is refused: a redirect to it
    would run in the recipient's browser.
    """
    if not url:
        raise InvalidInput(f"{field} must not be empty", field=field, code="empty")
    if len(url) > max_length:
        raise InvalidInput(
            f"{field} is longer than {max_length} characters", field=field, code="too_long"
        )
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidInput(f"{field} must not contain spaces", field=field, code="invalid_url")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput(f"{field} is not a URL", field=field, code="invalid_url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{field} must be an http(s) URL with a host", field=field, code="invalid_url"
        )
    return url


_URI_SAFE = ":/?#[]@!$&'()*+,;=%~"


def to_uri(url: str) -> str:
    """The URL as a ``Location`` header can carry it: an internationalised host in IDNA
    (punycode), other non-ASCII characters percent-encoded (``%`` escapes already there stay)."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = quote(host, safe="")
    netloc = ascii_host
    if parts.port is not None:
        netloc = f"{ascii_host}:{parts.port}"
    if parts.username is not None:
        userinfo = quote(parts.username, safe="")
        if parts.password is not None:
            userinfo += ":" + quote(parts.password, safe="")
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


def check_domain(domain: str, *, field: str = "domain") -> str:
    """A host name for short links (``sms.example.jp``), lower-cased."""
    host = domain.strip().lower().rstrip(".")
    if len(host) > 253 or not _HOST.match(host):
        raise InvalidInput(f"{field} is not a host name", field=field, code="invalid_domain")
    return host


def check_name(name: str, *, field: str = "name") -> str:
    if "\x00" in name:
        raise InvalidInput(f"{field} must not contain NUL", field=field)
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"{field} is longer than {MAX_NAME} characters", field=field, code="too_long"
        )
    return name


def check_access_code(code: str, *, field: str = "accessCode") -> str:
    """An access code a recipient types before the redirect: 1-64 visible characters."""
    if not code or len(code) > MAX_ACCESS_CODE or not code.isprintable() or " " in code:
        raise InvalidInput(
            f"{field} must be 1 to {MAX_ACCESS_CODE} visible characters without spaces",
            field=field,
            code="invalid_access_code",
        )
    return code


def access_code_hash(link_id: str, code: str) -> str:
    """The stored form of an access code (salted with the link id)."""
    return hashlib.sha256(f"{link_id}\0{code}".encode()).hexdigest()


def check_placeholder(name: str, *, field: str = "links") -> str:
    if not PLACEHOLDER_NAME.fullmatch(name):
        raise InvalidInput(
            f"{field}: placeholder names are a letter then letters, digits or _ (at most 32)",
            field=field,
            code="invalid_placeholder",
        )
    return name


def placeholders_in(text: str, names: list[str] | tuple[str, ...]) -> list[str]:
    """Which of ``names`` occur as ``{NAME}`` in ``text``."""
    return [n for n in names if "{" + n + "}" in text]


def render_placeholders(text: str, values: Mapping[str, str], *, field: str = "links") -> str:
    """Replace every ``{NAME}`` of ``values`` by its value; each one must occur in ``text``."""
    for name in values:
        check_placeholder(name, field=field)
        if "{" + name + "}" not in text:
            raise InvalidInput(
                f"the text has no {{{name}}} placeholder for link {name}",
                field=f"{field}.{name}",
                code="missing_placeholder",
            )
    if not values:
        return text
    pattern = re.compile("|".join(re.escape("{" + n + "}") for n in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], text)
