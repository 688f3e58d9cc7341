"""The façade settings keep each account's push endpoint in step (api/compat/push.py), and the
push formats render only what their API reports."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs

import pytest
from typer.testing import CliRunner

from todoke.api.compat.push import (
    MEDIASMS_EVENTS,
    MEDIASMS_FORMAT,
    ZETTAI_EVENTS,
    ZETTAI_FORMAT,
    render_dlr,
    render_result,
)
from todoke.app import Runtime
from todoke.cli import app as cli
from todoke.domain import webhooks as wh
from todoke.domain.message import MessageFilter
from todoke.errors import InvalidInput
from todoke.services.messages import SendRequest
from todoke.services.webhook_types import Endpoint, WebhookEvent


async def endpoints_of(rt: Runtime, account_id: int, fmt: str) -> list[Endpoint]:
    return [e for e in await rt.services.webhooks.endpoints(account_id) if e.format == fmt]


async def test_zettai_settings_sync_the_dlr_endpoint(runtime: Runtime) -> None:
    account = (await runtime.services.accounts.create("z", sms_code="55555")).account.id
    zettai = runtime.services.zettai
    await zettai.update(account, dlr_url="https://c.example/dlr")
    [ep] = await endpoints_of(runtime, account, ZETTAI_FORMAT)
    assert ep.url == "https://c.example/dlr" and ep.events == ZETTAI_EVENTS
    assert ep.options == {"dlr_format": "json"}

    await zettai.update(account, dlr_format="xml")
    [same] = await endpoints_of(runtime, account, ZETTAI_FORMAT)
    assert same.id == ep.id and same.options == {"dlr_format": "xml"}

    # A refused URL (a private address) leaves both the settings and the endpoint unchanged.
    with pytest.raises(InvalidInput):
        await zettai.update(account, dlr_url="http://127.0.0.1/dlr")
    assert (await zettai.get(account)).dlr_url == "https://c.example/dlr"
    [still] = await endpoints_of(runtime, account, ZETTAI_FORMAT)
    assert still.url == "https://c.example/dlr"

    # Re-applying the same URL repairs a removed endpoint.
    await runtime.services.webhooks.delete(account, ep.id)
    await zettai.update(account, dlr_url="https://c.example/dlr")
    assert len(await endpoints_of(runtime, account, ZETTAI_FORMAT)) == 1

    await zettai.update(account, dlr_url="")
    assert await endpoints_of(runtime, account, ZETTAI_FORMAT) == []
    # Other accounts and the account's own standard endpoints are untouched.
    other = await runtime.services.webhooks.create(account, "https://c.example/hook")
    await zettai.update(account, dlr_url="https://c.example/dlr2")
    await zettai.update(account, dlr_url=None)
    assert [e.id for e in await runtime.services.webhooks.endpoints(account)] == [other.id]


async def test_mediasms_settings_sync_the_result_endpoint(runtime: Runtime) -> None:
    account = (await runtime.services.accounts.create("m", sms_code="55556")).account.id
    media = runtime.services.mediasms
    assert media is not None
    await media.issue_login(account)
    await media.update_settings(
        account,
        result_url="https://c.example/result",
        result_username="u",
        result_password="p",
    )
    [ep] = await endpoints_of(runtime, account, MEDIASMS_FORMAT)
    assert ep.events == MEDIASMS_EVENTS
    assert (ep.basic_user, ep.basic_password) == ("u", "p")
    assert ep.options == {"numeric_status": False, "keep_params": False}

    await media.update_settings(account, numeric_status=True, result_username="")
    [same] = await endpoints_of(runtime, account, MEDIASMS_FORMAT)
    assert same.id == ep.id and same.options["numeric_status"] is True
    assert same.basic_user is None and same.basic_password is None  # no user: no Basic auth

    await media.update_settings(account, result_url="")
    assert await endpoints_of(runtime, account, MEDIASMS_FORMAT) == []


def test_settings_commands_create_the_endpoints(database_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(cli, [*args, "--database-url", database_url])
        assert r.exit_code == 0, r.output
        return r.output

    run("accounts", "create", "--name", "c", "--client-id", "12345")
    run("zettai", "settings", "--client-id", "12345", "--dlr-url", "https://c.example/dlr",
        "--dlr-format", "xml")  # fmt: skip
    run("mediasms", "settings", "--client-id", "12345", "--result-url",
        "https://c.example/result", "--result-user", "u", "--result-password", "p")  # fmt: skip
    listed = json.loads(run("webhooks", "list", "--client-id", "12345"))
    rows = listed if isinstance(listed, list) else listed["endpoints"]
    assert sorted((e["format"], e["url"]) for e in rows) == [
        (MEDIASMS_FORMAT, "https://c.example/result"),
        (ZETTAI_FORMAT, "https://c.example/dlr"),
    ]


def _endpoint(fmt: str, **options: object) -> Endpoint:
    return Endpoint(
        id="e",
        account_id=1,
        url="https://c.example/x",
        events=(wh.MESSAGE_FINAL,),
        format=fmt,
        secret="whsec_x",
        created_at=0,
        updated_at=0,
        options=options,
    )


async def test_formats_skip_what_their_api_does_not_report(runtime: Runtime) -> None:
    """No message, no clientTag, cancelled, not final, not status=1: no request (skipped)."""
    who = await runtime.services.accounts.create("r", sms_code="55557")
    await runtime.services.messages.send(
        who.account, [SendRequest(to="09012349900", text="x", client_tag="t1")]
    )
    [m] = await runtime.services.messages.find(who.account, MessageFilter())
    dlr = _endpoint(ZETTAI_FORMAT, dlr_format="json")

    def event(type_: str, status: str, message: object = m) -> WebhookEvent:
        return WebhookEvent(
            id="ev",
            account_id=who.account.id,
            type=type_,
            created_at=m.created_at,
            data={"status": status, "final": True},
            message=message,  # type: ignore[arg-type]
        )

    final = event(wh.MESSAGE_FINAL, "DELIVERED_TO_HANDSET")
    rendered = render_dlr(final, dlr, 0)
    assert rendered is not None and rendered.content_type.startswith(
        "application/x-www-form-urlencoded"
    )
    doc = json.loads(parse_qs(rendered.body.decode("ascii"))["json"][0])
    assert doc["eventNotifications"][0]["statusId"] == "2"
    assert render_dlr(event(wh.MESSAGE_FINAL, "DELIVERED_TO_HANDSET", None), dlr, 0) is None
    no_tag = replace(m, client_tag=None)
    assert render_dlr(event(wh.MESSAGE_FINAL, "DELIVERED_TO_HANDSET", no_tag), dlr, 0) is None
    assert render_dlr(event(wh.MESSAGE_FINAL, "CANCELLED"), dlr, 0) is None
    assert render_dlr(event(wh.MESSAGE_STATUS, "PENDING_ENROUTE"), dlr, 0) is None
    assert render_dlr(event(wh.MESSAGE_FINAL, "NO_SUCH_STATUS"), dlr, 0) is None
    # A message not sent through MediaSMS with status=1 gets no result push.
    assert render_result(final, _endpoint(MEDIASMS_FORMAT), 0) is None
