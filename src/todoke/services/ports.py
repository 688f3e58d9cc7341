"""Ports: what the services need from storage, declared here and implemented in ``store/``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from todoke.domain.message import Account, Message, MessageEvent, MessageFilter


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    """An Idempotency-Key with the hash of the request it came with.

    ``render`` turns the accept results into the answer (status code, body bytes) that is stored
    in the same transaction, so a retried request gets the very answer the first one got.
    """

    key: str
    request_hash: str
    expires_at: int
    render: Callable[[Sequence[Message | Exception]], tuple[int, bytes]]


@dataclass(frozen=True, slots=True)
class Replay:
    """The stored answer of an earlier request with the same Idempotency-Key and body."""

    status_code: int
    body: bytes


AcceptResult = list[Message | Exception] | Replay


class MessageStorePort(Protocol):
    """Durable message storage. Every method is scoped to one account."""

    async def accept(
        self,
        account_id: int,
        rows: Sequence[dict[str, Any]],
        *,
        now: int,
        idempotency: IdempotencyRequest | None = None,
    ) -> AcceptResult: ...

    async def get(self, account_id: int, message_id: str) -> Message: ...

    async def find(self, account_id: int, flt: MessageFilter) -> list[Message]: ...

    async def events(self, account_id: int, message_id: str) -> list[MessageEvent]: ...

    async def cancel(
        self,
        account_id: int,
        message_id: str,
        *,
        cancellable: Sequence[str],
        status: str,
        status_group: int,
        now: int,
    ) -> Message: ...

    async def cancel_many(
        self,
        account_id: int,
        *,
        group_tag: str | None,
        schedule_from: int | None,
        schedule_to: int | None,
        cancellable: Sequence[str],
        status: str,
        status_group: int,
        now: int,
    ) -> list[str]: ...


class AccountStorePort(Protocol):
    """Accounts, sender codes and hashed tokens."""

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
    ) -> Account: ...

    async def rotate_token(
        self, account_id: int, *, token_hash: str, hint: str, now: int
    ) -> None: ...

    async def by_token_hash(self, token_hash: str) -> Account | None: ...

    async def get(self, account_id: int) -> Account: ...

    async def all(self) -> list[Account]: ...

    async def count(self) -> int: ...
