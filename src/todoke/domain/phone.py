"""Japanese mobile numbers: normalisation to E.164, display forms and carrier blocks.

Every destination is stored and routed as E.164 (``+819012345678``). :func:`normalize` is the
only way in; it is called for every submitted message, so it is a translate + one regex and never
calls ``phonenumbers.parse``.

What is accepted
----------------
The 絶対リーチ! OpenAPI (seeds/002, reference/zettai-reach-openapi-1.4.7.json) gives two patterns:

* requests (domestic or international): ``^(\\+81|0)(([26789]0[1-9][0-9]{7}$)|(20[1-9][0-9]{10}$))``
* answers (international only):        ``^\\+81(([26789]0[0-9]{8}$)|(20[0-9]{11}$))``

The request pattern forbids a 0 as the digit after ``0X0``; the answer pattern allows it. Numbers
are stored and compared in one form only, so todoke accepts the *union* after normalisation: a
national significant number (NSN, the digits after ``+81``) of

* ``[26789]0`` + 8 digits (070/080/090/060/020, 11 digits written domestically), or
* ``20`` + 11 digits (the 14-digit 020 M2M numbers).

A number whose fourth digit is 0 (``090-0xxx-xxxx``) is therefore accepted (phonenumbers'
carrier data knows no such block, so it routes by explicit carrier or not at all); nothing we
report back can fall outside the answer pattern.

Written forms, after separators are removed:

* domestic ``0`` + NSN: ``09012345678``, ``020-1234-5678-901``;
* ``+81`` + NSN, also with the trunk zero kept (``+81 (0)90 1234 5678`` -> ``+81090…``), which
  people copy from business cards; the NSN never starts with 0, so this is unambiguous;
* ``81`` + NSN without the plus: MediaSMS (seeds/003) documents ``8190…`` for ``mobilenumber``,
  and no domestic number starts with 8, so it is unambiguous too;
* ``0081`` + NSN (the ITU international prefix, as dialled from abroad): no domestic number
  starts with 00.

The trunk zero kept after the country code is tolerated in all three international forms.

Separators tolerated anywhere (users paste from Excel and Word): ASCII and full-width spaces,
tabs, no-break spaces, line breaks; the hyphen family (``-`` ‐ ‑ ‒ – — ― − － and the katakana
prolonged sound marks ー ｰ, which Japanese IMEs produce for a typed hyphen); parentheses ``()``
and ``（）``. Full-width digits ``０``-``９`` and the full-width plus ``＋`` count as their ASCII
forms. Nothing else is accepted: a bare NSN without its leading 0 (what Excel makes of a number
cell) is refused with a message saying so, because guessing would also accept typos.

Error messages name the problem but do not repeat the whole number: they end up in logs.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import carrier as _pn_carrier

from todoke.domain.carrier import Carrier
from todoke.errors import InvalidPhoneNumber

__all__ = ["carrier_of_block", "format_hyphenated", "normalize", "to_domestic"]

# The canonical form; also the fast path of normalize() for numbers that are already E.164.
_NSN = r"(?:[26789]0[0-9]{8}|20[0-9]{11})"
_E164 = re.compile(rf"\+81{_NSN}")
_ACCEPTED = re.compile(rf"(?:0|(?:\+|00)?810?)(?P<nsn>{_NSN})")

_MOBILE_PREFIXES = ("90", "80", "70", "60", "20")
# Longer input is refused before any work is done: the longest accepted form written with
# generous separators ("+81 (0) 20 - 1234 - 5678 - 901") is well under this.
_MAX_RAW_LENGTH = 64

_SEPARATORS = (
    " \t\r\n\u00a0\u3000"  # spaces, tab, line breaks, no-break space, ideographic space
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d"  # hyphens, dashes, minus signs
    "\u30fc\uff70"  # ー ｰ : what a Japanese IME gives for a hyphen typed in kana mode
    "()\uff08\uff09"  # ( ) （ ）
)
_TRANSLATION: dict[int, int | None] = {ord(c): None for c in _SEPARATORS}
_TRANSLATION.update({0xFF10 + d: ord("0") + d for d in range(10)})  # ０-９
_TRANSLATION[0xFF0B] = ord("+")  # ＋


def normalize(raw: str) -> str:
    """Return the E.164 form (``+819012345678``) of a Japanese mobile number.

    Accepts the forms described in the module docstring. Raises :class:`InvalidPhoneNumber`
    (``field="to"``) saying what is wrong: empty, a character that is not a digit, a foreign
    country code, a prefix that is not mobile (landlines such as 03…, 0120…), or a wrong length.
    Idempotent: ``normalize(normalize(x)) == normalize(x)``.
    """
    if _E164.fullmatch(raw):
        return raw
    if len(raw) > _MAX_RAW_LENGTH:
        raise _invalid(f"phone number is too long ({len(raw)} characters)")
    cleaned = raw.translate(_TRANSLATION)
    match = _ACCEPTED.fullmatch(cleaned)
    if match is not None:
        return "+81" + match["nsn"]
    raise _diagnose(cleaned)


def to_domestic(e164: str) -> str:
    """The domestic form ``09012345678`` (any accepted form is taken, see :func:`normalize`)."""
    return "0" + normalize(e164)[3:]


def format_hyphenated(e164: str) -> str:
    """The hyphenated domestic form of MediaSMS result CSVs: ``090-1234-5678``.

    14-digit 020 numbers are written ``020-1234-5678-901``: no standard grouping is published
    for them, and keeping the first three groups as for 11-digit numbers keeps the operator
    block (``020-1234``) readable in the same place.
    """
    domestic = to_domestic(e164)
    head = f"{domestic[:3]}-{domestic[3:7]}-{domestic[7:11]}"
    return head if len(domestic) == 11 else f"{head}-{domestic[11:]}"


def carrier_of_block(e164: str) -> Carrier | None:
    """The carrier the number's block was allocated to, or ``None`` when unknown.

    This is the *allocation*, from phonenumbers' carrier data: a ported number (MNP) keeps its
    old block, so routing must consult the ported-number table first. Blocks of MVNOs and of
    numbers phonenumbers does not know (020, most of 060) give ``None``.
    """
    nsn = normalize(e164)[3:]
    return _carrier_of_prefix(nsn[:_PREFIX_DIGITS])


# phonenumbers' Japanese carrier data keys blocks by at most 5 digits of the NSN ("81" + 5;
# tests/unit/test_phone.py checks this against the installed data). NSNs start with one of
# five two-digit prefixes, so the cache below holds at most 5 * 1000 entries: no eviction needed.
_PREFIX_DIGITS = 5


@functools.cache
def _carrier_of_prefix(prefix: str) -> Carrier | None:
    # name_for_valid_number skips phonenumbers' own validity check: the number has passed ours,
    # and phonenumbers' metadata may lag the numbering plan (14-digit 020 numbers).
    number = phonenumbers.PhoneNumber(country_code=81, national_number=int(prefix.ljust(10, "0")))
    return _carrier_from_name(_pn_carrier.name_for_valid_number(number, "en"))


# Substrings of the casefolded, alphanumeric-only names phonenumbers uses ("NTT Docomo",
# "KDDI", "Okinawa Cellular", "Softbank", "Rakuten Communications") and of spellings it has used
# or may use. Okinawa Cellular is KDDI's au operator in Okinawa. Y!mobile, Willcom and eMobile
# blocks belong to SoftBank since their mergers.
_NAME_HINTS: tuple[tuple[str, Carrier], ...] = (
    ("docomo", Carrier.DOCOMO),
    ("kddi", Carrier.AU),
    ("okinawacellular", Carrier.AU),
    ("softbank", Carrier.SOFTBANK),
    ("ymobile", Carrier.SOFTBANK),
    ("willcom", Carrier.SOFTBANK),
    ("emobile", Carrier.SOFTBANK),
    ("rakuten", Carrier.RAKUTEN),
)
_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def _carrier_from_name(name: str) -> Carrier | None:
    """Map a phonenumbers carrier name to a :class:`Carrier`, case- and spacing-insensitively."""
    key = _NOT_ALNUM.sub("", name.casefold())
    if key in ("au", "aubykddi"):  # "au" alone is too short to search for as a substring
        return Carrier.AU
    for hint, found in _NAME_HINTS:
        if hint in key:
            return found
    return None


def _invalid(message: str) -> InvalidPhoneNumber:
    return InvalidPhoneNumber(message, field="to")


_NOT_DIGIT = re.compile(r"[^0-9]")
_BARE_NSN = re.compile(_NSN)


def _diagnose(cleaned: str) -> InvalidPhoneNumber:
    """Say why ``cleaned`` (separators removed) is not an accepted number."""
    if not cleaned:
        return _invalid("phone number is empty")
    digits = cleaned[1:] if cleaned.startswith("+") else cleaned
    bad = _NOT_DIGIT.search(digits)
    if bad is not None:
        char = bad.group()
        return _invalid(
            f"phone number contains {char!r} (U+{ord(char):04X}); only digits, a leading '+',"
            " spaces, hyphens and parentheses are allowed"
        )
    if not digits:
        return _invalid("phone number has no digits")
    if cleaned.startswith(("+", "00")) or digits.startswith("81"):
        international = digits[2:] if cleaned.startswith("00") else digits
        if not international.startswith("81"):
            return _invalid(
                f"phone number is not Japanese (it starts +{international[:3]}…);"
                " only Japanese mobile numbers (+81) are accepted"
            )
        national = international[2:]
        if national.startswith("0"):  # trunk zero kept after +81
            national = national[1:]
    elif digits.startswith("0"):
        national = digits[1:]
    elif _BARE_NSN.fullmatch(digits):
        return _invalid(
            "phone number lacks its leading 0 (or +81); spreadsheets drop it from number cells"
        )
    else:
        return _invalid("phone number must start with 0 (domestic) or +81 (international)")

    if not national.startswith(_MOBILE_PREFIXES):
        return _invalid(
            f"phone number starting 0{national[:3]} is not a mobile number;"
            " Japanese mobile numbers start with 090, 080, 070, 060 or 020"
        )
    expected = "11 or 14" if national.startswith("20") else "11"
    return _invalid(
        f"phone number has the wrong length: {len(national) + 1} digits written domestically,"
        f" where a number starting 0{national[:2]} has {expected}"
    )
