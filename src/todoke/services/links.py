"""Tracked short links: create, insert into messages, redirect, count clicks.

Shared by every edge: the native ``/v1/links`` API, the 絶対リーチ! ``shortenurl.json``, the
MediaSMS ``{URL}``..``{URL4}`` sends, and the public redirect ``GET /s/{code}`` (also on an
account's own short-link domain).

* A link made by an API call belongs to the account and counts every click.
* A link inserted into a message (:meth:`LinkService.attach`) is a *per-message* link with its
  own code, so a click tells which message was opened; it also counts on the account's link
  it was made from (``parent_id``), if any.
* A click on a per-message link makes the message billable: ``billable_parts`` becomes
  ``parts`` if it was lower (MediaSMS bills リダイレクト like 送信済: the recipient evidently
  received it, whatever the receipt said or did not say) -- once the message has been handed
  to a carrier: a click before that (the account opening the text it was shown) is counted
  but bills nothing.
* After a click is committed, ``on_click`` (when set) receives a :class:`ClickEvent`; the
  composition root wires it to the webhook outbox.
* An access code (MediaSMS ``originalurlcode``) makes the redirect ask for it first. Wrong
  codes are counted per link; after ``failure_limit`` in a row the link refuses codes for
  ``lock_seconds``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from todoke.domain import links as rules
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Account
from todoke.errors import InvalidInput, NotFound
from todoke.services.messages import JST, now_ms

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Link:
    """One stored short link. ``access_code_hash`` never leaves the services."""

    id: str
    account_id: int
    code: str
    long_url: str
    name: str
    created_at: int
    domain: str | None = None
    access_code_hash: str | None = None
    parent_id: str | None = None
    message_id: str | None = None
    placeholder: str | None = None
    clicks: int = 0
    code_failures: int = 0
    locked_until: int | None = None
    first_clicked_at: int | None = None
    last_clicked_at: int | None = None
    disabled_at: int | None = None

    @property
    def has_access_code(self) -> bool:
        return self.access_code_hash is not None


@dataclass(frozen=True, slots=True)
class Click:
    """One recorded click (an opened redirect)."""

    id: int
    link_id: str
    account_id: int
    clicked_at: int
    message_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class ClickRecord:
    """What the store did for a click."""

    click_id: int
    clicks: int  # the link's count including this click
    message_billable: bool  # the click made the message billable (it was not before)


@dataclass(frozen=True, slots=True)
class ClickEvent:
    """A committed click, handed to ``on_click`` (and from there to webhooks)."""

    click_id: int
    link_id: str
    code: str
    account_id: int
    long_url: str
    name: str
    clicked_at: int
    clicks: int
    message_id: str | None = None
    parent_id: str | None = None
    placeholder: str | None = None
    message_billable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The event as a webhook payload (camelCase, times ISO 8601 JST)."""
        return {
            "type": "link.clicked",
            "clickId": self.click_id,
            "linkId": self.link_id,
            "code": self.code,
            "accountId": self.account_id,
            "longUrl": self.long_url,
            "name": self.name,
            "clickedAt": datetime.fromtimestamp(self.clicked_at / 1000, JST).isoformat(
                timespec="milliseconds"
            ),
            "clicks": self.clicks,
            "messageId": self.message_id,
            "parentId": self.parent_id,
            "placeholder": self.placeholder,
            "messageBillable": self.message_billable,
        }


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """Where a placeholder of a message goes: a new URL, or one of the account's links."""

    long_url: str | None = None
    link_id: str | None = None
    access_code: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """The outcome of opening a short link.

    ``kind``: ``redirect`` (go to ``location``), ``ask`` (an access code is needed),
    ``wrong`` (the code was wrong; ``remaining`` tries before the lock), ``locked`` (too many
    wrong codes; ``retry_after`` seconds).
    """

    kind: str
    link: Link
    location: str | None = None
    remaining: int = 0
    retry_after: int = 0


class LinkStorePort(Protocol):
    """Link storage. Reads and writes are scoped by account, except :meth:`by_code` (the
    public redirect, which knows only the code)."""

    async def insert(self, rows: Sequence[Link]) -> list[str]:
        """Store new links; returns their codes (a code already taken is replaced)."""
        ...

    async def delete_for_messages(self, account_id: int, message_ids: Sequence[str]) -> None: ...

    async def get_many(self, account_id: int, link_ids: Sequence[str]) -> list[Link]: ...

    async def clicks_by_message(
        self, account_id: int, message_ids: Sequence[str]
    ) -> dict[str, int]:
        """Clicks on the per-message links of each message (only messages with a click)."""
        ...

    async def by_code(self, code: str) -> Link | None: ...

    async def list_links(
        self,
        account_id: int,
        *,
        message_id: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[Link]: ...

    async def clicks(
        self, account_id: int, link_id: str, *, before_id: int | None = None, limit: int = 100
    ) -> list[Click]: ...

    async def record_click(
        self, link: Link, *, at: int, ip: str | None, user_agent: str | None
    ) -> ClickRecord: ...

    async def record_code_failure(
        self, link_id: str, *, at: int, limit: int, lock_ms: int
    ) -> tuple[int, int | None]:
        """Count a wrong access code; returns (failures in a row, locked_until)."""
        ...

    async def disable(self, account_id: int, link_id: str, *, at: int) -> Link: ...


ClickListener = Callable[[ClickEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LinkPolicy:
    """Where short URLs live and how wrong access codes are limited."""

    base_url: str  # short URLs on the platform's host: BASE/CODE (e.g. https://sms.example.jp/s)
    failure_limit: int = 10
    lock_seconds: int = 15 * 60
    custom_scheme: str = "https"


class LinkService:
    """Short links of one account at a time, and the public redirect."""

    def __init__(self, store: LinkStorePort, policy: LinkPolicy) -> None:
        self._store = store
        self._policy = policy
        self.on_click: ClickListener | None = None

    # --- URLs ------------------------------------------------------------------------

    def short_url(self, link: Link) -> str:
        """The URL a recipient opens."""
        return self._url(link.domain, link.code)

    def _url(self, domain: str | None, code: str) -> str:
        if domain:
            return f"{self._policy.custom_scheme}://{domain}/s/{code}"
        return f"{self._policy.base_url.rstrip('/')}/{code}"

    def sample_url(self) -> str:
        """A URL exactly as long as that of any new link on the platform's host (codes have
        one length), to check a text's length rules before its links exist."""
        return f"{self._policy.base_url.rstrip('/')}/{'x' * rules.CODE_LENGTH}"

    # --- the account's links -----------------------------------------------------------

    async def create(
        self,
        account: Account,
        long_url: str,
        *,
        name: str | None = None,
        access_code: str | None = None,
        domain: str | None = None,
    ) -> Link:
        """A new link of the account. ``domain`` must already be allowed by the caller."""
        now = now_ms()
        link = self._new_link(
            account,
            now,
            long_url=rules.check_long_url(long_url),
            name=rules.check_name(name) if name else default_name(now),
            access_code=rules.check_access_code(access_code) if access_code else None,
            domain=rules.check_domain(domain) if domain else None,
        )
        (code,) = await self._store.insert([link])
        return replace(link, code=code)

    async def get(self, account: Account, link_id: str) -> Link:
        if "\x00" in link_id:  # no stored id has one (and PostgreSQL refuses it in a query)
            raise NotFound(f"no link {link_id!r}")
        found = await self._store.get_many(account.id, [link_id])
        if not found:
            raise NotFound(f"no link {link_id}")
        return found[0]

    async def list_links(
        self,
        account: Account,
        *,
        message_id: str | None = None,
        before_id: str | None = None,
        limit: int = 100,
    ) -> list[Link]:
        """Newest first; with ``message_id``, the links inserted into that message."""
        if "\x00" in (message_id or "") + (before_id or ""):
            raise InvalidInput("messageId and cursor must not contain NUL", field="messageId")
        return await self._store.list_links(
            account.id, message_id=message_id, before_id=before_id, limit=limit
        )

    async def clicks(
        self, account: Account, link_id: str, *, before_id: int | None = None, limit: int = 100
    ) -> list[Click]:
        await self.get(account, link_id)
        return await self._store.clicks(account.id, link_id, before_id=before_id, limit=limit)

    async def clicks_by_message(
        self, account: Account, message_ids: Sequence[str]
    ) -> dict[str, int]:
        """Clicks per message id, for the messages among ``message_ids`` whose inserted links
        were opened (MediaSMS shows them as リダイレクト)."""
        wanted = [i for i in message_ids if "\x00" not in i]
        if not wanted:
            return {}
        return await self._store.clicks_by_message(account.id, wanted)

    async def disable(self, account: Account, link_id: str) -> Link:
        """The link stops redirecting (its counts stay)."""
        return await self._store.disable(account.id, link_id, at=now_ms())

    # --- links inside messages -------------------------------------------------------

    async def attach(
        self,
        account: Account,
        drafts: Sequence[tuple[str, str, Mapping[str, LinkTarget]]],
    ) -> list[str | Exception]:
        """Create per-message links and put their short URLs into the texts.

        ``drafts`` are (message id, text, placeholder -> target). Returns the rendered text of
        each draft, or the :class:`InvalidInput` that refuses it. The links are committed
        before this returns, so a message never points at a link that does not exist; call
        :meth:`discard` for the messages that were then not stored.
        """
        now = now_ms()
        wanted = sorted(
            {i for _, _, ts in drafts for t in ts.values() if (i := t.link_id) and "\x00" not in i}
        )
        parents = (
            {p.id: p for p in await self._store.get_many(account.id, wanted)} if wanted else {}
        )
        planned: list[list[tuple[str, Link]] | Exception] = []
        # A batch often repeats one URL (a CSV file's originalurl): check each one once.
        checked: dict[tuple[str, str], str] = {}
        name = default_name(now)
        for message_id, text, targets in drafts:
            try:
                planned.append(
                    self._plan(account, message_id, text, targets, parents, now, checked, name)
                )
            except InvalidInput as exc:
                planned.append(exc)
        rows = [link for p in planned if isinstance(p, list) for _, link in p]
        codes = iter(await self._store.insert(rows) if rows else [])
        out: list[str | Exception] = []
        for (_, text, _), plan in zip(drafts, planned, strict=True):
            if isinstance(plan, Exception):
                out.append(plan)
                continue
            urls = {name: self._url(link.domain, next(codes)) for name, link in plan}
            out.append(rules.render_placeholders(text, urls))
        return out

    async def discard(self, account: Account, message_ids: Sequence[str]) -> None:
        """Delete the per-message links of messages that were not stored (best effort)."""
        if not message_ids:
            return
        try:
            await self._store.delete_for_messages(account.id, message_ids)
        except Exception:  # the links are unreachable anyway: never sent to anyone
            log.warning("links.discard_failed", count=len(message_ids))

    def _plan(
        self,
        account: Account,
        message_id: str,
        text: str,
        targets: Mapping[str, LinkTarget],
        parents: Mapping[str, Link],
        now: int,
        checked: dict[tuple[str, str], str],
        default: str,
    ) -> list[tuple[str, Link]]:
        plan: list[tuple[str, Link]] = []
        for name, target in targets.items():
            where = f"links.{name}"
            rules.check_placeholder(name)
            if "{" + name + "}" not in text:
                raise InvalidInput(
                    f"the text has no {{{name}}} placeholder for link {name}",
                    field=where,
                    code="missing_placeholder",
                )
            parent: Link | None = None
            if target.link_id is not None:
                parent = parents.get(target.link_id)
                if parent is None or parent.disabled_at is not None:
                    raise InvalidInput(
                        f"no link {target.link_id} in this account",
                        field=where,
                        code="unknown_link",
                    )
                long_url = parent.long_url
            elif target.long_url is not None:
                key = (target.long_url, where)
                if key not in checked:
                    checked[key] = rules.check_long_url(
                        target.long_url, field=where, max_length=rules.MAX_MESSAGE_URL
                    )
                long_url = checked[key]
            else:
                raise InvalidInput(f"{where} needs a URL or a link id", field=where)
            code = (
                rules.check_access_code(target.access_code, field=where)
                if target.access_code
                else None
            )
            link = self._new_link(
                account,
                now,
                long_url=long_url,
                name=rules.check_name(target.name, field=where)
                if target.name
                else (parent.name if parent else default),
                access_code=code,
                domain=parent.domain if parent else None,
                parent=parent,
                message_id=message_id,
                placeholder=name,
            )
            plan.append((name, link))
        return plan

    @staticmethod
    def _new_link(
        account: Account,
        now: int,
        *,
        long_url: str,
        name: str,
        access_code: str | None,
        domain: str | None,
        parent: Link | None = None,
        message_id: str | None = None,
        placeholder: str | None = None,
    ) -> Link:
        link_id = time_ordered_id(now)
        code_hash: str | None
        if access_code:
            code_hash = rules.access_code_hash(link_id, access_code)
        else:
            # A per-message copy without its own code is protected by its parent's (whose
            # hash is salted with the parent's id).
            code_hash = parent.access_code_hash if parent is not None else None
        return Link(
            id=link_id,
            account_id=account.id,
            code=rules.new_code(),
            long_url=long_url,
            name=name,
            created_at=now,
            domain=domain,
            access_code_hash=code_hash,
            parent_id=parent.id if parent is not None else None,
            message_id=message_id,
            placeholder=placeholder,
        )

    # --- the public redirect ---------------------------------------------------------

    async def find(self, code: str) -> Link:
        """The live link of ``code`` (any account's: the code is all a recipient has)."""
        if not rules.is_code(code):
            raise NotFound("no such link")
        link = await self._store.by_code(code)
        if link is None or link.disabled_at is not None:
            raise NotFound("no such link")
        return link

    async def open(
        self,
        code: str,
        *,
        access_code: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Opened:
        """Open a link: ask for its access code, check it, or count the click and redirect."""
        link = await self.find(code)
        now = now_ms()
        if link.has_access_code:
            if link.locked_until is not None and link.locked_until > now:
                return Opened("locked", link, retry_after=-(-(link.locked_until - now) // 1000))
            if access_code is None:
                return Opened("ask", link)
            if not self._code_matches(link, access_code):
                failures, locked_until = await self._store.record_code_failure(
                    link.id,
                    at=now,
                    limit=self._policy.failure_limit,
                    lock_ms=self._policy.lock_seconds * 1000,
                )
                if locked_until is not None and locked_until > now:
                    return Opened("locked", link, retry_after=self._policy.lock_seconds)
                return Opened(
                    "wrong", link, remaining=max(0, self._policy.failure_limit - failures)
                )
        record = await self._store.record_click(
            link, at=now, ip=ip, user_agent=(user_agent or "")[:256] or None
        )
        await self._emit(link, record, now)
        return Opened("redirect", link, location=rules.to_uri(link.long_url))

    @staticmethod
    def _code_matches(link: Link, code: str) -> bool:
        stored = link.access_code_hash or ""
        salts = [link.id] + ([link.parent_id] if link.parent_id else [])
        return any(
            hmac.compare_digest(rules.access_code_hash(salt, code), stored) for salt in salts
        )

    async def _emit(self, link: Link, record: ClickRecord, now: int) -> None:
        log.info("link.clicked", link=link.id, account=link.account_id)
        if self.on_click is None:
            return
        event = ClickEvent(
            click_id=record.click_id,
            link_id=link.id,
            code=link.code,
            account_id=link.account_id,
            long_url=link.long_url,
            name=link.name,
            clicked_at=now,
            clicks=record.clicks,
            message_id=link.message_id,
            parent_id=link.parent_id,
            placeholder=link.placeholder,
            message_billable=record.message_billable,
        )
        try:
            await self.on_click(event)
        except Exception:  # the click is stored; a listener's failure must not undo the redirect
            log.exception("link.on_click_failed", link=link.id)


def default_name(now: int) -> str:
    """``Shorturl-YYYYMMDDHHMMSSsss`` (JST), the 絶対リーチ! default name of a short URL."""
    moment = datetime.fromtimestamp(now / 1000, JST)
    return f"Shorturl-{moment:%Y%m%d%H%M%S}{moment.microsecond // 1000:03d}"
