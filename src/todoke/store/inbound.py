"""Inbound message storage: attribution to an account, the reply link, the webhook event.

Attribution (one transaction with the row and its ``message.inbound`` event):

1. The destination is one of our sender codes (``sender_codes.code``, platform-unique): the
   code's account. The message answers the newest message that account sent to this number
   from this code, if any.
2. Otherwise (an SMSC that rewrites the destination, a shared long code): the account of the
   newest message sent to this number through the same connector in the last 7 days, which
   it answers.
3. Otherwise it is stored without an account (operators see it; no customer does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain import webhooks as wh
from todoke.domain.inbound import InboundFilter, InboundMessage
from todoke.errors import NotFound
from todoke.services.webhook_formats import iso
from todoke.services.webhook_types import NewEvent
from todoke.store.database import Database
from todoke.store.outbox import fan_out
from todoke.store.tables import attempts, inbound_messages, messages, sender_codes
from todoke.store.writer import GroupCommitter

FALLBACK_WINDOW_MS = 7 * 24 * 3600 * 1000


def _row_to_inbound(row: Any, tag: str | None = None) -> InboundMessage:
    return InboundMessage(
        id=row.id,
        connector=row.connector,
        from_number=row.from_number,
        to_code=row.to_code,
        text=row.text,
        received_at=row.received_at,
        account_id=row.account_id,
        reply_to=row.reply_to,
        reply_to_client_tag=tag,
    )


def inbound_event(m: InboundMessage) -> NewEvent:
    """The ``message.inbound`` event of a stored inbound message."""
    assert m.account_id is not None
    return NewEvent(
        account_id=m.account_id,
        type=wh.MESSAGE_INBOUND,
        data={
            "inboundId": m.id,
            "from": m.from_number,
            "to": m.to_code,
            "text": m.text,
            "receivedAt": iso(m.received_at),
            "replyTo": m.reply_to,
            "replyToClientTag": m.reply_to_client_tag,
        },
        at=m.received_at,
        chain=f"mo:{m.from_number}"[:64],
    )


class InboundStore:
    """Stores inbound messages and lists them per account."""

    def __init__(self, db: Database, writer: GroupCommitter) -> None:
        self._db = db
        self._writer = writer

    async def store(self, message: InboundMessage) -> InboundMessage:
        """Attribute, store and queue the webhook event, in one transaction."""
        stored: InboundMessage = await self._writer.submit(_store_handler, message)
        return stored

    async def get(self, account_id: int, inbound_id: str) -> InboundMessage:
        t = inbound_messages.c
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(inbound_messages).where(
                        t.id == inbound_id, t.account_id == account_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"no inbound message {inbound_id}")
        return _row_to_inbound(row)

    async def find(self, account_id: int, flt: InboundFilter) -> list[InboundMessage]:
        """Newest first; continue with ``before_id`` = the last id of the previous page."""
        t = inbound_messages.c
        conditions: list[sa.ColumnElement[bool]] = [t.account_id == account_id]
        if flt.from_number is not None:
            conditions.append(t.from_number == flt.from_number)
        if flt.to_code is not None:
            conditions.append(t.to_code == flt.to_code)
        if flt.received_from is not None:
            conditions.append(t.received_at >= flt.received_from)
        if flt.received_to is not None:
            conditions.append(t.received_at < flt.received_to)
        if flt.before_id is not None:
            conditions.append(t.id < flt.before_id)
        query = (
            sa.select(inbound_messages).where(*conditions).order_by(t.id.desc()).limit(flt.limit)
        )
        async with self._db.connect() as conn:
            return [_row_to_inbound(r) for r in await conn.execute(query)]

    async def all(self, *, limit: int = 100) -> list[InboundMessage]:
        """Every account's (and unattributed) inbound messages, newest first: operators."""
        t = inbound_messages.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                sa.select(inbound_messages).order_by(t.id.desc()).limit(limit)
            )
            return [_row_to_inbound(r) for r in rows]


async def _attribute(conn: AsyncConnection, m: InboundMessage) -> InboundMessage:
    m_c = messages.c
    code = m.to_code.removeprefix("+")
    owner = (
        await conn.execute(sa.select(sender_codes.c.account_id).where(sender_codes.c.code == code))
    ).first()
    if owner is not None:
        reply = (
            await conn.execute(
                sa.select(m_c.id, m_c.client_tag)
                .where(
                    m_c.to_number == m.from_number,
                    m_c.account_id == owner.account_id,
                    m_c.sender_code == code,
                    m_c.sent_at.is_not(None),
                )
                .order_by(m_c.created_at.desc())
                .limit(1)
            )
        ).first()
        return _linked(m, owner.account_id, reply)
    fallback = (
        await conn.execute(
            sa.select(m_c.id, m_c.client_tag, m_c.account_id)
            .join(attempts, attempts.c.message_id == m_c.id)
            .where(
                m_c.to_number == m.from_number,
                attempts.c.connector == m.connector,
                m_c.created_at >= m.received_at - FALLBACK_WINDOW_MS,
            )
            .order_by(m_c.created_at.desc())
            .limit(1)
        )
    ).first()
    if fallback is not None:
        return _linked(m, fallback.account_id, fallback)
    return m


def _linked(m: InboundMessage, account_id: int, reply: Any) -> InboundMessage:
    return replace(
        m,
        account_id=account_id,
        reply_to=reply.id if reply is not None else None,
        reply_to_client_tag=reply.client_tag if reply is not None else None,
    )


async def _store_handler(
    conn: AsyncConnection, jobs: Sequence[InboundMessage]
) -> list[InboundMessage]:
    out: list[InboundMessage] = []
    for job in jobs:
        out.append(await _attribute(conn, job))
    await conn.execute(
        inbound_messages.insert(),
        [
            {
                "id": m.id,
                "account_id": m.account_id,
                "connector": m.connector,
                "from_number": m.from_number,
                "to_code": m.to_code,
                "text": m.text,
                "reply_to": m.reply_to,
                "received_at": m.received_at,
            }
            for m in out
        ],
    )
    await fan_out(conn, [inbound_event(m) for m in out if m.account_id is not None])
    return out
