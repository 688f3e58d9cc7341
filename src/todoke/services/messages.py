"""Use cases of messages: accept (one or a batch), read, list, cancel.

Every edge (the native ``/v1`` API, the compatible façades, the portal, the CLI) sends through
:class:`MessageService`; the rules live here and in ``domain/``, never in an edge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from todoke.domain import phone, status, text
from todoke.domain.carrier import Carrier
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Account, Message, MessageEvent, MessageFilter
from todoke.errors import InvalidInput, MaintenanceRefused
from todoke.services.maintenance import MaintenanceCalendar
from todoke.services.ports import AcceptResult, IdempotencyRequest, MessageStorePort
from todoke.services.protection import Protection

JST = timezone(timedelta(hours=9), "JST")

# A scheduleAt this close to now (or slightly in the past, clock skew) is sent at once.
_SCHEDULE_SKEW_MS = 60_000
_MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000
_MAX_TAG = 200
_MAX_URL = 2048


def now_ms() -> int:
    """The current time in epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime; a naive one is taken as JST."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class SendRequest:
    """One message to send, in domain terms (an edge has already parsed its own format).

    Not frozen (but never changed: copy with ``dataclasses.replace``): a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, five times the cost, and one is
    made per accepted message (docs/performance.md, Round 3).
    """

    to: str
    text: str
    sender_code: str | None = None
    client_tag: str | None = None
    group_tag: str | None = None
    schedule_at: datetime | None = None
    validity_seconds: int | None = None
    carrier: Carrier | None = None
    webhook_url: str | None = None
    max_characters: int | None = None  # a façade's own limit; default: the platform's
    batch_id: str | None = None  # the bulk upload it belongs to
    hold: bool = False  # stored but not queued until its batch is released (all-or-nothing)
    facade_data: str | None = None  # JSON object kept for the façade that sent it
    message_id: str | None = None  # chosen by the caller (tracked links need it beforehand)


@dataclass(frozen=True, slots=True)
class MessagePolicy:
    """Platform limits that apply to every send (from the settings)."""

    default_validity_seconds: int = 48 * 3600
    max_validity_seconds: int = 7 * 24 * 3600
    max_text_characters: int = 660


class MessageService:
    """Accept, read and cancel messages for one account at a time."""

    def __init__(
        self,
        store: MessageStorePort,
        policy: MessagePolicy,
        calendar: MaintenanceCalendar | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._calendar = calendar
        self.on_accepted: Callable[[], None] | None = None  # wakes the dispatcher
        self.protection: Protection | None = None  # rate limits, quotas and guards

    # --- accept ------------------------------------------------------------------------

    def prepare(self, account: Account, req: SendRequest, now: int) -> dict[str, Any]:
        """Validate one send and build its row; raises :class:`InvalidInput` naming the field."""
        to = phone.normalize(req.to)
        info = text.analyze(
            req.text, max_characters=req.max_characters or self._policy.max_text_characters
        )
        sender = self._sender_code(account, req.sender_code)
        client_tag = _tag(req.client_tag, "clientTag")
        group_tag = _tag(req.group_tag, "groupTag")
        schedule_at = self._schedule(req.schedule_at, now)
        validity = self._validity(req.validity_seconds)
        if req.webhook_url is not None:
            _check_url(req.webhook_url)
        carrier = req.carrier or phone.carrier_of_block(to)
        start = schedule_at if schedule_at is not None else now
        initial = status.SCHEDULED if schedule_at is not None else status.ACCEPTED
        return {
            "id": req.message_id or time_ordered_id(now),
            "account_id": account.id,
            "sender_code": sender,
            "to_number": to,
            "text": req.text,
            "encoding": info.encoding,
            "parts": info.parts,
            "characters": info.characters,
            "carrier": carrier.value if carrier else None,
            "carrier_explicit": req.carrier is not None,
            "client_tag": client_tag,
            "group_tag": group_tag,
            "webhook_url": req.webhook_url,
            "schedule_at": schedule_at,
            "validity_until": start + validity * 1000,
            "status": initial.name,
            "status_group": initial.group_id,
            "due_at": None if req.hold else start,
            "created_at": now,
            "updated_at": now,
            "batch_id": req.batch_id,
            "facade_data": req.facade_data,
            "error_code": None,  # set with the next two when a guard refuses the message
            "cause": None,
            "done_at": None,
        }

    async def send(
        self,
        account: Account,
        requests: Sequence[SendRequest],
        *,
        idempotency: IdempotencyRequest | None = None,
    ) -> AcceptResult:
        """Validate and durably store a batch; returns one result per request, in order.

        A request that breaks a rule yields its :class:`InvalidInput` in its place; the valid
        ones are stored in one transaction. With an ``idempotency`` key that was seen before,
        the stored answer is returned (:class:`~todoke.services.ports.Replay`).

        With :attr:`protection` set, the account's rate limit is taken first (a batch counts
        its messages; :class:`~todoke.errors.RateLimited`), a message that a guard refuses
        (blocklist, flooding filter, duplicate) is stored as a final REJECTED message, and a
        request over the account's quota raises :class:`~todoke.errors.QuotaExceeded`.
        """
        guard = None
        if self.protection is not None:  # RateLimited before any work
            guard = await self.protection.admit_send(account, len(requests))
        now = now_ms()
        rows: list[dict[str, Any]] = []
        slots: list[int | Exception] = []
        for req in requests:
            try:
                row = self.prepare(account, req, now)
                await self._check_maintenance(row, now)
            except (InvalidInput, MaintenanceRefused) as exc:
                slots.append(exc)
            else:
                rows.append(row)
                slots.append(len(rows) - 1)
        if not rows and idempotency is None:
            return [s for s in slots if isinstance(s, Exception)]

        def render_full(stored: Sequence[Message | Exception]) -> tuple[int, bytes]:
            assert idempotency is not None
            return idempotency.render(_merge(slots, stored))

        keyed = (
            IdempotencyRequest(
                idempotency.key, idempotency.request_hash, idempotency.expires_at, render_full
            )
            if idempotency is not None
            else None
        )
        stored = await self._store.accept(account.id, rows, now=now, idempotency=keyed, guard=guard)
        if not isinstance(stored, list):
            return stored
        if self.on_accepted is not None and any(r["schedule_at"] is None for r in rows):
            self.on_accepted()
        return _merge(slots, stored)

    # --- reads -------------------------------------------------------------------------

    async def get(self, account: Account, message_id: str) -> Message:
        return await self._store.get(account.id, message_id)

    async def find(self, account: Account, flt: MessageFilter) -> list[Message]:
        texts = (flt.client_tag, flt.group_tag, flt.status, flt.to, flt.before_id)
        if any(t and "\x00" in t for t in texts):
            return []  # nothing stored holds NUL (and PostgreSQL refuses it in a query)
        return await self._store.find(account.id, flt)

    async def events(self, account: Account, message_id: str) -> list[MessageEvent]:
        return await self._store.events(account.id, message_id)

    # --- cancellation ----------------------------------------------------------------

    async def cancel(self, account: Account, message_id: str) -> Message:
        """Cancel a message that no carrier has seen yet (scheduled or still queued)."""
        return await self._store.cancel(
            account.id,
            message_id,
            cancellable=status.CANCELLABLE,
            status=status.CANCELLED.name,
            status_group=status.CANCELLED.group_id,
            now=now_ms(),
        )

    async def cancel_scheduled(
        self,
        account: Account,
        *,
        group_tag: str | None = None,
        schedule_from: datetime | None = None,
        schedule_to: datetime | None = None,
    ) -> list[str]:
        """Cancel every scheduled, unsent message matching (all of them when nothing is given)."""
        return await self._store.cancel_many(
            account.id,
            group_tag=group_tag,
            schedule_from=to_ms(schedule_from) if schedule_from else None,
            schedule_to=to_ms(schedule_to) if schedule_to else None,
            cancellable=status.CANCELLABLE,
            status=status.CANCELLED.name,
            status_group=status.CANCELLED.group_id,
            now=now_ms(),
        )

    # --- rules -------------------------------------------------------------------------

    async def _check_maintenance(self, row: dict[str, Any], now: int) -> None:
        if self._calendar is None:
            return
        at = row["schedule_at"] or now
        window = await self._calendar.refusing(row["carrier"], at)
        if window is not None:
            until = datetime.fromtimestamp(window.ends_at / 1000, JST).isoformat(timespec="minutes")
            raise MaintenanceRefused(
                f"{row['carrier'] or 'the carrier'} is under maintenance until {until}; "
                "sends to it are refused"
            )

    @staticmethod
    def _sender_code(account: Account, requested: str | None) -> str | None:
        if requested is None:
            return account.default_sender_code
        if requested not in account.sender_codes:
            raise InvalidInput(
                f"sender code {requested!r} is not one of this account's",
                field="from",
                code="unknown_sender_code",
            )
        return requested

    @staticmethod
    def _schedule(moment: datetime | None, now: int) -> int | None:
        if moment is None:
            return None
        at = to_ms(moment)
        if at < now - _SCHEDULE_SKEW_MS:
            raise InvalidInput("scheduleAt is in the past", field="scheduleAt", code="past_time")
        if at > now + _MAX_SCHEDULE_AHEAD_MS:
            raise InvalidInput(
                "scheduleAt is more than a year ahead", field="scheduleAt", code="too_far"
            )
        return at if at > now else None

    @staticmethod
    def check_schedule(moment: datetime, now: int) -> None:
        """Raise what a send scheduled at ``moment`` would raise (an edge checking the one
        schedule of a whole batch once)."""
        MessageService._schedule(moment, now)

    def _validity(self, seconds: int | None) -> int:
        if seconds is None:
            return self._policy.default_validity_seconds
        if not 60 <= seconds <= self._policy.max_validity_seconds:
            raise InvalidInput(
                f"validityPeriod must be between 60 and {self._policy.max_validity_seconds} s",
                field="validityPeriod",
                code="out_of_range",
            )
        return seconds


def _merge(
    slots: Sequence[int | Exception], stored: Sequence[Message | Exception]
) -> list[Message | Exception]:
    return [s if isinstance(s, Exception) else stored[s] for s in slots]


def _tag(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not value:
        raise InvalidInput(f"{field} must not be empty", field=field, code="empty")
    if "\x00" in value:  # no database text holds NUL (PostgreSQL refuses it)
        raise InvalidInput(f"{field} must not contain NUL", field=field, code="invalid")
    if len(value) > _MAX_TAG:
        raise InvalidInput(
            f"{field} is longer than {_MAX_TAG} characters", field=field, code="too_long"
        )
    return value


def _check_url(url: str) -> None:
    if len(url) > _MAX_URL or not url.startswith(("http://", "https://")) or "\x00" in url:
        raise InvalidInput(
            "webhookUrl must be an http(s) URL of at most 2048 characters",
            field="webhookUrl",
            code="invalid_url",
        )
