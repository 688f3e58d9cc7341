"""The operator commands of the MediaSMS façade: logins, settings, ``todoke batches show``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import make_settings
from todoke.app import Runtime, create_app
from todoke.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TODOKE_DEMO_ACCOUNT", "false")
    monkeypatch.chdir(tmp_path)  # no developer .env
    return url


def invoke(*args: str) -> dict[str, object]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    out: dict[str, object] = json.loads(result.stdout[result.stdout.index("{") :])
    return out


def test_accounts_create_prints_the_login_and_it_works(db: str) -> None:
    created = invoke("accounts", "create", "--name", "shop", "--database-url", db)
    username, password = str(created["username"]), str(created["password"])
    assert username == f"u{created['clientId']}"
    assert 6 <= len(password) <= 20 and password.isalnum()
    assert created["token"]

    reset = invoke("mediasms", "login", "--client-id", str(created["clientId"]),
                   "--username", "shop-api", "--database-url", db)  # fmt: skip
    assert reset["username"] == "shop-api" and reset["password"] != password

    settings = invoke(
        "mediasms", "settings", "--client-id", str(created["clientId"]), "--long-message",
        "--numeric-status", "--keep-params", "--result-url", "https://customer.example/dlr",
        "--result-user", "dlr", "--result-password", "pw", "--database-url", db,
    )  # fmt: skip
    assert settings == {
        "clientId": created["clientId"],
        "username": "shop-api",
        "longMessage": True,
        "numericStatus": True,
        "keepParams": True,
        "resultUrl": "https://customer.example/dlr",
        "resultUsername": "dlr",
        "resultPassword": "set",
    }

    async def send_with(user: str, pw: str) -> str:
        rt = Runtime(make_settings(db))
        await rt.start()
        try:
            transport = httpx.ASGITransport(app=create_app(rt.settings, rt), client=("10.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/api/",
                    data={"mobilenumber": "09012345678", "smstext": "x" * 200},
                    auth=(user, pw),
                )
                return r.text
        finally:
            await rt.stop()

    assert asyncio.run(send_with(username, password)) == "401"  # the old login is gone
    assert asyncio.run(send_with("shop-api", str(reset["password"]))) == "200"  # 長文 on


def test_settings_errors(db: str) -> None:
    result = runner.invoke(
        app, ["mediasms", "settings", "--client-id", "999", "--database-url", db]
    )
    assert result.exit_code == 1 and "no MediaSMS login" in result.output
    created = invoke("accounts", "create", "--name", "x", "--database-url", db)
    result = runner.invoke(
        app,
        ["mediasms", "settings", "--client-id", str(created["clientId"]),
         "--result-url", "ftp://x", "--database-url", db],
    )  # fmt: skip
    assert result.exit_code == 1 and "http(s)" in result.output
    result = runner.invoke(
        app, ["mediasms", "login", "--client-id", "424242", "--database-url", db]
    )
    assert result.exit_code == 1


def test_batches_show(db: str) -> None:
    created = invoke("accounts", "create", "--name", "bulk", "--database-url", db)

    async def upload() -> str:
        rt = Runtime(make_settings(db))
        await rt.start()
        try:
            transport = httpx.ASGITransport(app=create_app(rt.settings, rt), client=("10.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/api3/",
                    params={"smstext": "hello"},
                    files={"file": ("x.csv", b"09011112222\n09011113333\n0312345678\n")},
                    auth=(str(created["username"]), str(created["password"])),
                )
                return r.text.split("\n")[1]
        finally:
            await rt.stop()

    batch_id = asyncio.run(upload())
    shown = invoke("batches", "show", batch_id, "--no-follow", "--database-url", db)
    assert (shown["id"], shown["rows"], shown["accepted"], shown["refused"]) == (batch_id, 3, 2, 1)
    assert shown["counts"] == {
        "pending": 2, "delivered": 0, "undeliverable": 0, "expired": 0, "rejected": 0,
        "cancelled": 0,
    }  # fmt: skip
    result = runner.invoke(app, ["batches", "show", "nope", "--database-url", db])
    assert result.exit_code == 1 and "no batch" in result.output


def test_batches_show_follows_until_done(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """--follow draws a progress bar while the batch runs and prints it once done."""
    import sqlite3

    from todoke import cli_mediasms

    created = invoke("accounts", "create", "--name", "bulk", "--database-url", db)

    async def upload() -> str:
        rt = Runtime(make_settings(db))
        await rt.start()
        try:
            transport = httpx.ASGITransport(app=create_app(rt.settings, rt), client=("10.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/api3/",
                    params={"smstext": "hello"},
                    files={"file": ("x.csv", b"09011112222\n09011113333\n")},
                    auth=(str(created["username"]), str(created["password"])),
                )
                return r.text.split("\n")[1]
        finally:
            await rt.stop()

    batch_id = asyncio.run(upload())
    path = db.removeprefix("sqlite:///")
    looks: list[float] = []

    def deliver_while_waiting(seconds: float) -> None:
        # What the dispatcher would do between two looks (none runs in this test).
        looks.append(seconds)
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE messages SET status = 'DELIVERED_TO_HANDSET', status_group = 3,"
                " due_at = NULL"
            )

    monkeypatch.setattr(cli_mediasms.time, "sleep", deliver_while_waiting)
    result = runner.invoke(
        app, ["batches", "show", batch_id, "--follow", "--interval", "0", "--database-url", db]
    )
    assert result.exit_code == 0, result.output
    assert f"batch {batch_id}" in result.output  # the progress bar's label
    shown = json.loads(result.stdout[result.stdout.index("{") :])
    assert shown["done"] is True and shown["counts"]["delivered"] == 2
    assert looks == [0.0]
