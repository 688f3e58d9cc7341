"""Accounts and API tokens: creation, rotation, and the authentication of every request.

Tokens are 32 random characters, shown once and stored as SHA-256 hashes. A verified token is
remembered (hash -> account) for ``token_cache_seconds`` so that the accept path does not read
the database per request; a rotated or revoked token stops working within that time.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from todoke.domain.ids import new_token
from todoke.domain.message import Account
from todoke.errors import InvalidInput, Unauthenticated
from todoke.services.messages import now_ms
from todoke.services.ports import AccountStorePort

_SMS_CODE = re.compile(r"^[0-9A-Za-z]{5,6}$")
_MAX_CACHE = 10_000


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedAccount:
    """A new account with its token in clear: shown once, never stored."""

    account: Account
    token: str


class AccountService:
    """Operator actions on accounts and the per-request token check."""

    def __init__(self, store: AccountStorePort, *, cache_seconds: float = 5.0) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Account]] = {}
        # One lookup per token at a time: when a busy token's entry expires, the hundreds of
        # requests in flight share it instead of each reading the database.
        self._loading: dict[str, asyncio.Future[Account | None]] = {}

    async def create(
        self,
        name: str,
        *,
        client_id: int | None = None,
        sms_code: str | None = None,
        role: str = "client",
    ) -> IssuedAccount:
        """Create an account with a sender code (generated when not given) and a token."""
        if not name.strip():
            raise InvalidInput("name must not be empty", field="name")
        if client_id is not None and client_id <= 0:
            raise InvalidInput("clientId must be a positive integer", field="clientId")
        if role not in ("client", "agency_viewer"):
            raise InvalidInput("role must be client or agency_viewer", field="role")
        code = sms_code or f"{secrets.randbelow(90000) + 10000}"
        if not _SMS_CODE.match(code):
            raise InvalidInput("smsCode must be 5 or 6 letters or digits", field="smsCode")
        token = new_token()
        account = await self._store.create(
            name=name,
            client_id=client_id,
            sms_code=code,
            token_hash=hash_token(token),
            token_hint=token[:4],
            role=role,
            now=now_ms(),
        )
        return IssuedAccount(account, token)

    async def rotate_token(self, account_id: int) -> str:
        """Revoke the account's tokens and issue a new one (returned once)."""
        token = new_token()
        await self._store.rotate_token(
            account_id, token_hash=hash_token(token), hint=token[:4], now=now_ms()
        )
        self._cache.clear()
        return token

    async def authenticate(self, token: str | None) -> Account:
        """The account owning ``token``; :class:`Unauthenticated` otherwise."""
        if not token or len(token) > 256:
            raise Unauthenticated("missing or malformed token")
        digest = hash_token(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.ensure_future(self._store.by_token_hash(digest))
            self._loading[digest] = loading
            loading.add_done_callback(lambda _f: self._loading.pop(digest, None))
        account = await asyncio.shield(loading)
        if account is None:
            self._cache.pop(digest, None)
            raise Unauthenticated("invalid token")
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[digest] = (now + self._cache_seconds, account)
        return account

    async def all(self) -> list[Account]:
        return await self._store.all()

    async def get(self, account_id: int) -> Account:
        return await self._store.get(account_id)

    async def count(self) -> int:
        return await self._store.count()
