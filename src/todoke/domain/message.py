"""Messages as the rest of todoke sees them: plain records, no database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account. ``id`` is the clientId of the 絶対リーチ! API."""

    id: int
    name: str
    role: str = "client"  # client | agency_viewer
    active: bool = True
    sender_codes: tuple[str, ...] = ()
    default_sender_code: str | None = None

    @property
    def may_read_all(self) -> bool:
        """Agency viewers may read every account's figures (separatedsuccesscount all)."""
        return self.role == "agency_viewer"


@dataclass(slots=True)
class Message:
    """One stored message (one row of ``messages``). Times are epoch milliseconds, UTC.

    Not frozen (but never changed: copy with ``dataclasses.replace``): a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, five times the cost, and one is
    made per accepted message (docs/performance.md, Round 3).
    """

    id: str
    account_id: int
    to: str
    text: str
    encoding: str
    parts: int
    characters: int
    status: str
    status_group: int
    created_at: int
    updated_at: int
    validity_until: int
    sender_code: str | None = None
    carrier: str | None = None
    carrier_explicit: bool = False
    client_tag: str | None = None
    group_tag: str | None = None
    webhook_url: str | None = None
    schedule_at: int | None = None
    error_code: str | None = None
    cause: str | None = None
    attempts: int = 0
    delivered_parts: int = 0
    billable_parts: int = 0
    due_at: int | None = None
    sent_at: int | None = None
    done_at: int | None = None
    batch_id: str | None = None  # the bulk upload it came in (MediaSMS CSV)
    facade_data: str | None = None  # JSON object a compatible façade keeps with the message


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """One status change of a message (append-only history)."""

    id: int
    message_id: str
    status: str
    status_group: int
    created_at: int
    error_code: str | None = None
    attempt: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Criteria of a message listing; every listing is scoped to one account."""

    client_tag: str | None = None
    group_tag: str | None = None
    status_group: int | None = None
    status: str | None = None
    to: str | None = None
    created_from: int | None = None
    created_to: int | None = None
    updated_from: int | None = None
    updated_to: int | None = None
    before_id: str | None = None  # cursor: ids sort by creation time
    limit: int = 100
    final: bool | None = None  # True: only final statuses; False: only pending ones
    sent_from: int | None = None
    sent_to: int | None = None
