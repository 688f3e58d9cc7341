"""Reports: usage counts per account, carrier, day and month, and CSV exports of results.

Usage: counted, not maintained
------------------------------
The figures are a query over the message rows, not counters updated with each status change.
Counters would be cheaper to read, but every path that changes what is counted would have to
keep them right: the accept path, the delivery engine's transitions, cancellation, and the
billing of a clicked link (MediaSMS bills リダイレクト) that another part of todoke records;
one missed path and the figures drift from the messages for good, which is exactly what the
figures must never do. A query over ``(account_id, sent_at)`` is the count by definition,
costs the write path one index, and reads a month of one account in one pass; a day's
figures are final once it is ``ready``, so a client may cache those.

Definitions (JST days):

* ``sent``: messages first handed to a carrier that day (``sent_at``); ``parts`` their parts.
* ``delivered`` / ``failed``: of those, the ones now DELIVERED / UNDELIVERABLE, EXPIRED or
  REJECTED. The rest are still pending.
* ``billableParts``: delivered parts (and those billed for a clicked link); failures never.
* ``notSent``: messages created that day that ended without reaching a carrier (refused,
  cancelled, no route, expired while queued). Never billable.
* ``state``: ``unready`` while the day is not over or a message sent that day is still
  pending within its validity period plus the receipt grace period (its receipt may still
  come and change the figures, seeds/001); ``ready`` afterwards. A month is ready when it is
  over and each of its days is.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

from todoke.domain import phone, status
from todoke.domain.carrier import Carrier
from todoke.domain.message import Message
from todoke.domain.status import Cause
from todoke.domain.status_maps import mediasms_pending_view, mediasms_view, zettai_reach_view
from todoke.errors import Forbidden, InvalidInput
from todoke.services.messages import now_ms

JST = timezone(timedelta(hours=9), "JST")
DAY_MS = 86_400_000
JST_OFFSET_MS = 9 * 3600 * 1000
READY = "ready"
UNREADY = "unready"
ENCODINGS = ("utf-8", "utf-8-bom", "shift_jis")


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Counts of one (JST day, carrier); ``open`` = sent messages that may still change."""

    day: int  # days since 1970-01-01 in JST
    carrier: str | None
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    not_sent: int = 0
    parts: int = 0
    billable_parts: int = 0
    open: int = 0


class ReportStorePort(Protocol):
    async def usage(
        self, account_id: int, *, start: int, end: int, now: int, grace_ms: int
    ) -> Sequence[UsageRow]: ...

    def stream(
        self,
        account_id: int,
        *,
        start: int,
        end: int,
        group_tag: str | None = None,
        status_group: int | None = None,
        partition: int = 1000,
    ) -> AsyncIterator[list[Message]]: ...


@dataclass(slots=True)
class Counts:
    """Figures of one carrier, day or month."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    not_sent: int = 0
    parts: int = 0
    billable_parts: int = 0

    def add(self, row: UsageRow | Counts) -> None:
        self.sent += row.sent
        self.delivered += row.delivered
        self.failed += row.failed
        self.not_sent += row.not_sent
        self.parts += row.parts
        self.billable_parts += row.billable_parts


@dataclass(slots=True)
class Period:
    """Usage of one day or one month: totals, per carrier, per day, and whether final."""

    label: str  # YYYY-MM-DD or YYYYMM
    state: str
    totals: Counts = field(default_factory=Counts)
    carriers: dict[str, Counts] = field(default_factory=dict)
    days: list[Period] = field(default_factory=list)


def _day_start_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=JST).timestamp() * 1000)


def parse_month(value: str) -> date:
    """``YYYYMM`` (or ``YYYY-MM``) as the first day of that month."""
    raw = value.replace("-", "")
    try:
        if len(raw) != 6 or not raw.isdigit():
            raise ValueError
        return date(int(raw[:4]), int(raw[4:]), 1)
    except ValueError:
        raise InvalidInput("month must be YYYYMM", field="month", code="invalid_month") from None


def parse_day(value: str, field_name: str = "date") -> date:
    """``YYYYMMDD`` or ``YYYY-MM-DD``."""
    raw = value.replace("-", "")
    try:
        if len(raw) != 8 or not raw.isdigit():
            raise ValueError
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise InvalidInput(
            f"{field_name} must be YYYYMMDD or YYYY-MM-DD", field=field_name, code="invalid_date"
        ) from None


def parse_moment(value: str, field_name: str, *, end: bool) -> int:
    """A period bound: a date (start of that JST day; the day after it for ``end``, so that
    ``to=2026-11-30`` includes the 30th) or an ISO 8601 time (JST without an offset)."""
    raw = value.strip()
    if len(raw.replace("-", "")) == 8 and raw.replace("-", "").isdigit():
        d = parse_day(raw, field_name)
        return _day_start_ms(d + timedelta(days=1) if end else d)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            f"{field_name} must be a date (YYYY-MM-DD) or an ISO 8601 time",
            field=field_name,
            code="invalid_date",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return int(moment.timestamp() * 1000)


class ReportService:
    """Usage figures and CSV exports, scoped like every read to the asking account."""

    def __init__(self, store: ReportStorePort, *, receipt_grace_ms: int) -> None:
        self._store = store
        self._grace_ms = receipt_grace_ms

    @staticmethod
    def target_account(asking_id: int, may_read_all: bool, client_id: int | None) -> int:
        """Whose figures: one's own, or any account's for an agency viewer."""
        if client_id is None or client_id == asking_id:
            return asking_id
        if not may_read_all:
            raise Forbidden("this token may read its own account's figures only")
        return client_id

    async def month(self, account_id: int, month: date, *, now: int | None = None) -> Period:
        now = now if now is not None else now_ms()
        first = month.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        rows = await self._store.usage(
            account_id,
            start=_day_start_ms(first),
            end=_day_start_ms(nxt),
            now=now,
            grace_ms=self._grace_ms,
        )
        days = self._days(rows, now)
        period = Period(label=f"{first:%Y%m}", state=READY, days=days)
        for day in days:
            period.totals.add(day.totals)
            for carrier, counts in day.carriers.items():
                period.carriers.setdefault(carrier, Counts()).add(counts)
        month_over = _day_start_ms(nxt) <= now
        if not month_over or any(d.state == UNREADY for d in days):
            period.state = UNREADY
        return period

    async def day(self, account_id: int, day: date, *, now: int | None = None) -> Period:
        now = now if now is not None else now_ms()
        start = _day_start_ms(day)
        rows = await self._store.usage(
            account_id,
            start=start,
            end=start + DAY_MS,
            now=now,
            grace_ms=self._grace_ms,
        )
        days = self._days(rows, now)
        if days:
            return days[0]
        return Period(label=day.isoformat(), state=READY if start + DAY_MS <= now else UNREADY)

    @staticmethod
    def _days(rows: Sequence[UsageRow], now: int) -> list[Period]:
        by_day: dict[int, Period] = {}
        open_by_day: dict[int, int] = {}
        for r in rows:
            label = (date(1970, 1, 1) + timedelta(days=r.day)).isoformat()
            period = by_day.setdefault(r.day, Period(label=label, state=READY))
            period.totals.add(r)
            period.carriers.setdefault(r.carrier or "unknown", Counts()).add(r)
            open_by_day[r.day] = open_by_day.get(r.day, 0) + r.open
        for epoch_day, period in by_day.items():
            day_end = epoch_day * DAY_MS - JST_OFFSET_MS + DAY_MS
            if day_end > now or open_by_day.get(epoch_day, 0):
                period.state = UNREADY
        return [by_day[k] for k in sorted(by_day)]

    # --- CSV ------------------------------------------------------------------------------

    async def export_csv(
        self,
        account_id: int,
        *,
        start: int,
        end: int,
        encoding: str = "utf-8",
        group_tag: str | None = None,
        status_group: int | None = None,
    ) -> AsyncIterator[bytes]:
        """The messages created in [start, end) as CSV, one row each, in chunks of bytes."""
        if encoding not in ENCODINGS:
            raise InvalidInput(f"encoding must be one of {', '.join(ENCODINGS)}", field="encoding")
        if end <= start:
            raise InvalidInput("to must be after from", field="to", code="invalid_range")
        return _csv_chunks(
            self._store.stream(
                account_id, start=start, end=end, group_tag=group_tag, status_group=status_group
            ),
            encoding,
        )


CSV_COLUMNS = (
    "id",
    "to",
    "from",
    "clientTag",
    "groupTag",
    "carrier",
    "status",
    "statusId",
    "statusGroup",
    "error",
    "errorId",
    "detailCode",
    "mediaSmsStatus",
    "cause",
    "parts",
    "deliveredParts",
    "billableParts",
    "attempts",
    "createdAt",
    "sentAt",
    "doneAt",
)


async def _csv_chunks(batches: AsyncIterator[list[Message]], encoding: str) -> AsyncIterator[bytes]:
    # Shift_JIS as Excel reads it is Microsoft's cp932 (it has ～, ∥, －, ￢ where strict
    # Shift_JIS has none); a character it cannot hold becomes "?".
    codec = "cp932" if encoding == "shift_jis" else "utf-8"
    encoder = codecs.getincrementalencoder(codec)(errors="replace")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    head = encoder.encode(buffer.getvalue())
    yield (codecs.BOM_UTF8 + head) if encoding == "utf-8-bom" else head
    async for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_row(m) for m in batch)
        yield encoder.encode(buffer.getvalue())


def _stamp(ms: int | None) -> str:
    return "" if ms is None else _second(ms // 1000)


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    # Rows come in time order, so consecutive rows share their second: format each once.
    return datetime.fromtimestamp(seconds, JST).strftime("%Y-%m-%d %H:%M:%S")


def _hyphenated(number: str) -> str:
    """MediaSMS CSV form: domestic numbers with hyphens, foreign ones without."""
    try:
        return phone.format_hyphenated(number)
    except InvalidInput:
        return number.removeprefix("+")


def _views(m: Message) -> tuple[str, str]:
    """(絶対リーチ! detailedStatusId, MediaSMS status label) of a message, "" where none."""
    return _views_of(m.status, m.cause, m.carrier)


@functools.lru_cache(maxsize=1024)
def _views_of(
    status_name: str, cause_name: str | None, carrier_name: str | None
) -> tuple[str, str]:
    st = status.STATUSES[status_name]
    try:
        cause = (
            Cause(cause_name)
            if cause_name
            else (Cause.CANCELLED if st is status.CANCELLED else None)
        )
    except ValueError:
        cause = None
    try:
        carrier = Carrier(carrier_name) if carrier_name else None
    except ValueError:
        carrier = None
    detail, label = "", ""
    try:
        detail = zettai_reach_view(cause, carrier, final=st.final).detailed_status_id or ""
        label = (
            mediasms_view(cause, carrier, final=True).label
            if st.final
            else mediasms_pending_view(st).label
        )
    except (ValueError, KeyError):
        pass
    return detail, label


def _cell(value: str | None) -> str:
    """A customer-given text, kept from being read as a formula by a spreadsheet."""
    if not value:
        return ""
    return f"'{value}" if value[0] in "=+-@\t\r" else value


def csv_row(m: Message) -> list[Any]:
    """One CSV row of a message, in ``CSV_COLUMNS`` order."""
    st = status.STATUSES[m.status]
    err = status.ERRORS.get(m.error_code) if m.error_code else None
    detail, label = _views(m)
    return [
        m.id,
        _hyphenated(m.to),
        m.sender_code or "",
        _cell(m.client_tag),
        _cell(m.group_tag),
        m.carrier or "",
        st.name,
        st.id,
        st.group_id,
        err.name if err else "",
        err.id if err else "",
        detail,
        label,
        m.cause or "",
        m.parts,
        m.delivered_parts,
        m.billable_parts,
        m.attempts,
        _stamp(m.created_at),
        _stamp(m.sent_at),
        _stamp(m.done_at),
    ]
