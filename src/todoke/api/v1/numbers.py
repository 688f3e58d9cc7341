"""``/v1/numbers/{number}/cleaning``: number cleaning (名義人変更判定)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, QueryParameter

from todoke.api.auth import AccountDep, services_of
from todoke.domain.cleaning import Cleaning
from todoke.errors import InvalidPhoneNumber

_MEANING = {Cleaning.CHANGED: "changed", Cleaning.SAME: "same", Cleaning.UNKNOWN: "unknown"}


class CleaningOut(msgspec.Struct, rename="camel"):
    number: str
    reference_date: str
    status: str  # T | N | ERROR, as the 絶対リーチ! API says it
    result: str  # changed | same | unknown


@get(
    "/v1/numbers/{number:str}/cleaning",
    tags=["numbers"],
    summary="Has the subscriber of a number changed since a reference date?",
    description="From the imported number events (`todoke numbers import`): `changed` (T), "
    "`same` (N) or `unknown` (ERROR: no data). referenceDate: within the last two years.",
)
async def number_cleaning(
    request: Request[Any, Any, Any],
    account: AccountDep,
    number: FromPath[str],
    reference_date: Annotated[date, QueryParameter(name="referenceDate")],
) -> CleaningOut:
    del account  # any account may ask; the data is the platform's
    try:
        result = await services_of(request).numbers.judge(number, reference_date)
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(exc.message, field="number") from None
    return CleaningOut(
        number=result.number,
        reference_date=result.reference.isoformat(),
        status=result.status.value,
        result=_MEANING[result.status],
    )
