"""Inbound messages (MO): what a handset sent to one of our sender codes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One stored inbound message.

    ``account_id`` is None when no account could be told (see ``services.inbound`` for the
    rule). ``reply_to`` is the message it answers: the last one sent to ``from_number`` from
    ``to_code``, when there is one.
    """

    id: str
    connector: str
    from_number: str  # E.164 when it is a Japanese mobile number, else as the SMSC sent it
    to_code: str  # our sender code, as the SMSC sent it
    text: str
    received_at: int
    account_id: int | None = None
    reply_to: str | None = None
    reply_to_client_tag: str | None = None


@dataclass(frozen=True, slots=True)
class InboundFilter:
    """Criteria of an inbound listing (always scoped to one account)."""

    from_number: str | None = None
    to_code: str | None = None
    received_from: int | None = None
    received_to: int | None = None
    before_id: str | None = None
    limit: int = 100
