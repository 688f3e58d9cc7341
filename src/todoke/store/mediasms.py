"""MediaSMS logins and settings, and the period reads of the MediaSMS result CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from todoke.domain.message import Message
from todoke.errors import Conflict, NotFound
from todoke.services.mediasms import MediaSmsProfile
from todoke.store.database import Database
from todoke.store.messages import row_to_message
from todoke.store.tables import accounts, mediasms_accounts, messages

_PAGE = 1000


def _profile(row: sa.Row[tuple[object, ...]]) -> MediaSmsProfile:
    m = row._mapping
    return MediaSmsProfile(
        account_id=m["account_id"],
        username=m["username"],
        long_message=bool(m["long_message"]),
        numeric_status=bool(m["numeric_status"]),
        keep_params=bool(m["keep_params"]),
        result_url=m["result_url"],
        result_username=m["result_username"],
        result_password=m["result_password"],
    )


class MediaSmsStore:
    """Operator writes (CLI) and the login lookup of every MediaSMS request."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_login(
        self, account_id: int, *, username: str | None, password_hash: str, now: int
    ) -> str:
        t = mediasms_accounts.c
        try:
            async with self._db.engine.begin() as conn:
                exists = await conn.execute(
                    sa.select(accounts.c.id).where(accounts.c.id == account_id)
                )
                if exists.first() is None:
                    raise NotFound(f"no account {account_id}")
                current = (
                    await conn.execute(sa.select(t.username).where(t.account_id == account_id))
                ).scalar()
                if current is None:
                    assert username is not None
                    await conn.execute(
                        mediasms_accounts.insert().values(
                            account_id=account_id,
                            username=username,
                            password_hash=password_hash,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    return username
                values: dict[str, object] = {"password_hash": password_hash, "updated_at": now}
                if username is not None:
                    values["username"] = username
                await conn.execute(
                    mediasms_accounts.update().where(t.account_id == account_id).values(**values)
                )
                return username or str(current)
        except IntegrityError as exc:
            raise Conflict(f"MediaSMS username {username!r} is taken") from exc

    async def by_username(self, username: str) -> tuple[MediaSmsProfile, str] | None:
        query = (
            sa.select(mediasms_accounts)
            .select_from(
                mediasms_accounts.join(accounts, accounts.c.id == mediasms_accounts.c.account_id)
            )
            .where(mediasms_accounts.c.username == username, accounts.c.active.is_(True))
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return _profile(row), str(row.password_hash)

    async def profile(self, account_id: int) -> MediaSmsProfile | None:
        query = sa.select(mediasms_accounts).where(mediasms_accounts.c.account_id == account_id)
        async with self._db.connect() as conn:
            row = (await conn.execute(query)).first()
        return _profile(row) if row is not None else None

    async def update_settings(self, profile: MediaSmsProfile, *, now: int) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(
                mediasms_accounts.update()
                .where(mediasms_accounts.c.account_id == profile.account_id)
                .values(
                    long_message=profile.long_message,
                    numeric_status=profile.numeric_status,
                    keep_params=profile.keep_params,
                    result_url=profile.result_url,
                    result_username=profile.result_username,
                    result_password=profile.result_password,
                    updated_at=now,
                )
            )

    async def messages_between(
        self, account_id: int, start: int, end: int
    ) -> AsyncIterator[list[Message]]:
        """The account's messages created in [start, end), oldest first, a page at a time.

        Keyset pagination on the time-ordered id: memory stays at one page whatever the
        period holds.
        """
        c = messages.c
        after: str | None = None
        while True:
            conditions = [c.account_id == account_id, c.created_at >= start, c.created_at < end]
            if after is not None:
                conditions.append(c.id > after)
            query = sa.select(messages).where(*conditions).order_by(c.id).limit(_PAGE)
            async with self._db.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                return
            page = [row_to_message(r) for r in rows]
            yield page
            if len(rows) < _PAGE:
                return
            after = page[-1].id
