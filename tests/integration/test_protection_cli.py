"""The operator commands: ``todoke ips list|unblock``, ``todoke blocklist import|add|list|remove``
and ``todoke accounts update|limits``, on a real SQLite database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from todoke.cli import app

runner = CliRunner()


def todoke(db: str, *args: str) -> tuple[int, Any]:
    result = runner.invoke(app, [*args, "--database-url", db])
    lines = result.stdout.splitlines()
    # print_json writes an indented document; log lines may come before it.
    start = next((i for i, line in enumerate(lines) if line in ("{", "[", "[]", "{}")), None)
    if start is None:
        return result.exit_code, result.output
    return result.exit_code, json.loads("\n".join(lines[start:]))


def test_accounts_update_and_limits(sqlite_url: str) -> None:
    code, _ = todoke(sqlite_url, "accounts", "create", "--name", "a", "--client-id", "7")
    assert code == 0
    code, shown = todoke(
        sqlite_url,
        "accounts",
        "update",
        "--client-id",
        "7",
        "--rate-limit",
        "unlimited",
        "--daily-quota",
        "1000",
        "--flood-identical",
        "off",
        "--duplicate-window",
        "600",
        "--allow-ips",
        "192.0.2.0/24, 2001:db8::1",
    )
    assert code == 0, shown
    assert shown["rateLimit"] == "unlimited"
    assert shown["dailyQuota"] == 1000
    assert shown["monthlyQuota"] == "none"
    assert shown["floodMaxMessages"] == 20
    assert shown["floodMaxIdentical"] == "off"
    assert shown["duplicateWindowSeconds"] == 600
    assert shown["allowIps"] == ["192.0.2.0/24", "2001:db8::1/128"]

    code, shown = todoke(sqlite_url, "accounts", "update", "--client-id", "7", "--rate-limit", "50")
    assert shown["rateLimit"] == 50
    code, shown = todoke(
        sqlite_url, "accounts", "update", "--client-id", "7", "--rate-limit", "default"
    )
    assert shown["rateLimit"] == 600
    code, shown = todoke(sqlite_url, "accounts", "limits", "--client-id", "7")
    assert code == 0 and shown["usage"] == {"today": 0, "thisMonth": 0}

    code, _ = todoke(sqlite_url, "accounts", "update", "--client-id", "7", "--rate-limit", "x")
    assert code != 0
    code, _ = todoke(sqlite_url, "accounts", "update", "--client-id", "7", "--allow-ips", "1.2.3")
    assert code != 0
    code, _ = todoke(sqlite_url, "accounts", "update", "--client-id", "99", "--rate-limit", "5")
    assert code != 0


def test_blocklist_commands(sqlite_url: str, tmp_path: Path) -> None:
    todoke(sqlite_url, "accounts", "create", "--name", "a", "--client-id", "7")
    csv = tmp_path / "optout.csv"
    csv.write_bytes("090-1111-0001,退会\n08011110002\nabc\n".encode("cp932"))
    code, report = todoke(sqlite_url, "blocklist", "import", str(csv), "--client-id", "7")
    assert code == 0
    assert (report["added"], report["invalid"]) == (2, 1)
    code, report = todoke(sqlite_url, "blocklist", "import", str(csv), "--platform")
    assert report["added"] == 2
    code, entries = todoke(sqlite_url, "blocklist", "list", "--platform")
    assert [e["reason"] for e in entries] == ["dnd", "dnd"]
    code, added = todoke(sqlite_url, "blocklist", "add", "090-3333-0003", "--client-id", "7")
    assert added == {"number": "+819033330003", "reason": "manual", "added": True}
    code, _ = todoke(sqlite_url, "blocklist", "remove", "090-3333-0003", "--client-id", "7")
    assert code == 0
    code, _ = todoke(sqlite_url, "blocklist", "remove", "090-3333-0003", "--client-id", "7")
    assert code != 0
    code, _ = todoke(sqlite_url, "blocklist", "list")  # neither --client-id nor --platform
    assert code != 0
    code, _ = todoke(sqlite_url, "blocklist", "import", str(csv), "--client-id", "99")
    assert code != 0


def test_ips_list_and_unblock(sqlite_url: str) -> None:
    import asyncio

    from tests.conftest import make_settings
    from todoke.app import Runtime

    async def block() -> None:
        rt = Runtime(make_settings(sqlite_url))
        await rt.start()
        try:
            for _ in range(10):
                await rt.protection.auth_failed("192.0.2.99")
            await rt.protection.auth_failed("192.0.2.98")
        finally:
            await rt.stop()

    asyncio.run(block())
    code, listed = todoke(sqlite_url, "ips", "list")
    assert code == 0
    assert [(r["ip"], r["blocked"], r["failures"]) for r in listed] == [
        ("192.0.2.99", True, 10),
        ("192.0.2.98", False, 1),
    ]
    assert listed[0]["blockedAt"] is not None
    code, out = todoke(sqlite_url, "ips", "unblock", "192.0.2.99")
    assert code == 0 and out == {"ip": "192.0.2.99", "unblocked": True}
    code, _ = todoke(sqlite_url, "ips", "unblock", "192.0.2.99")
    assert code != 0
    code, listed = todoke(sqlite_url, "ips", "list")
    assert [r["ip"] for r in listed] == ["192.0.2.98"]
