"""The ``todoke`` command: everything an operator does, plus ``serve``.

Each command builds the one :class:`~todoke.config.Settings` object (environment, then flags)
and passes it down.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime
from todoke.cli_delivery import (
    carriers_app,
    connectors_app,
    maintenance_app,
    routes_app,
    simulator,
    worker,
)
from todoke.cli_mediasms import batches_app, mediasms_app
from todoke.cli_outcomes import usage, webhooks_app
from todoke.cli_protection import accounts_limits, accounts_update, blocklist_app, ips_app
from todoke.cli_zettai import numbers_app, zettai_app
from todoke.config import Settings
from todoke.logging import configure

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="todoke (届け): SMS for Japan")
accounts_app = typer.Typer(no_args_is_help=True, help="Customer accounts")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")
app.add_typer(connectors_app, name="connectors")
app.add_typer(routes_app, name="routes")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(carriers_app, name="carriers")
app.add_typer(mediasms_app, name="mediasms")
app.add_typer(batches_app, name="batches")
app.add_typer(zettai_app, name="zettai")
app.add_typer(numbers_app, name="numbers")
app.command()(worker)
app.command()(simulator)
app.add_typer(webhooks_app, name="webhooks")
app.command()(usage)


@app.callback()
def _logs_to_stderr() -> None:
    """Logs go to stderr, warnings and errors only, so that stdout carries just the JSON an
    operator pipes on (``serve``, ``worker`` and ``simulator`` set their own level)."""
    configure("warning", "console")


app.add_typer(ips_app, name="ips")
app.add_typer(blocklist_app, name="blocklist")
accounts_app.command("update")(accounts_update)
accounts_app.command("limits")(accounts_limits)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides TODOKE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides TODOKE_PORT")] = None,
    database_url: DbOpt = None,
) -> None:
    """Start todoke: API, workers and (without a real connector) the carrier simulator."""
    from todoke.server import serve as run_server

    settings = settings_from(host=host, port=port, database_url=database_url)
    run(lambda: run_server(settings))


@app.command()
def migrate(database_url: DbOpt = None) -> None:
    """Create or upgrade the database schema."""
    from todoke.app import Runtime

    async def go() -> None:
        rt = Runtime(settings_from(database_url=database_url))
        try:
            await rt.db.migrate()
        finally:
            await rt.db.dispose()

    run(go)
    typer.echo("database is up to date")


async def _with_runtime(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    async def on_services(rt: Any) -> T:
        return await action(rt.services)

    return await with_runtime(settings, on_services)


def _account_json(account: Any, token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "clientId": account.id,
        "name": account.name,
        "role": account.role,
        "smsCode": account.default_sender_code,
        "smsCodes": list(account.sender_codes),
    }
    if token is not None:
        out["token"] = token
    return out


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option(help="Account name")],
    client_id: Annotated[int | None, typer.Option("--client-id", help="clientId")] = None,
    sms_code: Annotated[str | None, typer.Option("--sms-code", help="smsCode (5-6)")] = None,
    role: Annotated[str, typer.Option(help="client | agency_viewer")] = "client",
    database_url: DbOpt = None,
) -> None:
    """Create an account; prints its clientId, smsCode, token and MediaSMS username and
    password (the secrets are shown once)."""
    from todoke.errors import TodokeError

    async def action(services: Any) -> Any:
        issued = await services.accounts.create(
            name, client_id=client_id, sms_code=sms_code, role=role
        )
        login = await services.mediasms.issue_login(issued.account.id)
        return issued, login

    try:
        issued, login = run(lambda: _with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    out = _account_json(issued.account, issued.token)
    out["username"] = login.username  # the MediaSMS login (`todoke mediasms login` resets it)
    out["password"] = login.password
    print_json(out)


@accounts_app.command("list")
def accounts_list(database_url: DbOpt = None) -> None:
    """List accounts (never their tokens)."""

    async def action(services: Any) -> Any:
        return await services.accounts.all()

    found = run(lambda: _with_runtime(settings_from(database_url=database_url), action))
    print_json([_account_json(a) for a in found])


@tokens_app.command("rotate")
def tokens_rotate(
    client_id: Annotated[int, typer.Option("--client-id", help="clientId")],
    database_url: DbOpt = None,
) -> None:
    """Revoke the account's tokens and print a new one (shown once)."""
    from todoke.errors import TodokeError

    async def action(services: Any) -> Any:
        return await services.accounts.rotate_token(client_id)

    try:
        token = run(lambda: _with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json({"clientId": client_id, "token": token})


@app.command()
def send(
    to: Annotated[str, typer.Option(help="Destination number (090…, +8190…)")],
    text: Annotated[str, typer.Option(help="Message text")],
    sender: Annotated[str | None, typer.Option("--from", help="smsCode")] = None,
    url: Annotated[str | None, typer.Option(help="API base URL (default: this host)")] = None,
    token: Annotated[str | None, typer.Option(help="API token (or TODOKE_API_TOKEN)")] = None,
    client_tag: Annotated[str | None, typer.Option("--client-tag")] = None,
) -> None:
    """Send one message through the HTTP API (a client, like any integrator's)."""
    import httpx

    settings = settings_from()
    api_token = token or settings.api_token
    if not api_token:
        fail("give --token or set TODOKE_API_TOKEN")
    body: dict[str, Any] = {"to": to, "text": text}
    if sender:
        body["from"] = sender
    if client_tag:
        body["clientTag"] = client_tag
    base = (url or settings.base_url).rstrip("/")
    try:
        response = httpx.post(
            f"{base}/v1/messages",
            json=body,
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach {base}: {exc}")
    typer.echo(response.text)
    if response.status_code >= 300:
        raise typer.Exit(1)


def main() -> None:
    """Console entry point. Invalid settings are reported in one line per setting, with the
    environment variable that sets it (exit status 2), not as a traceback."""
    from pydantic import ValidationError

    try:
        app(prog_name="todoke")
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            variable = f"TODOKE_{name.upper()}" if name else "settings"
            print(f"todoke: invalid {variable}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
