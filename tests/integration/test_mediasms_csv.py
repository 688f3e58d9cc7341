"""MediaSMS CSV 投入方式: encodings, dynamic tags, per-row report, one all-or-nothing batch."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Tenant, make_settings
from tests.integration.test_mediasms_api import Login
from todoke.app import Runtime
from todoke.config import Settings
from todoke.services.messages import JST
from todoke.store.tables import batches, messages

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, token_cache_seconds=60.0)


@pytest.fixture
async def login(runtime: Runtime, tenant: Tenant) -> Login:
    assert runtime.services.mediasms is not None
    issued = await runtime.services.mediasms.issue_login(tenant.client_id)
    return Login(tenant, issued.username, issued.password)


async def upload(
    client: httpx.AsyncClient, login: Login, content: bytes, **params: str
) -> list[str]:
    r = await client.post(
        "/api3/",
        params=params,
        files={"file": ("list.csv", content, "text/csv")},
        auth=login.auth,
    )
    assert r.status_code == 200, r.text
    return r.text.split("\n")


SJIS_FILE = "\r\n".join(
    [
        "携帯番号,info1,info2",
        "090-1111-0001,山田,ABC123",
        "0312345678,鈴木,X",  # landline: 560
        "08011110002,ｶﾀｶﾅ,ｺｰﾄﾞ",
        "09011110003," + "長" * 70 + ",X",  # the text becomes too long: 585
        "",  # blank lines are skipped
        "070-1111-0004,佐藤,Z9",
    ]
).encode("cp932")


async def test_shift_jis_file_with_tags_and_bad_rows(
    client: httpx.AsyncClient, login: Login
) -> None:
    lines = await upload(
        client, login, SJIS_FILE, smstext="{info1}様 ご予約番号は{info2}です", status="0"
    )
    code, batch_id, counts, *refused = lines
    assert code == "200"
    assert counts == "5|2|3"
    assert refused == ["3,0312345678,560", "5,09011110003,585"]
    r = await client.get(f"/v1/batches/{batch_id}", headers=login.tenant.headers)
    body = r.json()
    assert (body["state"], body["rows"], body["accepted"], body["refused"]) == (
        "ready",
        5,
        3,
        2,
    )
    assert body["counts"]["pending"] == 3 and body["done"] is False
    r = await client.get("/v1/messages", params={"limit": 10}, headers=login.tenant.headers)
    texts = {m["text"] for m in r.json()["messages"]}
    assert texts == {
        "ｶﾀｶﾅ様 ご予約番号はｺｰﾄﾞです",
        "山田様 ご予約番号はABC123です",
        "佐藤様 ご予約番号はZ9です",
    }
    # the result CSV gives the rows back in the common format, numbers with hyphens
    now = datetime.now(JST)
    r = await client.get(
        "/api5/csv/",
        params={
            "startdatetime": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M"),
            "enddatetime": (now + timedelta(hours=1)).strftime("%Y%m%d%H%M"),
        },
        auth=login.auth,
    )
    rows = {row[0]: row for row in list(csv.reader(io.StringIO(r.text)))[1:]}
    assert set(rows) == {"090-1111-0001", "080-1111-0002", "070-1111-0004"}
    assert rows["090-1111-0001"][1:3] == ["山田", "ABC123"]


async def test_utf8_detection_and_text_columns(client: httpx.AsyncClient, login: Login) -> None:
    content = "\ufeff09011112222,,,,,,,,Shop,本文はここ\n09011113333,,,,,,,,,\n".encode()
    lines = await upload(client, login, content, smstexttype="csv")
    assert lines[0] == "200"
    assert lines[2:] == ["2|1|1", "2,09011113333,585"]
    r = await client.get("/v1/messages", headers=login.tenant.headers)
    assert [m["text"] for m in r.json()["messages"]] == ["本文はここ"]
    # the same file declared as Shift_JIS still decodes (cp932 reads these bytes differently,
    # and the text is refused or accepted by its own rules), but a Shift_JIS file declared
    # UTF-8 is an encoding error
    lines = await upload(client, login, SJIS_FILE, smstext="x", encode="utf8")
    assert lines == ["597"]


async def test_smsid_column_and_status(client: httpx.AsyncClient, login: Login) -> None:
    content = b"\n".join(
        [
            b"09011110001,,,,,,,,,,Row1",
            b"09011110002,,,,,,,,,,Row1",  # duplicate in the file: 587
            b"09011110003,,,,,,,,,,bad-id",  # 574
            b"09011110004",  # status=1 needs an smsid: 574
            b"09011110005,,,,,,,,,,Row5",
        ]
    )
    lines = await upload(client, login, content, smstext="hi", status="1")
    assert lines[0] == "200" and lines[2] == "5|3|2"
    assert lines[3:] == ["2,09011110002,587", "3,09011110003,574", "4,09011110004,574"]
    r = await client.get("/api5/", params={"smsid": "Row5"}, auth=login.auth)
    assert r.text == "200\n送信中"
    # a second file reusing an smsid: refused while storing, reported the same way
    lines = await upload(client, login, b"09011110009,,,,,,,,,,Row5\n09011110008,,,,,,,,,,Row8",
                         smstext="hi")  # fmt: skip
    assert lines[0] == "200" and lines[2] == "2|1|1" and lines[3] == "1,,587"


@pytest.mark.parametrize(
    ("content", "params", "expected"),
    [
        (b"", {"smstext": "x"}, ["596"]),
        (b"\n\n", {"smstext": "x"}, ["596"]),
        (b"header only\n", {"smstext": "x"}, ["596"]),
        (b"09011112222\n", {"smstext": "x", "encode": "ebcdic"}, ["597"]),
        (b"09011112222\n", {"smstext": "x", "smstexttype": "html"}, ["591"]),
        (b"09011112222\n", {"smstext": "x", "smstextid": "1"}, ["570"]),
        (b"09011112222\n", {"smstexttype": "id"}, ["550", "", "1|1|0", "1,09011112222,570"]),
        (b"\xff\xfe\x00\x01", {"smstext": "x"}, ["596"]),  # binary: not CSV
        (b"09011112222,\x82\n", {"smstext": "x"}, ["597"]),  # neither UTF-8 nor Shift_JIS
        (b"0312345678\n", {"smstext": "x"}, ["550", "", "1|1|0", "1,0312345678,560"]),
        (b"09011112222\n", {"smstext": "x", "senddatetime": "2026"}, ["562"]),
        (b"09011112222\n", {"smstext": "x", "status": "5"}, ["573"]),
        (b"09011112222\n", {"smstext": "x", "senddatetime": "202001010000"}, ["592"]),
    ],
)
async def test_file_level_codes(
    client: httpx.AsyncClient,
    login: Login,
    content: bytes,
    params: dict[str, str],
    expected: list[str],
) -> None:
    assert await upload(client, login, content, **params) == expected


async def test_csv_without_file_and_by_get(client: httpx.AsyncClient, login: Login) -> None:
    r = await client.post("/api3/", data={"smstext": "x"}, auth=login.auth)
    assert r.text == "596"
    r = await client.post("/api3/", data={"smstext": "x"})
    assert r.text == "401"
    # a file part posted to /api/ is a CSV send too
    r = await client.post(
        "/api/",
        data={"smstext": "hello"},
        files={"file": ("a.csv", b"09011112222\n", "text/csv")},
        auth=login.auth,
    )
    assert r.text.split("\n")[0] == "200"


async def test_chunks_and_many_rows(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    rows = "\n".join(f"090{i:08d},No.{i}" for i in range(2500)).encode()
    lines = await upload(client, login, rows, smstext="{info1} のお知らせ")
    assert lines[0] == "200" and lines[2] == "2500|0|2500"
    batch_id = lines[1]
    async with runtime.db.connect() as conn:
        queued = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(messages)
                .where(messages.c.batch_id == batch_id, messages.c.due_at.is_not(None))
            )
        ).scalar_one()
    assert queued == 2500


async def test_a_batch_is_all_or_nothing(
    runtime: Runtime, client: httpx.AsyncClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link service breaks on the second chunk: nothing is queued, the stored rows (the
    first chunk of 1,000) are cancelled."""
    links = runtime.services.links
    real_attach = links.attach
    calls = []

    async def attach(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("link service down")
        return await real_attach(*args, **kwargs)

    monkeypatch.setattr(links, "attach", attach)
    rows = "\n".join(f"090{i:08d}" for i in range(2000)).encode()
    r = await client.post(
        "/api3/",
        params={"smstext": "見てね {URL}", "originalurl": "https://example.jp/"},
        files={"file": ("a.csv", rows, "text/csv")},
        auth=login.auth,
    )
    assert (r.status_code, r.text) == (500, "550")
    async with runtime.db.connect() as conn:
        states = (await conn.execute(sa.select(batches.c.state))).scalars().all()
        counted = (
            await conn.execute(
                sa.select(messages.c.status, messages.c.due_at.is_(None), sa.func.count()).group_by(
                    messages.c.status, messages.c.due_at.is_(None)
                )
            )
        ).all()
    assert states == ["failed"]
    assert [(s, unqueued, n) for s, unqueued, n in counted] == [("CANCELLED", True, 1000)]


async def test_stale_loading_batches_are_abandoned(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    assert runtime.services.batches is not None
    lines = await upload(client, login, b"09011112222\n09011113333\n", smstext="x")
    batch_id = lines[1]
    # pretend the loading process died before releasing: held again, state loading
    async with runtime.db.engine.begin() as conn:
        await conn.execute(messages.update().values(due_at=None))
        await conn.execute(batches.update().values(state="loading", updated_at=0))
    assert await runtime.services.batches.abandon_stale() == [batch_id]
    r = await client.get(f"/v1/batches/{batch_id}", headers=login.tenant.headers)
    body = r.json()
    assert body["state"] == "abandoned" and body["done"] is True
    assert body["counts"]["cancelled"] == 2


async def test_batches_are_scoped_by_account(
    client: httpx.AsyncClient, login: Login, other_tenant: Tenant
) -> None:
    lines = await upload(client, login, b"09011112222\n", smstext="x")
    r = await client.get(f"/v1/batches/{lines[1]}", headers=other_tenant.headers)
    assert r.status_code == 404
    r = await client.get("/v1/batches/nothing", headers=login.tenant.headers)
    assert r.status_code == 404
