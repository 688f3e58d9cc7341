"""``/v1/links``: the account's tracked short links and their clicks."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from todoke.api.auth import AccountDep, services_of
from todoke.api.v1.schemas import iso
from todoke.domain import links as rules
from todoke.errors import InvalidInput
from todoke.services.links import Click, Link


class LinkIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A new short link."""

    long_url: Annotated[str, msgspec.Meta(max_length=rules.MAX_URL)]
    name: Annotated[str, msgspec.Meta(max_length=rules.MAX_NAME)] | None = None
    access_code: Annotated[str, msgspec.Meta(max_length=rules.MAX_ACCESS_CODE)] | None = None
    domain: Annotated[str, msgspec.Meta(max_length=253)] | None = None


class LinkOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    code: str
    short_url: str
    long_url: str
    name: str
    clicks: int
    has_access_code: bool
    created_at: str
    domain: str | None = None
    parent_id: str | None = None
    message_id: str | None = None
    placeholder: str | None = None
    first_clicked_at: str | None = None
    last_clicked_at: str | None = None
    disabled_at: str | None = None


class LinkListOut(msgspec.Struct, rename="camel"):
    links: list[LinkOut]
    next_cursor: str | None


class ClickOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: int
    link_id: str
    clicked_at: str
    message_id: str | None = None
    user_agent: str | None = None


class ClickListOut(msgspec.Struct, rename="camel"):
    clicks: list[ClickOut]
    next_cursor: int | None


def link_out(link: Link, short_url: str) -> LinkOut:
    return LinkOut(
        id=link.id,
        code=link.code,
        short_url=short_url,
        long_url=link.long_url,
        name=link.name,
        clicks=link.clicks,
        has_access_code=link.has_access_code,
        created_at=iso(link.created_at) or "",
        domain=link.domain,
        parent_id=link.parent_id,
        message_id=link.message_id,
        placeholder=link.placeholder,
        first_clicked_at=iso(link.first_clicked_at),
        last_clicked_at=iso(link.last_clicked_at),
        disabled_at=iso(link.disabled_at),
    )


def click_out(click: Click) -> ClickOut:
    return ClickOut(
        id=click.id,
        link_id=click.link_id,
        clicked_at=iso(click.clicked_at) or "",
        message_id=click.message_id,
        user_agent=click.user_agent,
    )


class LinksController(Controller):
    path = "/v1/links"
    tags = ["links"]

    @post("/", status_code=201, summary="Create a tracked short link")
    async def create(
        self, request: Request[Any, Any, Any], account: AccountDep, data: JSONBody[LinkIn]
    ) -> LinkOut:
        services = services_of(request)
        if data.domain is not None:
            configured = (await services.zettai.get(account.id)).short_domain
            if configured is None or rules.check_domain(data.domain) != configured:
                raise InvalidInput(
                    "domain must be the account's own short-link domain (set by the operator)",
                    field="domain",
                    code="invalid_domain",
                )
        link = await services.links.create(
            account,
            data.long_url,
            name=data.name,
            access_code=data.access_code,
            domain=data.domain,
        )
        return link_out(link, services.links.short_url(link))

    @get("/", summary="List links, newest first (with messageId: the links of one message)")
    async def list_links(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        message_id: Annotated[str | None, QueryParameter(name="messageId", max_length=32)] = None,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=32)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    ) -> LinkListOut:
        links = services_of(request).links
        found = await links.list_links(
            account, message_id=message_id, before_id=cursor, limit=limit
        )
        return LinkListOut(
            links=[link_out(link, links.short_url(link)) for link in found],
            next_cursor=found[-1].id if len(found) == limit else None,
        )

    @get("/{link_id:str}", summary="Get one link with its click count")
    async def get_link(
        self, request: Request[Any, Any, Any], account: AccountDep, link_id: FromPath[str]
    ) -> LinkOut:
        links = services_of(request).links
        link = await links.get(account, link_id)
        return link_out(link, links.short_url(link))

    @get("/{link_id:str}/clicks", summary="The clicks of a link (and of its per-message copies)")
    async def get_clicks(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        link_id: FromPath[str],
        cursor: Annotated[int | None, QueryParameter(name="cursor", ge=1)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=1000)] = 100,
    ) -> ClickListOut:
        found = await services_of(request).links.clicks(
            account, link_id, before_id=cursor, limit=limit
        )
        return ClickListOut(
            clicks=[click_out(c) for c in found],
            next_cursor=found[-1].id if len(found) == limit else None,
        )

    @delete("/{link_id:str}", status_code=200, summary="Disable a link (it stops redirecting)")
    async def disable(
        self, request: Request[Any, Any, Any], account: AccountDep, link_id: FromPath[str]
    ) -> LinkOut:
        links = services_of(request).links
        link = await links.disable(account, link_id)
        return link_out(link, links.short_url(link))
