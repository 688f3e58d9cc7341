"""``todoke mediasms …`` (logins and settings of the MediaSMS API) and ``todoke batches …``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime

mediasms_app = typer.Typer(no_args_is_help=True, help="MediaSMS-compatible API: logins, settings")
batches_app = typer.Typer(no_args_is_help=True, help="Bulk uploads (MediaSMS CSV sends)")

ClientId = Annotated[int, typer.Option("--client-id", help="clientId of the account")]


def _profile_json(profile: Any) -> dict[str, Any]:
    return {
        "clientId": profile.account_id,
        "username": profile.username,
        "longMessage": profile.long_message,
        "numericStatus": profile.numeric_status,
        "keepParams": profile.keep_params,
        "resultUrl": profile.result_url,
        "resultUsername": profile.result_username,
        "resultPassword": "set" if profile.result_password else None,
    }


def _call(database_url: str | None, action: Any) -> Any:
    from todoke.errors import TodokeError

    async def go(rt: Any) -> Any:
        return await action(rt.services)

    try:
        return run(lambda: with_runtime(settings_from(database_url=database_url), go))
    except TodokeError as exc:
        fail(exc.message)


@mediasms_app.command("login")
def mediasms_login(
    client_id: ClientId,
    username: Annotated[
        str | None, typer.Option(help="New username (2-20); default: keep it (new: u<clientId>)")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Create the account's MediaSMS login or reset its password; prints it (shown once)."""

    async def action(services: Any) -> Any:
        return await services.mediasms.issue_login(client_id, username=username)

    issued = _call(database_url, action)
    print_json({"clientId": client_id, "username": issued.username, "password": issued.password})


@mediasms_app.command("settings")
def mediasms_settings(
    client_id: ClientId,
    long_message: Annotated[
        bool | None, typer.Option("--long-message/--no-long-message", help="長文オプション")
    ] = None,
    numeric_status: Annotated[
        bool | None,
        typer.Option("--numeric-status/--text-status", help="status values as numbers"),
    ] = None,
    keep_params: Annotated[
        bool | None,
        typer.Option("--keep-params/--no-keep-params", help="echo send parameters in pushes"),
    ] = None,
    result_url: Annotated[
        str | None, typer.Option("--result-url", help="送達結果通知 URL ('' clears it)")
    ] = None,
    result_user: Annotated[
        str | None, typer.Option("--result-user", help="Basic auth user of the push")
    ] = None,
    result_password: Annotated[
        str | None, typer.Option("--result-password", help="Basic auth password of the push")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Show the account's MediaSMS settings, changing those given."""

    async def action(services: Any) -> Any:
        changes = {
            "long_message": long_message,
            "numeric_status": numeric_status,
            "keep_params": keep_params,
            "result_url": result_url,
            "result_username": result_user,
            "result_password": result_password,
        }
        if any(v is not None for v in changes.values()):
            return await services.mediasms.update_settings(client_id, **changes)
        found = await services.mediasms.profile(client_id)
        if found is None:
            from todoke.errors import NotFound

            raise NotFound(f"account {client_id} has no MediaSMS login")
        return found

    print_json(_profile_json(_call(database_url, action)))


def _batch_json(batch: Any) -> dict[str, Any]:
    import msgspec

    from todoke.api.v1.batches import batch_out

    result: dict[str, Any] = msgspec.to_builtins(batch_out(batch))
    return result


@batches_app.command("show")
def batches_show(
    batch_id: Annotated[str, typer.Argument(help="The batch id (csvid)")],
    follow: Annotated[
        bool | None,
        typer.Option("--follow/--no-follow", help="Progress bar until done (default: on a TTY)"),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between two looks")] = 1.0,
    database_url: DbOpt = None,
) -> None:
    """Print a batch with its counts; while it runs, show a progress bar first."""

    async def look(services: Any) -> Any:
        return await services.batches.get_any(batch_id)

    batch = _call(database_url, look)
    watch = follow if follow is not None else _is_tty()
    if watch and not batch.done:
        total = max(batch.accepted, 1)
        with typer.progressbar(length=total, label=f"batch {batch_id}") as bar:
            shown = 0
            while True:
                progress = batch.finished if batch.state != "loading" else 0
                bar.update(max(0, progress - shown))
                shown = max(shown, progress)
                if batch.done:
                    break
                time.sleep(interval)
                batch = _call(database_url, look)
                if batch.accepted > total:
                    total = batch.accepted
                    bar.length = total
    print_json(_batch_json(batch))


def _is_tty() -> bool:
    import sys

    return sys.stdout.isatty()
