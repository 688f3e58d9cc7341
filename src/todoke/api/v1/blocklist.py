"""``/v1/blocklist``: the account's own opt-out and do-not-send list (CRUD and CSV import).

A send to a listed number is stored as a final REJECTED message
(REJECTED_DESTINATION_BLOCKLISTED) and never reaches a carrier. The platform-wide list is the
operator's (``todoke blocklist … --platform``) and is not visible here.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from todoke.api.auth import AccountDep, services_of
from todoke.api.v1.schemas import iso
from todoke.domain.protection import BlockEntry
from todoke.errors import ServiceUnavailable
from todoke.services.blocklist import BlocklistService


class BlockIn(msgspec.Struct, forbid_unknown_fields=True):
    """A number to list."""

    number: Annotated[str, msgspec.Meta(max_length=40, description="Japanese mobile number")]
    note: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class BlockOut(msgspec.Struct, rename="camel", omit_defaults=True):
    number: str
    reason: str  # manual | import | keyword (opted out by reply)
    created_at: str
    note: str | None = None


class BlockListOut(msgspec.Struct, rename="camel"):
    entries: list[BlockOut]
    next_cursor: str | None = None


class ImportErrorOut(msgspec.Struct):
    line: int
    message: str


class ImportOut(msgspec.Struct, rename="camel"):
    added: int
    already_listed: int
    invalid: int
    errors: list[ImportErrorOut]


def _out(entry: BlockEntry) -> BlockOut:
    return BlockOut(
        number=entry.number,
        reason=entry.reason,
        created_at=iso(entry.created_at) or "",
        note=entry.note,
    )


def _service(request: Request[Any, Any, Any]) -> BlocklistService:
    service = services_of(request).blocklist
    if service is None:  # pragma: no cover - create_app always wires it
        raise ServiceUnavailable("the blocklist is not available")
    return service


class BlocklistController(Controller):
    path = "/v1/blocklist"
    tags = ["blocklist"]

    @get("/", summary="List the account's blocklist, in number order")
    async def list_entries(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=20)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    ) -> BlockListOut:
        found = await _service(request).entries(account.id, after=cursor, limit=limit)
        next_cursor = found[-1].number if len(found) == limit else None
        return BlockListOut(entries=[_out(e) for e in found], next_cursor=next_cursor)

    @post(
        "/",
        status_code=201,
        summary="Add a number",
        description="201 when the number is new on the list, 200 when it was already listed "
        "(the existing entry is returned unchanged).",
    )
    async def add(
        self, request: Request[Any, Any, Any], account: AccountDep, data: JSONBody[BlockIn]
    ) -> Response[bytes]:
        entry, added = await _service(request).add(account.id, data.number, note=data.note)
        return Response(
            msgspec.json.encode(_out(entry)),
            status_code=201 if added else 200,
            media_type=MediaType.JSON,
        )

    @get("/{number:str}", summary="Whether a number is listed (404: it is not)")
    async def get_entry(
        self, request: Request[Any, Any, Any], account: AccountDep, number: FromPath[str]
    ) -> BlockOut:
        return _out(await _service(request).get(account.id, number))

    @delete("/{number:str}", status_code=204, summary="Remove a number")
    async def remove(
        self, request: Request[Any, Any, Any], account: AccountDep, number: FromPath[str]
    ) -> None:
        await _service(request).remove(account.id, number)

    @post(
        "/import",
        status_code=200,
        summary="Import numbers from CSV",
        description="The body is CSV (UTF-8 or Shift_JIS): the number in the first column, an "
        "optional note in the second; a header line is skipped. Bad lines are reported by line "
        "number, the others are added.",
    )
    async def import_csv(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
    ) -> ImportOut:
        # The raw body is the file (any Content-Type; text/csv is what clients send).
        report = await _service(request).import_csv(account.id, await request.body())
        return ImportOut(
            added=report.added,
            already_listed=report.already_listed,
            invalid=report.invalid,
            errors=[ImportErrorOut(line, message) for line, message in report.errors],
        )
