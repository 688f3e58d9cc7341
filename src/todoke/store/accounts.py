"""Accounts, sender codes and API tokens (stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from todoke.domain.message import Account
from todoke.errors import Conflict, NotFound
from todoke.store.database import Database
from todoke.store.tables import accounts, api_tokens, sender_codes


class AccountStore:
    """Operator-side writes (CLI) and the token lookup of every authenticated request."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        name: str,
        client_id: int | None,
        sms_code: str,
        token_hash: str,
        token_hint: str,
        role: str,
        now: int,
    ) -> Account:
        """Create an account with one sender code and one token; Conflict if either is taken."""
        try:
            async with self._db.engine.begin() as conn:
                if client_id is None:
                    top = (await conn.execute(sa.select(sa.func.max(accounts.c.id)))).scalar()
                    client_id = max(int(top or 0) + 1, 10001)
                await conn.execute(
                    accounts.insert().values(
                        id=client_id, name=name, role=role, active=True, created_at=now
                    )
                )
                await conn.execute(
                    sender_codes.insert().values(
                        account_id=client_id, code=sms_code, is_default=True, created_at=now
                    )
                )
                await conn.execute(
                    api_tokens.insert().values(
                        account_id=client_id, token_hash=token_hash, hint=token_hint, created_at=now
                    )
                )
        except IntegrityError as exc:
            raise Conflict("clientId or smsCode already exists") from exc
        return Account(
            id=client_id,
            name=name,
            role=role,
            sender_codes=(sms_code,),
            default_sender_code=sms_code,
        )

    async def add_sender_code(self, account_id: int, code: str, *, now: int) -> None:
        try:
            async with self._db.engine.begin() as conn:
                await conn.execute(
                    sender_codes.insert().values(
                        account_id=account_id, code=code, is_default=False, created_at=now
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"smsCode {code} already exists") from exc

    async def rotate_token(self, account_id: int, *, token_hash: str, hint: str, now: int) -> None:
        """Revoke every token of the account and store the new one."""
        async with self._db.engine.begin() as conn:
            exists = await conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id))
            if exists.first() is None:
                raise NotFound(f"no account {account_id}")
            await conn.execute(
                api_tokens.update()
                .where(api_tokens.c.account_id == account_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            await conn.execute(
                api_tokens.insert().values(
                    account_id=account_id, token_hash=token_hash, hint=hint, created_at=now
                )
            )

    async def by_token_hash(self, token_hash: str) -> Account | None:
        """The active account owning this (unrevoked) token, or None."""
        query = (
            sa.select(accounts.c.id)
            .select_from(accounts.join(api_tokens, api_tokens.c.account_id == accounts.c.id))
            .where(
                api_tokens.c.token_hash == token_hash,
                api_tokens.c.revoked_at.is_(None),
                accounts.c.active.is_(True),
            )
        )
        async with self._db.connect() as conn:
            account_id = (await conn.execute(query)).scalar()
            if account_id is None:
                return None
            return await self._load(conn, int(account_id))

    async def get(self, account_id: int) -> Account:
        async with self._db.connect() as conn:
            return await self._load(conn, account_id)

    async def all(self) -> list[Account]:
        async with self._db.connect() as conn:
            ids = (await conn.execute(sa.select(accounts.c.id).order_by(accounts.c.id))).scalars()
            return [await self._load(conn, int(i)) for i in list(ids)]

    async def count(self) -> int:
        async with self._db.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(accounts))).scalar_one()
            )

    @staticmethod
    async def _load(conn: AsyncConnection, account_id: int) -> Account:
        row = (await conn.execute(sa.select(accounts).where(accounts.c.id == account_id))).first()
        if row is None:
            raise NotFound(f"no account {account_id}")
        codes = (
            await conn.execute(
                sa.select(sender_codes.c.code, sender_codes.c.is_default)
                .where(sender_codes.c.account_id == account_id)
                .order_by(sender_codes.c.id)
            )
        ).all()
        default = next((c.code for c in codes if c.is_default), codes[0].code if codes else None)
        return Account(
            id=row.id,
            name=row.name,
            role=row.role,
            active=bool(row.active),
            sender_codes=tuple(c.code for c in codes),
            default_sender_code=default,
        )
