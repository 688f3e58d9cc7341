"""Sends made of parts: a template with parameters, tracked links at placeholders.

:class:`Composer` is what an edge calls when a send may use a template (``/v1``
``templateId``) or tracked links (``/v1`` ``links``, MediaSMS ``{URL}``..``{URL4}``). It
renders each draft into a plain :class:`~todoke.services.messages.SendRequest` and hands the
batch to :class:`~todoke.services.messages.MessageService`: the one send path. A draft that
cannot be composed (unknown template, missing parameter, bad URL) is refused in its place,
like any other invalid item of a batch.

Order of writes: the per-message links are committed first, then the messages (a stored
message never points at a missing link); the links of messages that were then refused are
deleted again.

A draft may carry its edge's own rule for the final text (``check``: MediaSMS counts
Shift_JIS bytes of the text *with* the short URLs in it); a text it refuses is refused in
its place like any other invalid item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Account, Message
from todoke.errors import InvalidInput
from todoke.services.links import LinkService, LinkTarget
from todoke.services.messages import MessageService, SendRequest, now_ms
from todoke.services.ports import AcceptResult, IdempotencyRequest, Replay
from todoke.services.templates import TemplateService


@dataclass(slots=True)  # not frozen: one per accepted message (see Message)
class Draft:
    """One send as an edge received it. With ``template_id`` the text comes from the
    template (``request.text`` must then be empty); ``links`` maps placeholder names to
    where they go. ``check`` (optional) is the edge's rule for the final text: it raises
    :class:`InvalidInput` to refuse it."""

    request: SendRequest
    template_id: str | None = None
    template_params: Mapping[str, str] | None = None
    links: Mapping[str, LinkTarget] | None = None
    check: Callable[[str], None] | None = None

    @property
    def plain(self) -> bool:
        return (
            self.template_id is None
            and not self.links
            and not self.template_params
            and self.check is None
        )


class Composer:
    def __init__(
        self, messages: MessageService, templates: TemplateService, links: LinkService
    ) -> None:
        self._messages = messages
        self._templates = templates
        self._links = links

    async def send(
        self,
        account: Account,
        drafts: Sequence[Draft],
        *,
        idempotency: IdempotencyRequest | None = None,
    ) -> AcceptResult:
        """Compose and store a batch; one result per draft, in order (or a replay)."""
        if all(d.plain for d in drafts):
            return await self._messages.send(
                account, [d.request for d in drafts], idempotency=idempotency
            )
        texts = await self._texts(account, drafts)
        linked = await self._attach_links(account, drafts, texts)
        ready: list[SendRequest] = []
        slots: list[int | Exception] = []
        created: list[str] = []
        for draft, text in zip(drafts, linked, strict=True):
            if isinstance(text, Exception):
                slots.append(text)
                continue
            if text[1] is not None:
                created.append(text[1])
            if draft.check is not None:
                try:
                    draft.check(text[0])
                except InvalidInput as exc:
                    slots.append(exc)  # its links, if any, are discarded below
                    continue
            request = replace(draft.request, text=text[0], message_id=text[1])
            ready.append(request)
            slots.append(len(ready) - 1)

        def merge(stored: Sequence[Message | Exception]) -> list[Message | Exception]:
            return [s if isinstance(s, Exception) else stored[s] for s in slots]

        keyed = idempotency
        if idempotency is not None:
            outer = idempotency

            def render(stored: Sequence[Message | Exception]) -> tuple[int, bytes]:
                return outer.render(merge(stored))

            keyed = IdempotencyRequest(outer.key, outer.request_hash, outer.expires_at, render)
        try:
            if not ready and keyed is None:
                result: AcceptResult = []
            else:
                result = await self._messages.send(account, ready, idempotency=keyed)
        except Exception:
            await self._links.discard(account, created)
            raise
        if isinstance(result, Replay):
            await self._links.discard(account, created)
            return result
        merged = merge(result)
        stored_ids = {m.id for m in merged if isinstance(m, Message)}
        await self._links.discard(account, [i for i in created if i not in stored_ids])
        return merged

    async def _texts(self, account: Account, drafts: Sequence[Draft]) -> list[str | Exception]:
        ids = [d.template_id for d in drafts if d.template_id is not None]
        found = await self._templates.load(account, ids) if ids else {}
        out: list[str | Exception] = []
        for d in drafts:
            try:
                if d.template_id is None:
                    if d.template_params:
                        raise InvalidInput(
                            "templateParams needs a templateId", field="templateParams"
                        )
                    out.append(d.request.text)
                    continue
                if d.request.text:
                    raise InvalidInput(
                        "give either text or templateId, not both",
                        field="templateId",
                        code="text_and_template",
                    )
                out.append(
                    self._templates.render(
                        found.get(d.template_id), d.template_params, template_id=d.template_id
                    )
                )
            except InvalidInput as exc:
                out.append(exc)
        return out

    async def _attach_links(
        self, account: Account, drafts: Sequence[Draft], texts: Sequence[str | Exception]
    ) -> list[tuple[str, str | None] | Exception]:
        """(text, message id chosen for its links) per draft, or the refusal."""
        now = now_ms()
        pending: list[tuple[str, str, Mapping[str, LinkTarget]]] = []
        where: list[int] = []
        out: list[tuple[str, str | None] | Exception] = []
        for index, (draft, text) in enumerate(zip(drafts, texts, strict=True)):
            if isinstance(text, Exception):
                out.append(text)
            elif draft.links:
                message_id = draft.request.message_id or time_ordered_id(now)
                pending.append((message_id, text, draft.links))
                where.append(index)
                out.append((text, message_id))
            else:
                out.append((text, None))
        if pending:
            rendered = await self._links.attach(account, pending)
            for index, (message_id, _, _), text in zip(where, pending, rendered, strict=True):
                out[index] = text if isinstance(text, Exception) else (text, message_id)
        return out
