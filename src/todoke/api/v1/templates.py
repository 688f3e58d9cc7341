"""``/v1/templates``: templates (定型文) with ``{{parameters}}``, each with a per-account
``number`` (what MediaSMS ``smstextid`` names)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from todoke.api.auth import AccountDep, services_of
from todoke.api.v1.schemas import iso
from todoke.domain import templates as rules
from todoke.services.templates import Template

Number = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=rules.MAX_NUMBER,
        description="Per-account template number (MediaSMS smstextid); default: next free",
    ),
]


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(max_length=rules.MAX_TITLE)]
    content: Annotated[str, msgspec.Meta(max_length=rules.MAX_CONTENT)]
    number: Number | None = None


class TemplatePatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(max_length=rules.MAX_TITLE)] | None = None
    content: Annotated[str, msgspec.Meta(max_length=rules.MAX_CONTENT)] | None = None
    number: Number | None = None


class TemplateOut(msgspec.Struct, rename="camel"):
    id: str
    title: str
    content: str
    parameters: list[str]
    created_at: str
    updated_at: str
    number: int


class TemplateListOut(msgspec.Struct):
    templates: list[TemplateOut]


def template_out(t: Template) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        title=t.title,
        content=t.content,
        parameters=t.parameters,
        created_at=iso(t.created_at) or "",
        updated_at=iso(t.updated_at) or "",
        number=t.number,
    )


class TemplatesController(Controller):
    path = "/v1/templates"
    tags = ["templates"]

    @post("/", status_code=201, summary="Create a template")
    async def create(
        self, request: Request[Any, Any, Any], account: AccountDep, data: JSONBody[TemplateIn]
    ) -> TemplateOut:
        t = await services_of(request).templates.create(
            account, data.title, data.content, number=data.number
        )
        return template_out(t)

    @get("/", summary="List the account's templates")
    async def list_templates(
        self, request: Request[Any, Any, Any], account: AccountDep
    ) -> TemplateListOut:
        found = await services_of(request).templates.list_all(account)
        return TemplateListOut(templates=[template_out(t) for t in found])

    @get("/{template_id:str}", summary="Get one template")
    async def get_template(
        self, request: Request[Any, Any, Any], account: AccountDep, template_id: FromPath[str]
    ) -> TemplateOut:
        return template_out(await services_of(request).templates.get(account, template_id))

    @patch("/{template_id:str}", summary="Change a template's title or content")
    async def update(
        self,
        request: Request[Any, Any, Any],
        account: AccountDep,
        template_id: FromPath[str],
        data: JSONBody[TemplatePatch],
    ) -> TemplateOut:
        t = await services_of(request).templates.update(
            account, template_id, title=data.title, content=data.content, number=data.number
        )
        return template_out(t)

    @delete("/{template_id:str}", status_code=204, summary="Delete a template")
    async def remove(
        self, request: Request[Any, Any, Any], account: AccountDep, template_id: FromPath[str]
    ) -> None:
        await services_of(request).templates.delete(account, template_id)
