"""Read-only views over stored messages that the compatible APIs need beyond ``/v1``'s
listing: scheduled messages by time, messages by send day, billable parts per carrier.

The billable count is ``billable_parts`` of the message rows (delivered parts, or every part
of a message whose tracked link was clicked), by the JST month of ``sent_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol

from todoke.domain import status
from todoke.domain.message import Account, Message
from todoke.errors import InvalidInput
from todoke.services.messages import JST, to_ms


class MessageReportPort(Protocol):
    async def scheduled(
        self,
        account_id: int,
        *,
        status: str,
        sender_code: str | None,
        group_tag: str | None,
        schedule_from: int | None,
        schedule_to: int | None,
    ) -> list[Message]: ...

    async def sent_between(self, account_id: int, *, start: int, end: int) -> list[Message]: ...

    async def billable_by_carrier(
        self, account_ids: Sequence[int], *, start: int, end: int
    ) -> dict[int, dict[str, int]]: ...


def day_start(day: date) -> int:
    """Epoch ms of 00:00 JST of ``day``."""
    return to_ms(datetime.combine(day, time(), JST))


class MessageReports:
    def __init__(self, store: MessageReportPort) -> None:
        self._store = store

    async def scheduled(
        self,
        account: Account,
        *,
        sender_code: str | None = None,
        group_tag: str | None = None,
        schedule_from: int | None = None,
        schedule_to: int | None = None,
    ) -> list[Message]:
        """Messages still waiting for their schedule time, earliest first."""
        return await self._store.scheduled(
            account.id,
            status=status.SCHEDULED.name,
            sender_code=sender_code,
            group_tag=group_tag,
            schedule_from=schedule_from,
            schedule_to=schedule_to,
        )

    async def sent_on(self, account: Account, day: date) -> list[Message]:
        """Messages whose send day (JST) is ``day``: their schedule time, or when they were
        accepted if they were not scheduled. Oldest first."""
        start = day_start(day)
        return await self._store.sent_between(
            account.id, start=start, end=day_start(day + timedelta(days=1))
        )

    async def monthly_billable(
        self, account_ids: Sequence[int], year: int, month: int, *, today: date
    ) -> dict[int, dict[str, int]]:
        """Billable parts per account and carrier in a JST month; the current month counts
        up to the end of the previous day (a day's figures are complete only once it is over)."""
        first = date(year, month, 1)
        if first > today:
            raise InvalidInput("month is in the future", field="month", code="future_month")
        following = date(year + month // 12, month % 12 + 1, 1)
        end = min(following, today)
        if end <= first:
            return {}
        return await self._store.billable_by_carrier(
            account_ids, start=day_start(first), end=day_start(end)
        )
