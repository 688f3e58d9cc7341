"""Templates (定型文): a text with named parameters written ``{{name}}``.

Double braces keep template parameters apart from tracked-link placeholders (``{URL}``), so
one text can hold both: rendering a template leaves ``{URL}`` for the links step.
A parameter name is 1-64 characters without braces or spaces (Japanese names are fine:
``{{お名前}}``); spaces inside the braces are ignored (``{{ name }}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from todoke.errors import InvalidInput

MAX_TITLE = 200
MAX_CONTENT = 2000
MAX_PARAMETER_VALUE = 660
# A template's number (per account) is what MediaSMS ``smstextid`` names: 0-999999.
MAX_NUMBER = 999_999

_PARAM = re.compile(r"\{\{\s*([^{}\s]{1,64})\s*\}\}")
_OPEN = re.compile(r"\{\{")


def parameters(content: str) -> list[str]:
    """The parameter names of a template, in order of first use, each once."""
    seen: dict[str, None] = {}
    for match in _PARAM.finditer(content):
        seen.setdefault(match.group(1), None)
    return list(seen)


def check(title: str, content: str) -> None:
    """Refuse an empty or too long title or content, and a malformed ``{{`` parameter."""
    if "\x00" in title or "\x00" in content:
        raise InvalidInput("title and content must not contain NUL", field="content")
    if not title.strip():
        raise InvalidInput("title must not be empty", field="title", code="empty")
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            f"title is longer than {MAX_TITLE} characters", field="title", code="too_long"
        )
    if not content.strip():
        raise InvalidInput("content must not be empty", field="content", code="empty")
    if len(content) > MAX_CONTENT:
        raise InvalidInput(
            f"content is longer than {MAX_CONTENT} characters", field="content", code="too_long"
        )
    if len(_OPEN.findall(content)) != len(_PARAM.findall(content)):
        raise InvalidInput(
            "content has a {{ that is not a parameter: write {{name}} (1-64 characters, "
            "no spaces or braces)",
            field="content",
            code="invalid_parameter",
        )


def check_number(number: int, *, field: str = "number") -> int:
    """A template number: 0 to 999999 (the range of MediaSMS ``smstextid``)."""
    if isinstance(number, bool) or not 0 <= number <= MAX_NUMBER:
        raise InvalidInput(
            f"{field} must be a number from 0 to {MAX_NUMBER}", field=field, code="invalid_number"
        )
    return number


def render(content: str, params: Mapping[str, str], *, field: str = "templateParams") -> str:
    """The text with every parameter replaced; every parameter needs a value, and every value
    must belong to a parameter (a misspelt name is an error, not silently dropped)."""
    names = parameters(content)
    missing = [n for n in names if n not in params]
    if missing:
        raise InvalidInput(
            f"{field} lacks a value for {', '.join(missing)}",
            field=f"{field}.{missing[0]}",
            code="missing_parameter",
        )
    unknown = [n for n in params if n not in names]
    if unknown:
        raise InvalidInput(
            f"{field} names {', '.join(unknown)}, which the template does not have",
            field=f"{field}.{unknown[0]}",
            code="unknown_parameter",
        )
    for name, value in params.items():
        if "\x00" in value:
            raise InvalidInput(
                f"{field}.{name} must not contain NUL", field=f"{field}.{name}", code="invalid"
            )
        if len(value) > MAX_PARAMETER_VALUE:
            raise InvalidInput(
                f"{field}.{name} is longer than {MAX_PARAMETER_VALUE} characters",
                field=f"{field}.{name}",
                code="too_long",
            )
    return _PARAM.sub(lambda m: params[m.group(1)], content)
