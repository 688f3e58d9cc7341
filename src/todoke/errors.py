"""The whole error tree of todoke.

Every failure that crosses a module boundary is one of these. Third-party exceptions are
converted where they are met (the store converts database errors, the SMPP connector converts
socket and protocol errors). HTTP status codes exist only at the HTTP edge: ``api/errors.py``
maps this tree to ``/v1`` answers, and each compatible façade maps it to its own code table.

::

    TodokeError
    ├── InvalidInput                  bad input; names the field and a stable code
    │   ├── InvalidPhoneNumber        not a Japanese mobile number we can reach
    │   └── InvalidText               empty, too long, or a character carriers cannot carry
    ├── NotFound                      no such resource *for this account*
    ├── Conflict                      the request contradicts stored state
    │   ├── DuplicateClientTag        clientTag already used by this account
    │   ├── NotCancellable            the message has already left (or is final)
    │   └── IdempotencyKeyReused      same Idempotency-Key, different request body
    ├── AuthError                     who is asking is not established or not allowed
    │   ├── Unauthenticated           no or wrong credentials
    │   ├── Forbidden                 authenticated but not allowed (IP rule, role)
    │   └── IpBlocked                 too many failed authentications from this address
    ├── RateLimited                   too many requests or messages; carries ``retry_after``
    ├── QuotaExceeded                 the account's daily or monthly sending count is used up
    ├── ServiceUnavailable            a dependency (the database) is down: retry later
    ├── MaintenanceRefused            a maintenance window refuses sends to this carrier
    └── CarrierError                  a carrier (SMSC) failed a submission
        ├── TemporaryCarrierError     retry within the validity period
        └── PermanentCarrierError     final: never retried
"""

from __future__ import annotations


class TodokeError(Exception):
    """Base of every error todoke raises on purpose.

    ``code`` is a stable, machine-readable snake_case identifier that clients may script against;
    ``message`` is a human sentence in the caller's terms.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(TodokeError):
    """A request value is malformed or breaks a rule; ``field`` names it when known."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class InvalidPhoneNumber(InvalidInput):
    """The destination is not a Japanese mobile number in a form we accept."""

    code = "invalid_phone_number"


class InvalidText(InvalidInput):
    """The message text is empty, too long, or holds a character no carrier can carry.

    ``character`` is the offending character when there is one (for 環境依存文字).
    """

    code = "invalid_text"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = "text",
        code: str | None = None,
        character: str | None = None,
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.character = character


class NotFound(TodokeError):
    """The resource does not exist for the asking account (another account's is not found)."""

    code = "not_found"


class Conflict(TodokeError):
    """The request contradicts what is stored."""

    code = "conflict"


class DuplicateClientTag(Conflict):
    """The account already has a message with this clientTag."""

    code = "duplicate_client_tag"


class NotCancellable(Conflict):
    """The message cannot be cancelled: it was already handed to a carrier or is final."""

    code = "not_cancellable"


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was used before with a different request body."""

    code = "idempotency_key_reused"


class AuthError(TodokeError):
    """Base of authentication and authorisation failures."""

    code = "unauthorized"


class Unauthenticated(AuthError):
    """Credentials are missing or wrong."""

    code = "unauthenticated"


class Forbidden(AuthError):
    """The caller is known but not allowed to do this (IP allowlist, role)."""

    code = "forbidden"


class IpBlocked(AuthError):
    """The client address failed authentication too often and is blocked until lifted."""

    code = "ip_blocked"


class RateLimited(TodokeError):
    """Too many requests or messages; retry after ``retry_after`` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class QuotaExceeded(TodokeError):
    """The account's daily or monthly sending count is used up."""

    code = "quota_exceeded"


class ServiceUnavailable(TodokeError):
    """A dependency is unreachable; nothing was written. Safe to retry."""

    code = "service_unavailable"


class MaintenanceRefused(TodokeError):
    """A maintenance window with effect ``refuse`` covers the destination carrier."""

    code = "maintenance"


class CarrierError(TodokeError):
    """A carrier refused or failed a submission; ``cause`` is the internal cause name."""

    code = "carrier_error"
    permanent: bool = False

    def __init__(self, message: str, *, cause: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.cause = cause


class TemporaryCarrierError(CarrierError):
    """Retry later, within the message's validity period."""

    permanent = False


class PermanentCarrierError(CarrierError):
    """Final failure: never retried."""

    permanent = True
