"""``todoke webhooks …`` and ``todoke usage`` against a real SQLite file."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from todoke.cli import app


def test_webhook_and_usage_commands(sqlite_url: str) -> None:
    runner = CliRunner()
    db = ["--database-url", sqlite_url]

    def call(*args: str) -> object:
        result = runner.invoke(app, [*args, *db])
        assert result.exit_code == 0, result.output
        # Log lines may come first; the command's JSON is the rest.
        lines = result.output.splitlines()
        start = next((i for i, line in enumerate(lines) if line[:1] in "{["), None)
        return json.loads("\n".join(lines[start:])) if start is not None else None

    account = call("accounts", "create", "--name", "cli", "--sms-code", "12121")
    assert isinstance(account, dict)
    cid = str(account["clientId"])
    ep = call(
        "webhooks",
        "add",
        "--client-id",
        cid,
        "--url",
        "https://hooks.example.com/x",
        "--events",
        "message.final,message.inbound",
        "--basic-user",
        "u",
        "--basic-password",
        "p",
        "--max-attempts",
        "4",
    )
    assert isinstance(ep, dict)
    assert ep["secret"].startswith("whsec_") and ep["events"] == [
        "message.final",
        "message.inbound",
    ]
    listed = call("webhooks", "list")
    assert isinstance(listed, list) and [e["id"] for e in listed] == [ep["id"]]
    assert "secret" not in listed[0]
    assert call("webhooks", "deliveries", ep["id"]) == []
    assert call("webhooks", "replay", ep["id"], "--since", "2026-01-01") == {
        "endpoint": ep["id"],
        "replayed": 0,
    }
    today = datetime.now(timezone(timedelta(hours=9))).date()
    usage = call("usage", "--client-id", cid, "--date", f"{today:%Y%m%d}")
    assert isinstance(usage, dict) and usage["state"] == "unready"
    usage = call("usage", "--client-id", cid, "--month", f"{today:%Y%m}")
    assert isinstance(usage, dict) and usage["totals"]["sent"] == 0
    result = runner.invoke(
        app, ["webhooks", "add", "--client-id", cid, "--url", "http://127.0.0.1/x", *db]
    )
    assert result.exit_code == 1 and "loopback" in result.output
    result = runner.invoke(app, ["webhooks", "replay", "NOPE", *db])
    assert result.exit_code == 1
    result = runner.invoke(app, ["webhooks", "remove", ep["id"], *db])
    assert result.exit_code == 0
    assert call("webhooks", "list") == []
