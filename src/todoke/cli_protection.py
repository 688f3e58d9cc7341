"""Operator commands of the protections: ``todoke ips``, ``todoke blocklist`` and
``todoke accounts update|limits`` (rate limit, quotas, flooding filter, duplicates, IP allowlist).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime
from todoke.domain.protection import PLATFORM

if TYPE_CHECKING:
    from todoke.app import Runtime

T = TypeVar("T")

ips_app = typer.Typer(no_args_is_help=True, help="Blocked client addresses")
blocklist_app = typer.Typer(
    no_args_is_help=True, help="Numbers that must not receive messages (opt-out, DND)"
)

ClientIdOpt = Annotated[int | None, typer.Option("--client-id", help="The account's list")]
PlatformOpt = Annotated[
    bool, typer.Option("--platform", help="The platform-wide (DND) list of every account")
]


def _go(database_url: str | None, action: Callable[[Runtime], Awaitable[T]]) -> T:
    from todoke.errors import TodokeError

    try:
        return run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from todoke.services.protection import JST

    return datetime.fromtimestamp(ms / 1000, JST).isoformat(timespec="seconds")


# --- todoke ips ---------------------------------------------------------------------------


@ips_app.command("list")
def ips_list(database_url: DbOpt = None) -> None:
    """Blocked addresses, then addresses with failed authentications on record."""

    async def action(rt: Runtime) -> Any:
        return await rt.protection.addresses()

    records = _go(database_url, action)
    print_json(
        [
            {
                "ip": r.ip,
                "blocked": r.blocked,
                "failures": r.failures,
                "lastFailureAt": _iso(r.last_failure_at),
                "blockedAt": _iso(r.blocked_at),
            }
            for r in records
        ]
    )


@ips_app.command("unblock")
def ips_unblock(
    ip: Annotated[str, typer.Argument(help="The address to unblock")],
    database_url: DbOpt = None,
) -> None:
    """Lift the block of an address (serving processes see it within a few seconds)."""

    async def action(rt: Runtime) -> bool:
        return await rt.protection.unblock(ip)

    if not _go(database_url, action):
        fail(f"{ip} is not blocked")
    print_json({"ip": ip, "unblocked": True})


# --- todoke blocklist ---------------------------------------------------------------------


def _scope(client_id: int | None, platform: bool) -> int:
    if platform == (client_id is not None):
        fail("give either --client-id N or --platform")
    return PLATFORM if platform else int(client_id or 0)


@blocklist_app.command("import")
def blocklist_import(
    file: Annotated[Path, typer.Argument(help="CSV: number[,note] per line (UTF-8 or Shift_JIS)")],
    client_id: ClientIdOpt = None,
    platform: PlatformOpt = False,
    database_url: DbOpt = None,
) -> None:
    """Add the numbers of a CSV file to an account's list or to the platform-wide list."""
    account_id = _scope(client_id, platform)
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")

    async def action(rt: Runtime) -> Any:
        assert rt.services.blocklist is not None
        if account_id != PLATFORM:
            await rt.services.accounts.get(account_id)  # NotFound for an unknown account
        reason = "dnd" if account_id == PLATFORM else "import"
        return await rt.services.blocklist.import_csv(account_id, data, reason=reason)

    report = _go(database_url, action)
    print_json(
        {
            "added": report.added,
            "alreadyListed": report.already_listed,
            "invalid": report.invalid,
            "errors": [{"line": line, "message": m} for line, m in report.errors],
        }
    )


@blocklist_app.command("add")
def blocklist_add(
    number: Annotated[str, typer.Argument(help="Mobile number")],
    client_id: ClientIdOpt = None,
    platform: PlatformOpt = False,
    note: Annotated[str | None, typer.Option(help="Why it is listed")] = None,
    database_url: DbOpt = None,
) -> None:
    """List one number."""
    account_id = _scope(client_id, platform)

    async def action(rt: Runtime) -> Any:
        assert rt.services.blocklist is not None
        if account_id != PLATFORM:
            await rt.services.accounts.get(account_id)
        reason = "dnd" if account_id == PLATFORM else "manual"
        return await rt.services.blocklist.add(account_id, number, reason=reason, note=note)

    entry, added = _go(database_url, action)
    print_json({"number": entry.number, "reason": entry.reason, "added": added})


@blocklist_app.command("remove")
def blocklist_remove(
    number: Annotated[str, typer.Argument(help="Mobile number")],
    client_id: ClientIdOpt = None,
    platform: PlatformOpt = False,
    database_url: DbOpt = None,
) -> None:
    """Take a number off a list."""
    account_id = _scope(client_id, platform)

    async def action(rt: Runtime) -> None:
        assert rt.services.blocklist is not None
        await rt.services.blocklist.remove(account_id, number)

    _go(database_url, action)
    print_json({"number": number, "removed": True})


@blocklist_app.command("list")
def blocklist_list(
    client_id: ClientIdOpt = None,
    platform: PlatformOpt = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    database_url: DbOpt = None,
) -> None:
    """Print a list's entries in number order."""
    account_id = _scope(client_id, platform)

    async def action(rt: Runtime) -> Any:
        assert rt.services.blocklist is not None
        return await rt.services.blocklist.entries(account_id, limit=limit)

    entries = _go(database_url, action)
    print_json(
        [
            {
                "number": e.number,
                "reason": e.reason,
                "note": e.note,
                "createdAt": _iso(e.created_at),
            }
            for e in entries
        ]
    )


# --- todoke accounts update | limits ----------------------------------------------------

_OFF_WORDS = {"unlimited", "none", "off"}


def _limit(value: str | None, name: str) -> tuple[bool, int | None]:
    """(given, stored value): N, unlimited/none/off (0) or default (None: platform default)."""
    if value is None:
        return False, None
    word = value.strip().lower()
    if word == "default":
        return True, None
    if word in _OFF_WORDS:
        return True, 0
    try:
        number = int(word)
    except ValueError:
        fail(f"--{name} takes a number, 'unlimited' (or 'none', 'off') or 'default'")
    if number < 0:
        fail(f"--{name} must be 0 or more")
    return True, number


def accounts_update(
    client_id: Annotated[int, typer.Option("--client-id", help="clientId")],
    rate_limit: Annotated[
        str | None, typer.Option("--rate-limit", help="Messages/s on sends: N | unlimited")
    ] = None,
    daily_quota: Annotated[
        str | None, typer.Option("--daily-quota", help="Messages per JST day: N | none")
    ] = None,
    monthly_quota: Annotated[
        str | None, typer.Option("--monthly-quota", help="Messages per JST month: N | none")
    ] = None,
    flood_messages: Annotated[
        str | None, typer.Option("--flood-messages", help="Per number per hour: N | off")
    ] = None,
    flood_identical: Annotated[
        str | None,
        typer.Option("--flood-identical", help="Identical per number per hour: N | off"),
    ] = None,
    duplicate_window: Annotated[
        str | None,
        typer.Option("--duplicate-window", help="Seconds in which a repeat is a duplicate"),
    ] = None,
    allow_ips: Annotated[
        str | None,
        typer.Option("--allow-ips", help="IP allowlist, comma-separated addresses/CIDRs; '' = any"),
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """Change an account's limits ('default' restores the platform default) or allowlist."""
    changes: dict[str, int | None] = {}
    for column, value, name in (
        ("rate_limit", rate_limit, "rate-limit"),
        ("daily_quota", daily_quota, "daily-quota"),
        ("monthly_quota", monthly_quota, "monthly-quota"),
        ("flood_max_messages", flood_messages, "flood-messages"),
        ("flood_max_identical", flood_identical, "flood-identical"),
        ("duplicate_window_seconds", duplicate_window, "duplicate-window"),
    ):
        given, stored = _limit(value, name)
        if given:
            changes[column] = stored
    if not changes and allow_ips is None:
        fail("nothing to change: give at least one option")

    async def action(rt: Runtime) -> dict[str, Any]:
        await rt.services.accounts.get(client_id)
        if changes:
            await rt.protection.update_limits(client_id, changes)
        if allow_ips is not None:
            await rt.protection.set_allowlist(
                client_id, [v for v in allow_ips.split(",") if v.strip()]
            )
        return await _limits_json(rt, client_id)

    print_json(_go(database_url, action))


def accounts_limits(
    client_id: Annotated[int, typer.Option("--client-id", help="clientId")],
    database_url: DbOpt = None,
) -> None:
    """Show an account's effective limits, its IP allowlist and its quota usage."""

    async def action(rt: Runtime) -> dict[str, Any]:
        await rt.services.accounts.get(client_id)
        return await _limits_json(rt, client_id)

    print_json(_go(database_url, action))


async def _limits_json(rt: Runtime, client_id: int) -> dict[str, Any]:
    from todoke.services.protection import JST
    from todoke.store.protection import usage

    limits = await rt.protection.limits(client_id)
    today = datetime.now(JST)
    day, month = today.strftime("d%Y%m%d"), today.strftime("m%Y%m")
    used = await usage(rt.db, client_id, [day, month])

    def show(value: int, off: str) -> int | str:
        return value if value else off

    return {
        "clientId": client_id,
        "rateLimit": show(limits.rate_limit, "unlimited"),
        "dailyQuota": show(limits.daily_quota, "none"),
        "monthlyQuota": show(limits.monthly_quota, "none"),
        "floodMaxMessages": show(limits.flood_max_messages, "off"),
        "floodMaxIdentical": show(limits.flood_max_identical, "off"),
        "duplicateWindowSeconds": show(limits.duplicate_window_seconds, "off"),
        "allowIps": await rt.protection.allowlist(client_id),
        "usage": {"today": used[day], "thisMonth": used[month]},
    }
