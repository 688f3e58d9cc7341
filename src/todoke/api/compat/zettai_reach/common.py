"""What every operation of the façade shares: authentication, answers, remembered echoes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import MediaType, Request, Response

from todoke.api.auth import guarded_auth, services_of
from todoke.api.compat.zettai_reach.codes import SUCCESS, invalid
from todoke.api.compat.zettai_reach.params import Params
from todoke.domain.message import Account
from todoke.errors import Unauthenticated

ECHO_KEY = "zettai_reach_echo"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated account, the smsCode it sends from, and ``all`` (clientId=all)."""

    account: Account
    sms_code: str | None = None
    all_clients: bool = False


async def authenticate(
    request: Request[Any, Any, Any],
    params: Params,
    *,
    sms_code: bool = False,
    allow_all: bool = False,
    strict_client_id: bool = False,
) -> Caller:
    """token + clientId (+ smsCode) through the one authentication path (``guarded_auth``).

    The shape of the credentials is checked inside the verifier, so an address the
    protection layer refuses is refused before anything else is said about its request.
    A well-formed token that is not valid, or a clientId that is not the token's, is
    ``Unauthenticated`` (a failed login); an smsCode that is not the account's is
    110 "Invalid smsCode.".
    """
    accounts = services_of(request).accounts
    checked: dict[str, Any] = {}

    async def verify() -> Account:
        token = params.token()
        client_id = params.client_id(allow_all=allow_all, strict=strict_client_id)
        checked["code"] = params.sms_code() if sms_code else None
        account = await accounts.authenticate(token)
        if client_id is not None and client_id != account.id:
            raise Unauthenticated("clientId does not belong to the token")
        checked["all"] = client_id is None
        return account

    account = await guarded_auth(request, verify)
    if checked["all"] and not account.may_read_all:
        raise invalid("clientId")
    code = checked["code"]
    if code is not None and code not in account.sender_codes:
        raise invalid("smsCode")
    return Caller(account, code, checked["all"])


def echo(request: Request[Any, Any, Any], **fields: Any) -> None:
    """Remember request values that an error answer repeats (phoneNumber, clientTag, ...)."""
    state = request.state
    if ECHO_KEY not in state:
        state[ECHO_KEY] = {}
    state[ECHO_KEY].update(fields)


def echoed(request: Request[Any, Any, Any]) -> dict[str, Any]:
    found: dict[str, Any] = request.state.get(ECHO_KEY) or {}
    return found


def answer(
    body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        msgspec.json.encode(body),
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=headers,
    )


def ok(**fields: Any) -> Response[bytes]:
    """A successful answer: responseCode 0 and the operation's fields."""
    return answer({"responseCode": SUCCESS, "responseMessage": "Success.", **fields})
