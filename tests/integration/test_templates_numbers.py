"""Templates (/v1/templates and /v1 sends with templateId), number cleaning (the CLI import,
/v1/numbers/{number}/cleaning) and the zettai settings CLI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.cli import app as cli

Client = httpx.AsyncClient
JST = timezone(timedelta(hours=9))


async def make_template(client: Client, who: Tenant, title: str, content: str) -> str:
    r = await client.post(
        "/v1/templates", json={"title": title, "content": content}, headers=who.headers
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    return template_id


async def test_template_crud(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    tid = await make_template(client, tenant, "予約", "{{name}}様 {{ date }} に予約")
    got = (await client.get(f"/v1/templates/{tid}", headers=tenant.headers)).json()
    assert got["parameters"] == ["name", "date"]
    r = await client.post(
        "/v1/templates", json={"title": "予約", "content": "x"}, headers=tenant.headers
    )
    assert r.status_code == 409
    r = await client.patch(
        f"/v1/templates/{tid}", json={"content": "{{name}}様"}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["parameters"] == ["name"]
    assert (
        await client.get(f"/v1/templates/{tid}", headers=other_tenant.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/v1/templates/{tid}", headers=other_tenant.headers)
    ).status_code == 404
    listed = (await client.get("/v1/templates", headers=tenant.headers)).json()["templates"]
    assert [t["title"] for t in listed] == ["予約"]
    assert (await client.delete(f"/v1/templates/{tid}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/v1/templates/{tid}", headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": " ", "content": "x"}, "title"),
        ({"title": "t", "content": ""}, "content"),
        ({"title": "t", "content": "{{bad name}}"}, "content"),
    ],
)
async def test_template_refusals(
    client: Client, tenant: Tenant, body: dict[str, str], field: str
) -> None:
    r = await client.post("/v1/templates", json=body, headers=tenant.headers)
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


async def test_send_with_template_and_link(client: Client, tenant: Tenant) -> None:
    tid = await make_template(client, tenant, "t", "{{name}}様、ご予約は{{date}}です。詳細 {URL}")
    r = await client.post(
        "/v1/messages",
        json={
            "to": "09012345678",
            "templateId": tid,
            "templateParams": {"name": "山田", "date": "12月1日"},
            "links": {"URL": {"longUrl": "https://e.com/r/1"}},
        },
        headers=tenant.headers,
    )
    assert r.status_code == 202, r.text
    text = r.json()["text"]
    assert text.startswith("山田様、ご予約は12月1日です。詳細 http://127.0.0.1:8080/s/")


async def test_batch_with_templates_refuses_items_alone(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    tid = await make_template(client, tenant, "t", "{{name}}様")
    foreign = await make_template(client, other_tenant, "t", "{{name}}様")
    items = [
        {"to": "09012345678", "templateId": tid, "templateParams": {"name": "A"}},
        {"to": "09012345678", "templateId": tid, "templateParams": {}},
        {"to": "09012345678", "templateId": tid, "templateParams": {"name": "B", "x": "1"}},
        {"to": "09012345678", "templateId": foreign, "templateParams": {"name": "C"}},
        {"to": "09012345678", "templateId": tid, "text": "both", "templateParams": {"name": "D"}},
        {"to": "09012345678", "text": "plain"},
    ]
    headers = {**tenant.headers, "Idempotency-Key": "batch-1"}
    r = await client.post("/v1/messages/batch", json={"messages": items}, headers=headers)
    assert r.status_code == 202, r.text
    results = r.json()["results"]
    assert [("id" in x) for x in results] == [True, False, False, False, False, True]
    assert [x["error"]["field"] for x in results if "error" in x] == [
        "templateParams.name",
        "templateParams.x",
        "templateId",
        "templateId",
    ]
    again = await client.post("/v1/messages/batch", json={"messages": items}, headers=headers)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == r.json()


# --- number cleaning ---------------------------------------------------------------------


def _today() -> datetime:
    return datetime.now(JST)


def test_numbers_import_cli(tmp_path: Path, database_url: str) -> None:
    t = _today()
    good = tmp_path / "events.csv"
    good.write_text(
        "\ufeffnumber,event,date\n"
        f"090-1234-0001,contracted,{t - timedelta(days=800):%Y-%m-%d}\n"
        "# a comment line\n"
        f"09012340002,deactivated,{t - timedelta(days=10):%Y%m%d}\n"
        f"09012340002,deactivated,{t - timedelta(days=10):%Y%m%d}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    r = runner.invoke(cli, ["numbers", "import", str(good), "--database-url", database_url])
    assert r.exit_code == 0, r.output
    assert '"inserted": 2' in r.output and '"duplicates": 1' in r.output
    again = runner.invoke(cli, ["numbers", "import", str(good), "--database-url", database_url])
    assert '"inserted": 0' in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "number,event,date\n0312345678,contracted,2024-01-01\n09012340003,moved,2024-01-01\n"
        "09012340004,contracted,2024-02-30\n09012340005,contracted,2024-01-01\n"
    )
    r = runner.invoke(cli, ["numbers", "import", str(bad), "--database-url", database_url])
    assert r.exit_code == 1
    assert '"line": 2' in r.output and '"line": 3' in r.output and '"line": 4' in r.output
    assert '"inserted": 0' in r.output
    r = runner.invoke(
        cli, ["numbers", "import", str(bad), "--skip-invalid", "--database-url", database_url]
    )
    assert r.exit_code == 0 and '"inserted": 1' in r.output
    sjis = tmp_path / "sjis.csv"
    sjis.write_bytes(
        "number,event,date\n０９０１２３４０００６,contracted,2024-01-01\n".encode("shift_jis")
    )
    r = runner.invoke(cli, ["numbers", "import", str(sjis), "--database-url", database_url])
    assert r.exit_code == 1 and "cannot read" in r.output
    r = runner.invoke(
        cli,
        ["numbers", "import", str(sjis), "--encoding", "shift_jis", "--database-url", database_url],
    )
    assert r.exit_code == 0 and '"inserted": 1' in r.output


async def test_v1_number_cleaning(client: Client, tenant: Tenant, runtime: Runtime) -> None:
    t = _today()
    await runtime.services.numbers.import_csv(
        f"09012345678,contracted,{t - timedelta(days=30):%Y%m%d}\n", source="x"
    )
    ref = (t - timedelta(days=60)).date().isoformat()
    r = await client.get(
        "/v1/numbers/090-1234-5678/cleaning", params={"referenceDate": ref}, headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "number": "+819012345678",
        "referenceDate": ref,
        "status": "T",
        "result": "changed",
    }
    recent = (t - timedelta(days=1)).date().isoformat()
    r = await client.get(
        "/v1/numbers/09012345678/cleaning", params={"referenceDate": recent}, headers=tenant.headers
    )
    assert r.json()["status"] == "N"
    r = await client.get(
        "/v1/numbers/09099999999/cleaning", params={"referenceDate": recent}, headers=tenant.headers
    )
    assert r.json()["result"] == "unknown"
    r = await client.get(
        "/v1/numbers/0312345678/cleaning", params={"referenceDate": recent}, headers=tenant.headers
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "number"
    r = await client.get(
        "/v1/numbers/09012345678/cleaning",
        params={"referenceDate": "2001-01-01"},
        headers=tenant.headers,
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "referenceDate"
    assert (
        await client.get("/v1/numbers/09012345678/cleaning", params={"referenceDate": recent})
    ).status_code == 401


def test_zettai_settings_cli(database_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "accounts",
            "create",
            "--name",
            "c",
            "--client-id",
            "12345",
            "--database-url",
            database_url,
        ],
    )
    assert created.exit_code == 0, created.output
    viewer = runner.invoke(
        cli,
        [
            "accounts",
            "create",
            "--name",
            "v",
            "--client-id",
            "20000",
            "--role",
            "agency_viewer",
            "--database-url",
            database_url,
        ],
    )
    assert viewer.exit_code == 0, viewer.output
    r = runner.invoke(
        cli,
        [
            "zettai",
            "settings",
            "--client-id",
            "12345",
            "--dlr-url",
            "https://c.example/dlr",
            "--dlr-format",
            "xml",
            "--short-domain",
            "go.example.jp",
            "--agency-viewer-id",
            "20000",
            "--database-url",
            database_url,
        ],
    )
    assert r.exit_code == 0, r.output
    assert '"dlrFormat": "xml"' in r.output and '"agencyViewerId": 20000' in r.output
    shown = runner.invoke(
        cli, ["zettai", "settings", "--client-id", "12345", "--database-url", database_url]
    )
    assert '"shortDomain": "go.example.jp"' in shown.output
    cleared = runner.invoke(
        cli,
        [
            "zettai",
            "settings",
            "--client-id",
            "12345",
            "--dlr-url",
            "",
            "--database-url",
            database_url,
        ],
    )
    assert '"dlrUrl": null' in cleared.output and '"dlrFormat": "xml"' in cleared.output
    for bad in (
        ["--dlr-format", "csv"],
        ["--dlr-url", "ftp://x"],
        ["--agency-viewer-id", "12345"],
        ["--short-domain", "not a domain"],
    ):
        r = runner.invoke(
            cli,
            ["zettai", "settings", "--client-id", "12345", *bad, "--database-url", database_url],
        )
        assert r.exit_code == 1, (bad, r.output)
    r = runner.invoke(
        cli, ["zettai", "settings", "--client-id", "999", "--database-url", database_url]
    )
    assert r.exit_code == 1
