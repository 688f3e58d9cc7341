"""Number cleaning (電話番号クリーニング, 名義人変更判定): has the subscriber of a number
changed since a reference date?

todoke cannot observe subscriber changes: the answer comes from imported *number events*, one
per line of a CSV file (``todoke numbers import FILE.csv``)::

    number,event,date
    090-1234-5678,contracted,2021-04-01
    090-1234-5678,deactivated,2024-02-29
    08011112222,contracted,20240315

``event`` is ``contracted`` (a subscriber's contract on the number began: a new number, or a
number reassigned to someone else) or ``deactivated`` (the contract ended: 解約). ``date`` is
the JST day, ``YYYY-MM-DD`` or ``YYYYMMDD``. The decision for a reference day R:

* no event for the number: ``ERROR`` (判定 DB になく判定不可);
* an event after R (a contract ended or began after R): ``T``, the holder on R is not (or no
  longer) the holder today (他人名義);
* else, the last event on or before R is ``deactivated``: ``T``, nobody held it on R, so the
  person the customer associates with it did not either;
* else (the last event on or before R is ``contracted``, nothing since): ``N`` (本人).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from todoke.domain import phone
from todoke.errors import InvalidInput

# The 絶対リーチ! API accepts reference dates from two years ago to today.
REFERENCE_YEARS = 2


class Cleaning(enum.StrEnum):
    """The judgement, valued as the 絶対リーチ! ``status``."""

    CHANGED = "T"  # 他人名義と判定された
    SAME = "N"  # 本人
    UNKNOWN = "ERROR"  # 判定 DB になく判定不可


class NumberEventKind(enum.StrEnum):
    CONTRACTED = "contracted"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class NumberEvent:
    """One imported event of a number (``day`` as YYYYMMDD)."""

    number: str  # E.164
    kind: NumberEventKind
    day: int


def judge(events: Sequence[NumberEvent], reference: date) -> Cleaning:
    """The cleaning status of a number with these events for reference day ``reference``."""
    if not events:
        return Cleaning.UNKNOWN
    ref = day_number(reference)
    if any(e.day > ref for e in events):
        return Cleaning.CHANGED
    # Same day: a deactivation and a new contract on one day leave the new one in force.
    last = max(events, key=lambda e: (e.day, e.kind is NumberEventKind.CONTRACTED))
    return Cleaning.CHANGED if last.kind is NumberEventKind.DEACTIVATED else Cleaning.SAME


def day_number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def earliest_reference(today: date) -> date:
    """The first reference day accepted: the same day two years ago (28 Feb for 29 Feb)."""
    try:
        return today.replace(year=today.year - REFERENCE_YEARS)
    except ValueError:
        return today.replace(year=today.year - REFERENCE_YEARS, day=28)


def check_reference(reference: date, today: date, *, field: str = "referenceDate") -> date:
    """Refuse a reference day in the future or more than two years back."""
    if reference > today:
        raise InvalidInput(f"{field} is in the future", field=field, code="future_date")
    if reference < earliest_reference(today):
        raise InvalidInput(
            f"{field} is more than {REFERENCE_YEARS} years ago", field=field, code="too_old"
        )
    return reference


_DAY = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
HEADER = ("number", "event", "date")


def parse_day(value: str, *, field: str = "date") -> date:
    """``YYYY-MM-DD`` or ``YYYYMMDD``."""
    match = _DAY.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(f"{field} must be YYYY-MM-DD or YYYYMMDD", field=field)
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise InvalidInput(f"{field} is not a calendar date", field=field) from None


def parse_row(fields: Sequence[str]) -> NumberEvent:
    """One CSV row (number, event, date) as an event; :class:`InvalidInput` saying why not."""
    if len(fields) != 3:
        raise InvalidInput(f"expected 3 fields (number,event,date), got {len(fields)}")
    number = phone.normalize(fields[0].strip())
    try:
        kind = NumberEventKind(fields[1].strip().lower())
    except ValueError:
        raise InvalidInput(
            "event must be contracted or deactivated", field="event", code="invalid_event"
        ) from None
    return NumberEvent(number, kind, day_number(parse_day(fields[2])))
