"""Number cleaning (名義人変更判定) from imported number events.

The operator imports files of subscriber events (``todoke numbers import FILE.csv``, format in
``domain/cleaning.py`` and docs/links.md); the native ``/v1/numbers/{number}/cleaning`` and the
絶対リーチ! ``numbercleaning.json`` answer from them. The data is the platform's reference data
(like the ported-number table), the same for every account.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from todoke.domain import cleaning, phone
from todoke.domain.cleaning import Cleaning, NumberEvent
from todoke.errors import InvalidInput
from todoke.services.messages import JST, now_ms

IMPORT_CHUNK = 5000
MAX_REPORTED_ERRORS = 100


class NumberEventStorePort(Protocol):
    async def insert(self, events: Sequence[NumberEvent], *, source: str, now: int) -> int:
        """Store events, skipping those already stored; returns how many were new."""
        ...

    async def events(self, number: str) -> list[NumberEvent]: ...


@dataclass(frozen=True, slots=True)
class CleaningResult:
    number: str  # E.164
    reference: date
    status: Cleaning


@dataclass(slots=True)
class ImportReport:
    """What an import did; ``errors`` are (line, message) of refused rows."""

    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    error_count: int = 0


def today_jst() -> date:
    return datetime.now(JST).date()


def read_csv(text: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a number-events CSV; the header row and blank or ``#`` lines
    are skipped. The header is optional; when present it must be ``number,event,date``."""
    reader = csv.reader(text)
    for fields in reader:
        line = reader.line_num
        if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
            continue
        if line == 1 or (fields and fields[0].strip().lstrip("\ufeff").lower() == "number"):
            names = tuple(f.strip().lstrip("\ufeff").lower() for f in fields)
            if names == cleaning.HEADER:
                continue
        yield line, fields


class NumberCleaningService:
    def __init__(self, store: NumberEventStorePort) -> None:
        self._store = store

    async def judge(
        self, number: str, reference: date, *, today: date | None = None
    ) -> CleaningResult:
        """The cleaning status of ``number`` for ``reference`` (within the last two years)."""
        e164 = phone.normalize(number)
        cleaning.check_reference(reference, today or today_jst())
        events = await self._store.events(e164)
        return CleaningResult(e164, reference, cleaning.judge(events, reference))

    async def import_csv(
        self, text: str | io.TextIOBase, *, source: str, skip_invalid: bool = False
    ) -> ImportReport:
        """Import a number-events CSV. Without ``skip_invalid`` a file with any bad row
        imports nothing (the report lists the bad rows); with it, the good rows are imported."""
        lines: Iterable[str] = io.StringIO(text) if isinstance(text, str) else text
        report = ImportReport()
        good: list[NumberEvent] = []
        for line, fields in read_csv(lines):
            report.rows += 1
            try:
                good.append(cleaning.parse_row(fields))
            except InvalidInput as exc:
                report.error_count += 1
                if len(report.errors) < MAX_REPORTED_ERRORS:
                    report.errors.append((line, exc.message))
        if report.error_count and not skip_invalid:
            return report
        now = now_ms()
        for i in range(0, len(good), IMPORT_CHUNK):
            chunk = good[i : i + IMPORT_CHUNK]
            report.inserted += await self._store.insert(chunk, source=source, now=now)
        report.duplicates = len(good) - report.inserted
        return report
