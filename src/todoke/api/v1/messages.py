"""``/v1/messages``: send one, send a batch, read, list, cancel."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from todoke.api.auth import AccountDep, services_of
from todoke.api.errors import encode_error, error_body
from todoke.api.openapi_errors import error_or
from todoke.api.v1 import schemas as s
from todoke.domain import phone
from todoke.domain.message import Message, MessageFilter
from todoke.errors import InvalidInput, TodokeError
from todoke.services.compose import Draft
from todoke.services.links import LinkTarget
from todoke.services.messages import SendRequest, now_ms, to_ms
from todoke.services.ports import IdempotencyRequest, Replay

_JSON = MediaType.JSON


def _send_request(item: s.SendMessageIn) -> SendRequest:
    return SendRequest(
        to=item.to,
        text=item.text,
        sender_code=item.from_,
        client_tag=item.client_tag,
        group_tag=item.group_tag,
        schedule_at=item.schedule_at,
        validity_seconds=item.validity_period,
        carrier=item.carrier,
        webhook_url=item.webhook_url,
    )


def draft_of(item: s.SendMessageIn) -> Draft:
    """A send that may use a template and tracked links (see services/compose.py)."""
    links = (
        {
            name: LinkTarget(spec.long_url, spec.link_id, spec.access_code, spec.name)
            for name, spec in item.links.items()
        }
        if item.links
        else None
    )
    return Draft(_send_request(item), item.template_id, item.template_params, links)


def idempotency_of(
    key: str | None, path: str, body: bytes, ttl_ms: int, render: Any
) -> IdempotencyRequest | None:
    """The idempotent request of an ``Idempotency-Key`` header (None without one): the key,
    a digest of the path and body (a reused key with another request is refused), expiry."""
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise InvalidInput("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
    return IdempotencyRequest(key, digest, now_ms() + ttl_ms, render)


def _idempotency(
    request: Request[Any, Any, Any], body: bytes, render: Any
) -> IdempotencyRequest | None:
    key = request.headers.get("idempotency-key")
    ttl = services_of(request).idempotency_ttl_ms
    return idempotency_of(key, request.url.path, body, ttl, render)


def render_single(results: Sequence[Message | Exception]) -> tuple[int, bytes]:
    first = results[0]
    if isinstance(first, TodokeError):
        return encode_error(first)
    assert isinstance(first, Message)
    return 202, msgspec.json.encode(s.message_out(first))


def _render_batch(results: Sequence[Message | Exception]) -> tuple[int, bytes]:
    items: list[s.BatchItemOut] = []
    accepted = 0
    for index, result in enumerate(results):
        if isinstance(result, Message):
            accepted += 1
            items.append(
                s.BatchItemOut(
                    index=index,
                    id=result.id,
                    to=result.to,
                    parts=result.parts,
                    status=s.status_out(result.status),
                )
            )
        else:
            err = result if isinstance(result, TodokeError) else TodokeError(str(result))
            items.append(
                s.BatchItemOut(
                    index=index,
                    error=error_body(err.code, err.message, getattr(err, "field", None))["error"],
                )
            )
    out = s.BatchOut(accepted=accepted, rejected=len(results) - accepted, results=items)
    return (202 if accepted else 422), msgspec.json.encode(out)


def _answer(status_code: int, body: bytes, replayed: bool = False) -> Response[bytes]:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status_code, media_type=_JSON, headers=headers)


class MessagesController(Controller):
    path = "/v1/messages"
    tags = ["messages"]

    @post(
        "/",
        status_code=202,
        summary="Send one message",
        description="A 202 answer means the message is committed to storage and will be "
        "delivered or reported. Send the same `Idempotency-Key` to retry safely.",
        responses={202: ResponseSpec(s.MessageOut, description="Stored")},
    )
    async def send(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        data: JSONBody[s.SendMessageIn],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False)
        ] = None,
    ) -> Response[bytes]:
        idem = _idempotency(request, await request.body(), render_single)
        results = await services_of(request).composer.send(
            account, [draft_of(data)], idempotency=idem
        )
        if isinstance(results, Replay):
            return _answer(results.status_code, results.body, replayed=True)
        first = results[0]
        if isinstance(first, Exception):
            raise first
        return _answer(202, msgspec.json.encode(s.message_out(first)))

    @post(
        "/batch",
        status_code=202,
        summary="Send a batch of messages",
        description="Each item is validated on its own; the valid ones are stored in one "
        "transaction. The answer lists every item's result in order.",
        responses={
            202: ResponseSpec(s.BatchOut, description="Per-item results"),
            422: error_or(s.BatchOut, "No item was valid (per-item results), or a reused key"),
        },
    )
    async def send_batch(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        data: JSONBody[s.BatchIn],
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False)
        ] = None,
    ) -> Response[bytes]:
        services = services_of(request)
        if len(data.messages) > services.batch_max_messages:
            raise InvalidInput(
                f"a batch holds at most {services.batch_max_messages} messages",
                field="messages",
                code="too_many",
            )
        idem = _idempotency(request, await request.body(), _render_batch)
        results = await services.composer.send(
            account, [draft_of(m) for m in data.messages], idempotency=idem
        )
        if isinstance(results, Replay):
            return _answer(results.status_code, results.body, replayed=True)
        status_code, body = _render_batch(results)
        return _answer(status_code, body)

    @get("/{message_id:str}", summary="Get one message")
    async def get_message(
        self, request: Request[Any, Any, Any], account: AccountDep, message_id: FromPath[str]
    ) -> s.MessageOut:
        return s.message_out(await services_of(request).messages.get(account, message_id))

    @get("/{message_id:str}/events", summary="The status history of a message")
    async def get_events(
        self, request: Request[Any, Any, Any], account: AccountDep, message_id: FromPath[str]
    ) -> s.EventListOut:
        events = await services_of(request).messages.events(account, message_id)
        return s.EventListOut(events=[s.event_out(e) for e in events])

    @get("/", summary="List messages, newest first")
    async def list_messages(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        client_tag: Annotated[str | None, QueryParameter(name="clientTag")] = None,
        group_tag: Annotated[str | None, QueryParameter(name="groupTag")] = None,
        status_group: Annotated[int | None, QueryParameter(name="statusGroup", ge=1, le=5)] = None,
        status: Annotated[str | None, QueryParameter(name="status", max_length=64)] = None,
        to: Annotated[str | None, QueryParameter(name="to", max_length=40)] = None,
        created_from: Annotated[datetime | None, QueryParameter(name="createdFrom")] = None,
        created_to: Annotated[datetime | None, QueryParameter(name="createdTo")] = None,
        updated_from: Annotated[datetime | None, QueryParameter(name="updatedFrom")] = None,
        updated_to: Annotated[datetime | None, QueryParameter(name="updatedTo")] = None,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=32)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
        final: Annotated[bool | None, QueryParameter(name="final")] = None,
        sent_from: Annotated[datetime | None, QueryParameter(name="sentFrom")] = None,
        sent_to: Annotated[datetime | None, QueryParameter(name="sentTo")] = None,
    ) -> s.MessageListOut:
        flt = MessageFilter(
            client_tag=client_tag,
            group_tag=group_tag,
            status_group=status_group,
            status=status,
            to=phone.normalize(to) if to else None,
            created_from=to_ms(created_from) if created_from else None,
            created_to=to_ms(created_to) if created_to else None,
            updated_from=to_ms(updated_from) if updated_from else None,
            updated_to=to_ms(updated_to) if updated_to else None,
            before_id=cursor,
            limit=limit,
            final=final,
            sent_from=to_ms(sent_from) if sent_from else None,
            sent_to=to_ms(sent_to) if sent_to else None,
        )
        found = await services_of(request).messages.find(account, flt)
        next_cursor = found[-1].id if len(found) == limit else None
        return s.MessageListOut(messages=[s.message_out(m) for m in found], next_cursor=next_cursor)

    @delete("/{message_id:str}", status_code=200, summary="Cancel a message not yet sent")
    async def cancel(
        self, request: Request[Any, Any, Any], account: AccountDep, message_id: FromPath[str]
    ) -> s.MessageOut:
        return s.message_out(await services_of(request).messages.cancel(account, message_id))

    @post("/cancel", status_code=200, summary="Cancel scheduled messages in bulk")
    async def cancel_many(
        self, request: Request[Any, Any, Any], account: AccountDep, data: JSONBody[s.CancelIn]
    ) -> s.CancelOut:
        if not (data.all or data.group_tag or data.scheduled_from or data.scheduled_to):
            raise InvalidInput(
                'give groupTag, scheduledFrom or scheduledTo, or "all": true',
                field="groupTag",
                code="missing_criteria",
            )
        ids = await services_of(request).messages.cancel_scheduled(
            account,
            group_tag=data.group_tag,
            schedule_from=data.scheduled_from,
            schedule_to=data.scheduled_to,
        )
        return s.CancelOut(cancelled=len(ids), ids=ids)
