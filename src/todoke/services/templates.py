"""Templates (定型文): CRUD per account, and rendering with parameters for any send.

The native ``/v1/templates`` API manages them, ``/v1`` sends use them (``templateId`` and
``templateParams``), the 絶対リーチ! ``template.json`` lists them, and MediaSMS sends name them
by ``number`` (``smstextid``).

A template's ``number`` is per account, 0-999999: given when it is made (a customer moving
from MediaSMS keeps the ids its clients send), else the account's highest number ever + 1. A
number is never handed out twice by itself, so a deleted template's number cannot silently
start sending another text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from todoke.domain import templates as rules
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Account
from todoke.errors import InvalidInput, NotFound
from todoke.services.messages import now_ms

MAX_TEMPLATES_PER_ACCOUNT = 1000


@dataclass(frozen=True, slots=True)
class Template:
    """One stored template."""

    id: str
    account_id: int
    title: str
    content: str
    created_at: int
    updated_at: int
    number: int = 0  # per account; assigned by the store unless given

    @property
    def parameters(self) -> list[str]:
        """The names of its ``{{parameters}}``, in order."""
        return rules.parameters(self.content)


class TemplateStorePort(Protocol):
    """Template storage; every method is scoped to one account."""

    async def insert(self, template: Template, *, number: int | None = None) -> Template:
        """Store a new template with ``number``, or the account's next number when None.
        ``Conflict`` when the title or the number is taken."""
        ...

    async def update(
        self,
        account_id: int,
        template_id: str,
        *,
        title: str,
        content: str,
        number: int | None,
        now: int,
    ) -> Template: ...

    async def delete(self, account_id: int, template_id: str) -> None: ...

    async def get_many(self, account_id: int, template_ids: Sequence[str]) -> list[Template]: ...

    async def list_all(self, account_id: int) -> list[Template]: ...

    async def get_by_numbers(self, account_id: int, numbers: Sequence[int]) -> list[Template]: ...

    async def count(self, account_id: int) -> int: ...


class TemplateService:
    """Templates of one account at a time."""

    def __init__(self, store: TemplateStorePort) -> None:
        self._store = store

    async def create(
        self, account: Account, title: str, content: str, *, number: int | None = None
    ) -> Template:
        """A new template; ``Conflict`` when the account already has this title or number."""
        rules.check(title, content)
        if number is not None:
            rules.check_number(number)
        if await self._store.count(account.id) >= MAX_TEMPLATES_PER_ACCOUNT:
            raise InvalidInput(
                f"an account has at most {MAX_TEMPLATES_PER_ACCOUNT} templates",
                field="title",
                code="too_many",
            )
        now = now_ms()
        return await self._store.insert(
            Template(time_ordered_id(now), account.id, title, content, now, now), number=number
        )

    async def update(
        self,
        account: Account,
        template_id: str,
        *,
        title: str | None = None,
        content: str | None = None,
        number: int | None = None,
    ) -> Template:
        current = await self.get(account, template_id)
        new_title = current.title if title is None else title
        new_content = current.content if content is None else content
        rules.check(new_title, new_content)
        if number is not None:
            rules.check_number(number)
        return await self._store.update(
            account.id,
            template_id,
            title=new_title,
            content=new_content,
            number=number,
            now=now_ms(),
        )

    async def delete(self, account: Account, template_id: str) -> None:
        await self._store.delete(account.id, template_id)

    async def get(self, account: Account, template_id: str) -> Template:
        if "\x00" in template_id:  # no stored id has one (and PostgreSQL refuses it)
            raise NotFound(f"no template {template_id!r}")
        found = await self._store.get_many(account.id, [template_id])
        if not found:
            raise NotFound(f"no template {template_id}")
        return found[0]

    async def list_all(self, account: Account) -> list[Template]:
        """Every template of the account, oldest first."""
        return await self._store.list_all(account.id)

    async def by_number(self, account: Account, number: int) -> Template | None:
        """The account's template with this number (MediaSMS ``smstextid``), or None."""
        found = await self._store.get_by_numbers(account.id, [number])
        return found[0] if found else None

    async def load(self, account: Account, template_ids: Sequence[str]) -> dict[str, Template]:
        """The account's templates among ``template_ids`` (unknown ids are left out)."""
        unique = sorted({i for i in template_ids if "\x00" not in i})
        return {t.id: t for t in await self._store.get_many(account.id, unique)} if unique else {}

    @staticmethod
    def render(
        template: Template | None,
        params: Mapping[str, str] | None,
        *,
        template_id: str = "",
    ) -> str:
        """The text of a send made from ``template`` (``None``: not one of the account's)."""
        if template is None:
            raise InvalidInput(
                f"no template {template_id} in this account",
                field="templateId",
                code="unknown_template",
            )
        return rules.render(template.content, params or {})
