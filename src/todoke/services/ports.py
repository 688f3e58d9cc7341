"""Ports: what the services need from storage, declared here and implemented in ``store/``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from todoke.domain.message import Account, Message, MessageEvent, MessageFilter
from todoke.domain.protection import AcceptGuard, AccountLimits, BlockEntry, IpRecord


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
        guard: AcceptGuard | None = None,
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


# --- delivery engine ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a message's state, applied with its event row in one transaction.

    ``due_at`` is when the dispatcher must look at the message next (None: not queued).
    Optional counters left as None keep their stored value.
    """

    message_id: str
    account_id: int
    status: str
    status_group: int
    at: int
    due_at: int | None = None
    cause: str | None = None
    error_code: str | None = None
    final: bool = False
    attempt: int | None = None
    attempts: int | None = None
    carrier: str | None = None
    delivered_parts: int | None = None
    billable_parts: int | None = None
    sent: bool = False
    keep_lease: bool = False
    detail: dict[str, Any] | None = None
    event: bool = True  # False: a re-check that changes nothing a customer would see


@dataclass(frozen=True, slots=True)
class AttemptStart:
    """An attempt row written before the submission (persist before you send)."""

    id: str
    message_id: str
    account_id: int
    number: int
    connector: str
    carrier: str | None
    parts: int
    at: int


@dataclass(frozen=True, slots=True)
class PartAck:
    """A part the SMSC accepted, with its message id (the receipt correlation key)."""

    seq: int
    smsc_id: str  # normalised
    smsc_id_raw: str
    # The keys under which a receipt for this part that came before it was stored (an orphan,
    # keyed by its own normalised id) can be found: hex and decimal forms of the id.
    receipt_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitRecord:
    """What one submission produced: the acknowledged parts and the message's next state."""

    attempt_id: str
    message_id: str
    connector: str
    attempt_state: str  # submitted | failed
    cause: str | None
    parts: tuple[PartAck, ...]
    transition: Transition


@dataclass(frozen=True, slots=True)
class ReceiptIn:
    """A delivery receipt as the store needs it."""

    connector: str
    candidates: tuple[str, ...]  # forms under which the part's id may be stored
    stat: str
    err: str | None
    at: int
    key: str | None = None  # the receipt's own id, normalised: an orphan is stored under it


@dataclass(frozen=True, slots=True)
class PartState:
    seq: int
    state: str  # submitted | delivered | failed
    stat: str | None
    err: str | None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """An attempt with its parts, handed to the receipt decision inside the transaction."""

    id: str
    number: int
    parts: int
    carrier: str | None
    part_states: tuple[PartState, ...]


ReceiptDecision = Callable[[Message, AttemptView, int], Transition | None]


# --- protection --------------------------------------------------------------------------


class ProtectionStorePort(Protocol):
    """Account limits and IP rules, failed authentications, blocklists, shared rate limits."""

    async def limits(self, account_id: int) -> AccountLimits: ...

    async def set_limits(
        self, account_id: int, changes: dict[str, int | None], now: int
    ) -> None: ...

    async def ip_rules(self, account_id: int) -> list[str]: ...

    async def set_ip_rules(self, account_id: int, networks: Sequence[str], now: int) -> None: ...

    async def ip_snapshot(self) -> list[IpRecord]: ...

    async def record_failure(self, ip: str, *, now: int, limit: int) -> IpRecord: ...

    async def reset_failures(self, ip: str) -> None: ...

    async def unblock(self, ip: str) -> bool: ...

    async def blocklist_add(
        self, account_id: int, entries: Sequence[tuple[str, str, str | None]], *, now: int
    ) -> list[bool]: ...

    async def blocklist_remove(self, account_id: int, number: str) -> bool: ...

    async def blocklist_get(self, account_id: int, number: str) -> BlockEntry | None: ...

    async def blocklist_list(
        self, account_id: int, *, after: str | None = None, limit: int = 100
    ) -> list[BlockEntry]: ...

    async def rate_sync(self, costs: dict[str, float], now: float) -> dict[str, float]: ...

    async def rate_cleanup(self, before: float) -> None: ...
