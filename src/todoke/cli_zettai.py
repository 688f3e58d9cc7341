"""``todoke zettai …`` (絶対リーチ! façade settings) and ``todoke numbers import`` (number
cleaning data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime

zettai_app = typer.Typer(no_args_is_help=True, help="絶対リーチ! CommonMT façade settings")
numbers_app = typer.Typer(no_args_is_help=True, help="Number cleaning data (名義人変更判定)")


def _settings_json(s: Any) -> dict[str, Any]:
    return {
        "clientId": s.account_id,
        "dlrUrl": s.dlr_url,
        "dlrFormat": s.dlr_format,
        "shortDomain": s.short_domain,
        "agencyViewerId": s.agency_viewer_id,
    }


@zettai_app.command("settings")
def zettai_settings(
    client_id: Annotated[int, typer.Option("--client-id", help="clientId")],
    dlr_url: Annotated[
        str | None, typer.Option("--dlr-url", help="DLR push URL ('' clears it)")
    ] = None,
    dlr_format: Annotated[
        str | None, typer.Option("--dlr-format", help="json | xml (json= / xml= form field)")
    ] = None,
    short_domain: Annotated[
        str | None, typer.Option("--short-domain", help="own short-link domain ('' clears)")
    ] = None,
    agency_viewer_id: Annotated[
        str | None,
        typer.Option("--agency-viewer-id", help="clientId of the agency viewer ('' clears)"),
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Show the account's 絶対リーチ! settings; options given change them."""
    from todoke.errors import TodokeError

    changes: dict[str, Any] = {}
    if dlr_url is not None:
        changes["dlr_url"] = dlr_url
    if dlr_format is not None:
        changes["dlr_format"] = dlr_format
    if short_domain is not None:
        changes["short_domain"] = short_domain
    if agency_viewer_id is not None:
        if agency_viewer_id and not agency_viewer_id.isdigit():
            fail("--agency-viewer-id must be a clientId")
        changes["agency_viewer_id"] = int(agency_viewer_id) if agency_viewer_id else None

    async def action(rt: Any) -> Any:
        service = rt.services.zettai
        if changes:
            return await service.update(client_id, **changes)
        await rt.services.accounts.get(client_id)
        return await service.get(client_id)

    try:
        result = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json(_settings_json(result))


@numbers_app.command("import")
def numbers_import(
    file: Annotated[Path, typer.Argument(help="CSV: number,event,date (see docs/links.md)")],
    encoding: Annotated[
        str, typer.Option(help="File encoding (utf-8-sig reads UTF-8 with or without BOM)")
    ] = "utf-8-sig",
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows of a file with bad ones")
    ] = False,
    database_url: DbOpt = None,
) -> None:
    """Import number events (contracted / deactivated) for number cleaning."""
    if not file.is_file():
        fail(f"{file}: no such file")

    async def action(rt: Any) -> Any:
        with file.open(encoding=encoding, newline="") as handle:
            return await rt.services.numbers.import_csv(
                handle, source=file.name, skip_invalid=skip_invalid
            )

    try:
        report = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except (UnicodeDecodeError, LookupError) as exc:
        fail(f"{file}: cannot read as {encoding}: {exc}")
    print_json(
        {
            "rows": report.rows,
            "inserted": report.inserted,
            "duplicates": report.duplicates,
            "invalid": report.error_count,
            "errors": [{"line": line, "error": message} for line, message in report.errors],
            "imported": not report.error_count or skip_invalid,
        }
    )
    if report.error_count and not skip_invalid:
        fail(f"{report.error_count} invalid rows: nothing imported (fix them or --skip-invalid)")
