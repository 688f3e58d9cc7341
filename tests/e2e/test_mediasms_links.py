"""MediaSMS templates and tracked links end to end: /api/ (smstextid, originalurl with an
access code) and /api3/ (CSV with {URL} and tags) → dispatcher → SMPP → simulator → receipt
(送信済) → the recipient opens the short link (wrong code, then the right one) → リダイレクト
in /api5/ and in the result CSV, billed once.

Outcomes are forced by the destination's last four digits (9900: delivered).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_mediasms_delivery import final_result
from tests.integration.test_mediasms_api import Login
from todoke.app import Runtime
from todoke.services.messages import JST

DELIVER = "09012349900"


@pytest.fixture
def engine_overrides() -> dict[str, Any]:
    return {"token_cache_seconds": 60.0}


async def result_rows(api: httpx.AsyncClient, login: Login) -> dict[str, list[str]]:
    now = datetime.now(JST)
    r = await api.get(
        "/api5/csv/",
        params={
            "startdatetime": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M"),
            "enddatetime": (now + timedelta(hours=1)).strftime("%Y%m%d%H%M"),
        },
        auth=login.auth,
    )
    assert r.status_code == 200, r.text
    return {row[10]: row for row in list(csv.reader(io.StringIO(r.text)))[1:]}


async def text_of(api: httpx.AsyncClient, login: Login, smsid: str) -> str:
    r = await api.get("/v1/messages", params={"clientTag": smsid}, headers=login.tenant.headers)
    (message,) = r.json()["messages"]
    text: str = message["text"]
    return text


def short_code(engine: Runtime, text: str) -> str:
    base = re.escape(engine.settings.short_links_url)
    match = re.search(base + r"/([A-Za-z0-9]{7})", text)
    assert match is not None, text
    return match.group(1)


async def test_template_with_tracked_link_clicked_after_delivery(
    engine: Runtime, api: httpx.AsyncClient, login: Login
) -> None:
    r = await api.post(
        "/v1/templates",
        json={"title": "クーポン", "content": "クーポンはこちら {URL}", "number": 321},
        headers=login.tenant.headers,
    )
    assert r.status_code == 201, r.text
    r = await api.post(
        "/api/",
        data={
            "mobilenumber": DELIVER,
            "smstextid": "321",
            "originalurl": "https://shop.example.jp/coupon",
            "originalurlcode": "4321",
            "smsid": "Click1",
            "status": "1",
        },
        auth=login.auth,
    )
    assert r.text == "200"
    assert await final_result(api, login, "Click1") == "送信済"
    row = (await result_rows(api, login))["Click1"]
    assert (row[6], row[7], row[12], row[15]) == ("0", "321", "送信済", "1")
    code = short_code(engine, await text_of(api, login, "Click1"))
    # the recipient opens the link: the access code first, a wrong one, then the right one
    r = await api.get(f"/s/{code}")
    assert r.status_code == 200 and "アクセスコード" in r.text
    r = await api.post(f"/s/{code}", data={"accessCode": "1234"})
    assert r.status_code == 403
    assert (await api.get("/api5/", params={"smsid": "Click1"}, auth=login.auth)).text == (
        "200\n送信済"  # a wrong code is not a click
    )
    r = await api.post(f"/s/{code}", data={"accessCode": "4321"})
    assert r.status_code == 302 and r.headers["location"] == "https://shop.example.jp/coupon"
    r = await api.get("/api5/", params={"smsid": "Click1"}, auth=login.auth)
    assert r.text == "200\nリダイレクト"
    row = (await result_rows(api, login))["Click1"]
    assert (row[6], row[12], row[14], row[15]) == ("1", "リダイレクト", "1", "1")
    # a second open is another click, still billed once
    assert (await api.post(f"/s/{code}", data={"accessCode": "4321"})).status_code == 302
    row = (await result_rows(api, login))["Click1"]
    assert (row[6], row[12], row[15]) == ("2", "リダイレクト", "1")
    # numeric status: リダイレクト has no published number, so it stays a label
    assert engine.services.mediasms is not None
    await engine.services.mediasms.update_settings(login.tenant.client_id, numeric_status=True)
    r = await api.get("/api5/", params={"smsid": "Click1"}, auth=login.auth)
    assert r.text == "200\nリダイレクト"


async def test_csv_rows_with_links_are_delivered_and_clicked(
    engine: Runtime, api: httpx.AsyncClient, login: Login
) -> None:
    content = "\r\n".join(
        ["09011119900,山田,,,,,,,,,Row1", "08022229900,鈴木,,,,,,,,,Row2"]
    ).encode("cp932")
    r = await api.post(
        "/api3/",
        params={"smstext": "{info1}様 ご案内 {URL}", "originalurl": "https://e.example.jp/"},
        files={"file": ("list.csv", content, "text/csv")},
        auth=login.auth,
    )
    assert r.text.split("\n")[2] == "2|0|2", r.text
    assert await final_result(api, login, "Row1") == "送信済"
    assert await final_result(api, login, "Row2") == "送信済"
    code = short_code(engine, await text_of(api, login, "Row1"))
    assert (await api.get(f"/s/{code}")).status_code == 302
    rows = await result_rows(api, login)
    assert (rows["Row1"][6], rows["Row1"][12], rows["Row1"][15]) == ("1", "リダイレクト", "1")
    assert (rows["Row2"][6], rows["Row2"][12], rows["Row2"][15]) == ("0", "送信済", "1")
    assert rows["Row1"][1] == "山田" and rows["Row1"][9].startswith("山田様 ご案内 ")
