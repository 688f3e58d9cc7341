"""MediaSMS templates and tracked links on the shared services, over HTTP (real SQLite, and
PostgreSQL when reachable): ``smstextid`` by template number, ``originalurl*`` at
``{URL}``..``{URL4}`` as per-message links with access codes, the text rules counted with
the short URLs in, the CSV send with ``{URL}`` and tags. Delivery, clicks after delivery
(リダイレクト) and billing end to end: tests/e2e/test_mediasms_links.py."""

from __future__ import annotations

import csv
import io
import re
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
from todoke.store.tables import links

NUMBER = "09012345678"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, token_cache_seconds=60.0)


@pytest.fixture
async def login(runtime: Runtime, tenant: Tenant) -> Login:
    assert runtime.services.mediasms is not None
    issued = await runtime.services.mediasms.issue_login(tenant.client_id)
    return Login(tenant, issued.username, issued.password)


@pytest.fixture
async def other_login(runtime: Runtime, other_tenant: Tenant) -> Login:
    assert runtime.services.mediasms is not None
    issued = await runtime.services.mediasms.issue_login(other_tenant.client_id)
    return Login(other_tenant, issued.username, issued.password)


async def send(client: httpx.AsyncClient, login: Login, **params: str) -> str:
    r = await client.post("/api/", data=params, auth=login.auth)
    assert r.status_code == 200, r.text
    return r.text


async def stored(client: httpx.AsyncClient, login: Login, smsid: str) -> dict[str, Any]:
    r = await client.get("/v1/messages", params={"clientTag": smsid}, headers=login.tenant.headers)
    found: list[dict[str, Any]] = r.json()["messages"]
    assert len(found) == 1, found
    return found[0]


async def message_links(
    client: httpx.AsyncClient, login: Login, message_id: str
) -> dict[str, dict[str, Any]]:
    r = await client.get(
        "/v1/links", params={"messageId": message_id}, headers=login.tenant.headers
    )
    return {link["placeholder"]: link for link in r.json()["links"]}


async def template(
    client: httpx.AsyncClient, who: Tenant, title: str, content: str, **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/v1/templates", json={"title": title, "content": content, **extra}, headers=who.headers
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def result_csv(client: httpx.AsyncClient, login: Login) -> dict[str, list[str]]:
    """The period's result rows by smsid (column 11)."""
    now = datetime.now(JST)
    r = await client.get(
        "/api5/csv/",
        params={
            "startdatetime": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M"),
            "enddatetime": (now + timedelta(hours=1)).strftime("%Y%m%d%H%M"),
        },
        auth=login.auth,
    )
    assert r.status_code == 200, r.text
    return {row[10]: row for row in list(csv.reader(io.StringIO(r.text)))[1:]}


def codes_in(text: str, base: str) -> list[str]:
    return re.findall(re.escape(base) + r"/([A-Za-z0-9]{7})", text)


async def test_template_send_by_smstextid(
    client: httpx.AsyncClient, login: Login, other_login: Login
) -> None:
    first = await template(client, login.tenant, "来店", "ご来店ありがとうございました")
    kept = await template(client, login.tenant, "移行", "旧ID 1234 の定型文です", number=1234)
    assert (first["number"], kept["number"]) == (1, 1234)
    assert await send(client, login, mobilenumber=NUMBER, smstextid="1234", smsid="T1") == "200"
    assert await send(client, login, mobilenumber=NUMBER, smstextid="1", smsid="T2") == "200"
    assert (await stored(client, login, "T1"))["text"] == "旧ID 1234 の定型文です"
    assert (await stored(client, login, "T2"))["text"] == "ご来店ありがとうございました"
    # the result CSV names the template (テキストID)
    assert (await result_csv(client, login))["T1"][7] == "1234"
    # numbers are per account: the other account has no template 1234
    assert await send(client, other_login, mobilenumber=NUMBER, smstextid="1234") == "570"
    # a template with {{parameters}} cannot be filled from MediaSMS
    await template(client, login.tenant, "param", "{{name}}様", number=7)
    assert await send(client, login, mobilenumber=NUMBER, smstextid="7") == "570"
    # a template whose text is too long for the account (140 bytes without 長文)
    await template(client, login.tenant, "long", "長" * 71, number=8)
    assert await send(client, login, mobilenumber=NUMBER, smstextid="8") == "585"
    # with smstext: exclusive
    r = await send(client, login, mobilenumber=NUMBER, smstextid="1", smstext="x")
    assert r == "570"


async def test_url_insertion_with_access_code_and_clicks(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    base = runtime.settings.short_links_url
    r = await send(
        client,
        login,
        mobilenumber=NUMBER,
        smstext="クーポン {URL} 地図 {URL2}",
        originalurl="https://shop.example.jp/coupon?id=1&x=あ",
        originalurlcode="pass@1",
        originalurl2="https://map.example.jp/",
        originalurl3="https://unused.example.jp/",  # no {URL3} in the text: unused
        smsid="U1",
        status="0",
    )
    assert r == "200"
    message = await stored(client, login, "U1")
    codes = codes_in(message["text"], base)
    assert len(codes) == 2 and "{URL" not in message["text"]
    assert message["text"] == f"クーポン {base}/{codes[0]} 地図 {base}/{codes[1]}"
    inserted = await message_links(client, login, message["id"])
    assert set(inserted) == {"URL", "URL2"}
    assert inserted["URL"]["hasAccessCode"] is True and inserted["URL2"]["hasAccessCode"] is False
    assert inserted["URL"]["code"] == codes[0]
    # the access code is asked first; a wrong one is refused, the right one redirects
    r = await client.get(f"/s/{codes[0]}")
    assert r.status_code == 200 and 'name="accessCode"' in r.text
    r = await client.post(f"/s/{codes[0]}", data={"accessCode": "wrong"})
    assert r.status_code == 403 and 'name="accessCode"' in r.text
    r = await client.post(f"/s/{codes[0]}", data={"accessCode": "pass@1"})
    assert r.status_code == 302
    assert r.headers["location"] == "https://shop.example.jp/coupon?id=1&x=%E3%81%82"
    # counted on its message; not billed: the message has not left yet (dispatch is off)
    assert (await message_links(client, login, message["id"]))["URL"]["clicks"] == 1
    r = await client.get("/api5/", params={"smsid": "U1"}, auth=login.auth)
    assert r.text == "200\n送信中"
    row = (await result_csv(client, login))["U1"]
    assert (row[6], row[12], row[15]) == ("1", "送信中", "0")  # クリック数, ステータス, 課金通数


async def test_text_rules_count_the_short_urls(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    url_length = len(runtime.services.links.sample_url())
    room = 140 - url_length  # Shift_JIS bytes left for the rest of the text
    fits = {"mobilenumber": NUMBER, "originalurl": "https://example.jp/a"}
    assert await send(client, login, smstext="a" * room + "{URL}", smsid="F1", **fits) == "200"
    assert len((await stored(client, login, "F1"))["text"]) == 140
    r = await send(client, login, smstext="a" * (room + 1) + "{URL}", smsid="F2", **fits)
    assert r == "585"
    # a refused send leaves no link behind
    async with runtime.db.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(links))).scalar_one()
    assert count == 1
    # originalurl up to 2083 characters (the seed's limit), longer is 590
    long_url = "https://example.jp/" + "a" * (2083 - 19)
    r = await send(
        client, login, mobilenumber=NUMBER, smstext="{URL}", originalurl=long_url, smsid="F3"
    )
    assert r == "200"
    message = await stored(client, login, "F3")
    assert (await message_links(client, login, message["id"]))["URL"]["longUrl"] == long_url
    r = await send(client, login, mobilenumber=NUMBER, smstext="{URL}", originalurl=long_url + "b")
    assert r == "590"
    # a template's {URL} needs its originalurl; with it, the template's link is tracked
    await template(client, login.tenant, "案内", "ご案内 {URL}", number=5)
    assert await send(client, login, mobilenumber=NUMBER, smstextid="5") == "590"
    r = await send(
        client, login, mobilenumber=NUMBER, smstextid="5", originalurl="https://e.jp/", smsid="F4"
    )
    assert r == "200"
    assert codes_in((await stored(client, login, "F4"))["text"], runtime.settings.short_links_url)


async def test_csv_send_with_url_and_tags(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    base = runtime.settings.short_links_url
    content = "\r\n".join(
        [
            "携帯番号,info1,info2,info3,info4,memo,クリック数,テキストID,SMSタイトル,SMS本文,smsid",
            "090-1111-0001,山田,A1,,,,,,,,R1",
            "080-1111-0002,鈴木,B2,,,,,,,,R2",
            "090-1111-0003," + "長" * 40 + ",C3,,,,,,,,R3",  # too long once the URL is in
            "0312345678,佐藤,D4,,,,,,,,R4",  # landline: 560
        ]
    ).encode("cp932")
    r = await client.post(
        "/api3/",
        params={
            "smstext": "{info1}様 番号{info2} {URL}",
            "originalurl": "https://shop.example.jp/r",
            "originalurlcode": "1234",
        },
        files={"file": ("list.csv", content, "text/csv")},
        auth=login.auth,
    )
    code, batch_id, counts, *refused = r.text.split("\n")
    assert (code, counts) == ("200", "4|2|2")
    assert refused == ["4,090-1111-0003,585", "5,0312345678,560"]  # line 1: the header
    texts = {s: (await stored(client, login, s))["text"] for s in ("R1", "R2")}
    found = {s: codes_in(t, base) for s, t in texts.items()}
    assert all(len(c) == 1 for c in found.values())
    assert found["R1"] != found["R2"]  # one link per message
    assert texts["R1"] == f"山田様 番号A1 {base}/{found['R1'][0]}"
    # every stored row has its per-message link, refused rows none
    async with runtime.db.connect() as conn:
        rows = (await conn.execute(sa.select(links.c.message_id, links.c.placeholder))).all()
    ids = {(await stored(client, login, s))["id"] for s in ("R1", "R2")}
    assert {(m, p) for m, p in rows} == {(i, "URL") for i in ids}
    r = await client.get(f"/v1/batches/{batch_id}", headers=login.tenant.headers)
    assert (r.json()["accepted"], r.json()["refused"]) == (2, 2)
    # the access code protects each row's link
    r = await client.post(f"/s/{found['R2'][0]}", data={"accessCode": "1234"})
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example.jp/r"


async def test_csv_send_with_template_numbers(client: httpx.AsyncClient, login: Login) -> None:
    await template(client, login.tenant, "a", "{info1}様 ご予約 {URL}", number=10)
    second = await template(client, login.tenant, "b", "{info1}様 キャンセル")
    assert second["number"] == 11  # the next after the highest the account ever had
    content = b"\n".join(
        [
            b"09011112222,A,,,,,,10",
            b"09011113333,B,,,,,,11",
            b"09011114444,C,,,,,,1",  # no template 1: 570
        ]
    )
    r = await client.post(
        "/api3/",
        params={"smstexttype": "id", "originalurl": "https://e.jp/"},
        files={"file": ("ids.csv", content, "text/csv")},
        auth=login.auth,
    )
    code, _, counts, *refused = r.text.split("\n")
    assert (code, counts, refused) == ("200", "3|1|2", ["3,09011114444,570"])
    listed = await client.get("/v1/messages", headers=login.tenant.headers)
    texts = sorted(m["text"] for m in listed.json()["messages"])
    assert texts[0] == "A様 ご予約 " + texts[0].split(" ")[-1] and "{URL}" not in texts[0]
    assert texts[1] == "B様 キャンセル"


async def test_links_and_clicks_are_per_account(
    runtime: Runtime, client: httpx.AsyncClient, login: Login, other_login: Login
) -> None:
    body = {"mobilenumber": NUMBER, "smstext": "{URL}", "originalurl": "https://e.jp/"}
    assert await send(client, login, smsid="Mine", **body) == "200"
    mine = await stored(client, login, "Mine")
    (code,) = codes_in(mine["text"], runtime.settings.short_links_url)
    assert (await client.get(f"/s/{code}")).status_code == 302
    assert await message_links(client, other_login, mine["id"]) == {}
    accounts = runtime.services.accounts
    me = await accounts.get(login.tenant.client_id)
    other = await accounts.get(other_login.tenant.client_id)
    assert await runtime.services.links.clicks_by_message(me, [mine["id"]]) == {mine["id"]: 1}
    assert await runtime.services.links.clicks_by_message(other, [mine["id"]]) == {}
