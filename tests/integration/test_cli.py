"""The operator's command line, run in-process against a real database.

Operators script these commands (issue texts name them exactly), so the tests drive the same
argument forms and read the JSON they print.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from todoke.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The command configures the process's logging, as a CLI does; undo it for other tests."""
    yield
    structlog.reset_defaults()


def cli(database_url: str, *args: str, ok: bool = True) -> Any:
    result = runner.invoke(app, [*args, "--database-url", database_url])
    if ok:
        assert result.exit_code == 0, result.output
        text = result.stdout.strip()
        return json.loads(text) if text.startswith(("{", "[")) else text
    assert result.exit_code != 0, result.output
    return result.output


def test_accounts_create_list_and_rotate(database_url: str) -> None:
    created = cli(database_url, "accounts", "create", "--name", "Shop", "--sms-code", "12345")
    assert created["smsCode"] == "12345"
    assert len(created["token"]) == 32
    listed = cli(database_url, "accounts", "list")
    assert [a["clientId"] for a in listed] == [created["clientId"]]
    assert "token" not in listed[0]
    rotated = cli(database_url, "tokens", "rotate", "--client-id", str(created["clientId"]))
    assert rotated["token"] != created["token"]
    assert len(rotated["token"]) == 32


def test_accounts_create_refuses_a_bad_sms_code(database_url: str) -> None:
    out = cli(database_url, "accounts", "create", "--name", "x", "--sms-code", "1", ok=False)
    assert "smsCode" in out


def test_connectors_and_routes_as_operators_script_them(database_url: str) -> None:
    cli(
        database_url,
        *("connectors", "add", "docomo-1", "--smpp", "10.0.0.5:2775"),
        *("--system-id", "esme1", "--password", "pw-secret", "--window", "20", "--tps", "50"),
    )
    cli(
        database_url,
        *("connectors", "add", "backup", "--smpp", "10.0.0.6:2775"),
        *("--system-id", "esme2", "--password", "pw-2"),
    )
    listed = cli(database_url, "connectors", "list")
    by_name = {c["name"]: c for c in listed}
    assert by_name["docomo-1"]["smpp"] == "10.0.0.5:2775"
    assert by_name["docomo-1"]["window"] == 20
    assert by_name["docomo-1"]["tps"] == 50
    assert by_name["backup"]["window"] == 10  # the default window
    assert "pw-secret" not in json.dumps(listed)  # passwords are never printed

    cli(
        database_url,
        *("routes", "set", "--carrier", "docomo", "--connector", "docomo-1"),
        *("--fallback", "backup"),
    )
    cli(database_url, "routes", "set", "--carrier", "all", "--connector", "backup")
    routes = cli(database_url, "routes", "list")
    table = {r["carrier"]: r["connectors"] for r in routes}
    assert table == {"docomo": ["docomo-1", "backup"], "all": ["backup"]}

    # A carrier id works where a name does; replacing a route keeps one route per carrier.
    cli(database_url, "routes", "set", "--carrier", "103", "--connector", "backup")
    table = {r["carrier"]: r["connectors"] for r in cli(database_url, "routes", "list")}
    assert table["docomo"] == ["backup"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("connectors", "add", "x", "--smpp", "nohost", "--system-id", "a", "--password", "b"),
            "HOST:PORT",
        ),
        (("routes", "set", "--carrier", "docomo", "--connector", "missing"), "missing"),
        (("routes", "set", "--carrier", "ntt", "--connector", "x"), "unknown carrier"),
        (("maintenance", "cancel", "999"), "999"),
    ],
)
def test_bad_operator_input_is_a_clear_error(
    database_url: str, args: tuple[str, ...], says: str
) -> None:
    out = cli(database_url, *args, ok=False)
    assert says in out
    assert "Traceback" not in out


def test_maintenance_add_change_list_cancel(database_url: str) -> None:
    window = cli(
        database_url,
        *("maintenance", "add", "--carrier", "au", "--effect", "refuse"),
        *("--start", "2026-12-01T01:00", "--end", "2026-12-01T06:00", "--note", "定期メンテナンス"),
    )
    assert window["carrier"] == "au"
    assert window["effect"] == "refuse"
    assert window["state"] == "planned"
    assert window["start"].startswith("2026-12-01T01:00")  # JST when no offset is given
    changed = cli(
        database_url,
        *("maintenance", "change", str(window["id"])),
        *("--start", "2026-12-02T01:00+09:00", "--end", "2026-12-02T05:00+09:00"),
    )
    assert changed["state"] == "changed"
    assert changed["end"].startswith("2026-12-02T05:00")
    cancelled = cli(database_url, "maintenance", "cancel", str(window["id"]))
    assert cancelled["state"] == "cancelled"
    assert [w["state"] for w in cli(database_url, "maintenance", "list")] == ["cancelled"]
    out = cli(
        database_url,
        *("maintenance", "add", "--carrier", "au"),
        *("--start", "2026-12-01T06:00", "--end", "2026-12-01T01:00"),
        ok=False,
    )
    assert "--end must be after --start" in out


def test_import_ported_numbers(database_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "mnp.csv"
    csv_file.write_text(
        "number,carrier\n090-1111-2222,au\n08033334444,105\n+817055556666,rakuten\n",
        encoding="utf-8",
    )
    assert cli(database_url, "carriers", "import-ported", str(csv_file)) == {"imported": 3}
    # Importing again updates instead of duplicating.
    csv_file.write_text("09011112222,docomo\n", encoding="utf-8")
    assert cli(database_url, "carriers", "import-ported", str(csv_file)) == {"imported": 1}

    bad = tmp_path / "bad.csv"
    bad.write_text("09011112222,ntt\n", encoding="utf-8")
    assert "line 1: unknown carrier" in cli(
        database_url, "carriers", "import-ported", str(bad), ok=False
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TODOKE_DATABASE_URL", "sqlite", "invalid TODOKE_DATABASE_URL: "),
        ("TODOKE_DATABASE_URL", "mysql://root@localhost/x", "sqlite:///PATH or postgresql://"),
        ("TODOKE_PORT", "eighty", "invalid TODOKE_PORT: Input should be a valid integer"),
    ],
)
def test_invalid_settings_are_one_line_each_not_a_traceback(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TODOKE_")}
    env[variable] = value
    done = subprocess.run(
        [sys.executable, "-m", "todoke", "accounts", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
