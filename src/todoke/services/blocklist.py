"""Opt-out and DND lists: numbers that must not receive messages.

Each account has its own list (``/v1/blocklist``); account 0 is the platform-wide list that only
operators edit (``todoke blocklist … --platform``). A send to a listed number is stored as a
final REJECTED message and never reaches a carrier (see ``domain/protection.py``).

An inbound reply that *is* an opt-out keyword (配信停止, ていし, STOP by default) puts its sender
on the account's list with reason ``keyword``: :meth:`BlocklistService.opt_out_reply`.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog

from todoke.domain import phone
from todoke.domain.protection import (
    BLOCK_REASONS,
    DEFAULT_OPT_OUT_KEYWORDS,
    PLATFORM,
    BlockEntry,
    opt_out_keyword,
)
from todoke.errors import InvalidInput, InvalidPhoneNumber, NotFound
from todoke.services.ports import ProtectionStorePort

log = structlog.get_logger(__name__)

_MAX_NOTE = 200
_MAX_IMPORT_ROWS = 200_000
_MAX_REPORTED_ERRORS = 100
_HEADER_WORDS = frozenset({"number", "to", "phone", "tel", "電話番号", "携帯番号", "宛先"})


@dataclass(frozen=True, slots=True)
class OptOut:
    """An inbound reply that opted its sender out of an account's messages."""

    account_id: int
    number: str  # E.164
    keyword: str
    added: bool  # False: the number was already on the account's list


@dataclass(slots=True)
class ImportReport:
    """What a CSV import did: counts and the first problems, by line number (1-based)."""

    added: int = 0
    already_listed: int = 0
    invalid: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


OptOutCallback = Callable[[OptOut], Awaitable[None]]


def _ms() -> int:
    return time.time_ns() // 1_000_000


class BlocklistService:
    """Blocklist entries of one account at a time (``PLATFORM``: the platform-wide list)."""

    def __init__(
        self,
        store: ProtectionStorePort,
        *,
        opt_out_keywords: Iterable[str] = DEFAULT_OPT_OUT_KEYWORDS,
    ) -> None:
        self._store = store
        self.opt_out_keywords = tuple(opt_out_keywords)

    async def add(
        self, account_id: int, number: str, *, reason: str = "manual", note: str | None = None
    ) -> tuple[BlockEntry, bool]:
        """List a number; returns the entry and whether it is new (an existing entry stays)."""
        e164 = phone.normalize(number)
        if reason not in BLOCK_REASONS:
            raise InvalidInput(f"reason must be one of {', '.join(BLOCK_REASONS)}", field="reason")
        note = _note(note)
        (added,) = await self._store.blocklist_add(account_id, [(e164, reason, note)], now=_ms())
        entry = await self._store.blocklist_get(account_id, e164)
        assert entry is not None
        return entry, added

    async def remove(self, account_id: int, number: str) -> None:
        e164 = phone.normalize(number)
        if not await self._store.blocklist_remove(account_id, e164):
            raise NotFound("the number is not on the list")

    async def get(self, account_id: int, number: str) -> BlockEntry:
        entry = await self._store.blocklist_get(account_id, phone.normalize(number))
        if entry is None:
            raise NotFound("the number is not on the list")
        return entry

    async def entries(
        self, account_id: int, *, after: str | None = None, limit: int = 100
    ) -> list[BlockEntry]:
        return await self._store.blocklist_list(account_id, after=after, limit=limit)

    async def import_csv(
        self, account_id: int, data: bytes | str, *, reason: str = "import"
    ) -> ImportReport:
        """Add the numbers of a CSV file: the number in the first column, an optional note in
        the second. A header line is recognised and skipped. UTF-8 (with or without BOM) and
        Shift_JIS (cp932, what Japanese Excel writes) are read. Bad lines are reported, the
        good ones are added."""
        text = _decode(data) if isinstance(data, bytes) else data
        report = ImportReport()
        entries: list[tuple[str, str, str | None]] = []
        lines: list[int] = []
        seen: set[str] = set()
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise InvalidInput(f"the file is not valid CSV: {exc}", field="file") from None
        if len(rows) > _MAX_IMPORT_ROWS:
            raise InvalidInput(
                f"at most {_MAX_IMPORT_ROWS} lines per import", field="file", code="too_many"
            )
        for line, row in enumerate(rows, start=1):
            cells = [c.strip() for c in row]
            if not cells or not cells[0]:
                continue
            if line == 1 and cells[0].lower() in _HEADER_WORDS:
                continue
            try:
                number = phone.normalize(cells[0])
                note = _note(cells[1] if len(cells) > 1 and cells[1] else None)
            except InvalidInput as exc:
                report.invalid += 1
                if len(report.errors) < _MAX_REPORTED_ERRORS:
                    report.errors.append((line, exc.message))
                continue
            if number in seen:
                report.already_listed += 1
                continue
            seen.add(number)
            entries.append((number, reason, note))
            lines.append(line)
        for start in range(0, len(entries), 1000):
            flags = await self._store.blocklist_add(
                account_id, entries[start : start + 1000], now=_ms()
            )
            report.added += sum(flags)
            report.already_listed += len(flags) - sum(flags)
        log.info(
            "blocklist.imported",
            account_id=account_id,
            added=report.added,
            already=report.already_listed,
            invalid=report.invalid,
        )
        return report

    async def opt_out_reply(
        self,
        account_id: int,
        from_number: str,
        text: str,
        *,
        on_opt_out: OptOutCallback | None = None,
    ) -> bool:
        """Handle an inbound reply: when its text is an opt-out keyword, put the sender on the
        account's list (reason ``keyword``) and call ``on_opt_out``.

        Returns True when the reply was an opt-out (the number is on the account's list
        afterwards, newly or already: :attr:`OptOut.added` tells which); False for any other
        reply, and for a sender that is not a number messages can be sent to.
        """
        keyword = opt_out_keyword(text, self.opt_out_keywords)
        if keyword is None or account_id == PLATFORM:
            return False
        try:
            number = phone.normalize(from_number)
        except InvalidPhoneNumber:
            return False
        (added,) = await self._store.blocklist_add(
            account_id, [(number, "keyword", f"reply: {keyword}")], now=_ms()
        )
        log.info("blocklist.opted_out", account_id=account_id, keyword=keyword, added=added)
        if on_opt_out is not None:
            await on_opt_out(OptOut(account_id, number, keyword, added))
        return True


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    if len(note) > _MAX_NOTE:
        raise InvalidInput(f"note is longer than {_MAX_NOTE} characters", field="note")
    return note


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is neither UTF-8 nor Shift_JIS text", field="file", code="invalid_encoding"
        ) from None
