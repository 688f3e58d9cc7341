"""The MediaSMS façade end to end: /api/ → dispatcher → SMPP → simulator → receipt → the
result by smsid, in the result CSV and as push requests; cancel after sending; billing.

Outcomes are forced by the destination's last four digits (the simulator's suffix table).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.integration.test_mediasms_api import Login
from todoke.api.compat.mediasms.push import (
    ResultEndpoint,
    format_result,
    result_event,
    wants_push,
)
from todoke.app import Runtime
from todoke.domain.message import MessageFilter
from todoke.services.messages import JST

DELIVER = "09012349900"
UNKNOWN_NUMBER = "09012349903"  # permanent failure
SMS_REFUSED = "09012349904"
ABSENT_ONCE = "09012349909"  # first attempt 圏外, then delivered


@pytest.fixture
def engine_overrides() -> dict[str, Any]:
    return {"token_cache_seconds": 60.0}


async def final_result(
    api: httpx.AsyncClient, login: Login, smsid: str, timeout: float = 20
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = await api.get("/api5/", params={"smsid": smsid}, auth=login.auth)
        code, _, value = r.text.partition("\n")
        assert code == "200", r.text
        if value not in ("送信前", "送信中", "処理中", "2", "11") or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_send_then_fetch_the_final_status(
    engine: Runtime, api: httpx.AsyncClient, login: Login
) -> None:
    r = await api.post(
        "/api/",
        data={
            "mobilenumber": DELIVER,
            "smstext": "認証コード 123456",
            "smsid": "Ok1",
            "status": "1",
        },
        auth=login.auth,
    )
    assert r.text == "200"
    assert await final_result(api, login, "Ok1") == "送信済"
    assert engine.services.mediasms is not None
    await engine.services.mediasms.update_settings(login.tenant.client_id, numeric_status=True)
    r = await api.get("/api5/", params={"smsid": "Ok1"}, auth=login.auth)
    assert r.text == "200\n1"
    # billed: 送信済 only
    found = await engine.services.messages.find(
        await engine.services.accounts.get(login.tenant.client_id), MessageFilter(client_tag="Ok1")
    )
    assert found[0].billable_parts == 1


async def test_carrier_specific_failures_are_not_billed(
    api: httpx.AsyncClient, login: Login
) -> None:
    await api.post(
        "/api/",
        data={"mobilenumber": UNKNOWN_NUMBER, "smstext": "x", "smsid": "Nf1", "docomo": "1"},
        auth=login.auth,
    )
    await api.post(
        "/api/",
        data={"mobilenumber": SMS_REFUSED, "smstext": "x", "smsid": "Nf2", "softbank": "1"},
        auth=login.auth,
    )
    assert await final_result(api, login, "Nf1") == "ドコモ他 NW 障害"
    assert await final_result(api, login, "Nf2") == "ソフトバンク受信拒否"
    now = datetime.now(JST)
    r = await api.get(
        "/api5/csv/",
        params={
            "startdatetime": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M"),
            "enddatetime": (now + timedelta(hours=1)).strftime("%Y%m%d%H%M"),
        },
        auth=login.auth,
    )
    rows = {row[10]: row for row in list(csv.reader(io.StringIO(r.text)))[1:]}
    assert rows["Nf1"][12:16] == ["ドコモ他 NW 障害", "docomo", "1", "0"]
    assert rows["Nf2"][15] == "0"  # 課金通数
    assert rows["Nf1"][0] == "090-1234-9903"


async def test_every_attempt_is_a_result_push(
    engine: Runtime, api: httpx.AsyncClient, login: Login
) -> None:
    assert engine.services.mediasms is not None
    await engine.services.mediasms.update_settings(
        login.tenant.client_id,
        keep_params=True,
        result_url="https://customer.example/dlr",
        result_username="dlr",
        result_password="s3cret",
    )
    r = await api.post(
        "/api/",
        data={
            "mobilenumber": ABSENT_ONCE,
            "smstext": "再送",
            "smsid": "Retry1",
            "status": "1",
            "docomo": "1",
        },
        auth=login.auth,
    )
    assert r.text == "200"
    assert await final_result(api, login, "Retry1") == "送信済"
    account = await engine.services.accounts.get(login.tenant.client_id)
    message = (await engine.services.messages.find(account, MessageFilter(client_tag="Retry1")))[0]
    assert wants_push(message)
    events = await engine.services.messages.events(account, message.id)
    payloads = [p for e in events if (p := result_event(message, e)) is not None]
    assert [(p["status"], p["attempt"]) for p in payloads] == [
        ("ドコモ圏外・OFF", 1),
        ("送信済", payloads[-1]["attempt"]),
    ]
    profile = await engine.services.mediasms.profile(login.tenant.client_id)
    assert profile is not None
    endpoint = ResultEndpoint.of(profile)
    assert endpoint is not None
    headers, body, content_type = format_result(payloads[-1], endpoint)
    fields = {k: v[0] for k, v in parse_qs(body.decode("ascii")).items()}
    assert fields["smsid"] == "Retry1" and fields["status"] == "送信済"
    assert fields["mobilenumber"] == ABSENT_ONCE
    assert fields["smstext"] == "再送" and fields["docomo"] == "1"  # kept parameters
    assert "password" not in fields and "username" not in fields
    assert headers["Authorization"].startswith("Basic ")
    assert content_type.startswith("application/x-www-form-urlencoded")
    assert message.billable_parts == 1 and message.attempts == 2  # the retry is not billed


async def test_cancel_after_sending_is_refused(api: httpx.AsyncClient, login: Login) -> None:
    r = await api.post(
        "/api/", data={"mobilenumber": DELIVER, "smstext": "x", "smsid": "Gone1"}, auth=login.auth
    )
    assert r.text == "200"
    assert await final_result(api, login, "Gone1") == "送信済"
    r = await api.post("/cancelapi/", data={"smsid": "Gone1"}, auth=login.auth)
    assert r.text == "550"
    assert await final_result(api, login, "Gone1") == "送信済"


async def test_csv_batch_is_delivered_and_counted(api: httpx.AsyncClient, login: Login) -> None:
    content = f"{DELIVER},A\n09012349901,B\n{UNKNOWN_NUMBER},C\n09011119900,D\n".encode()
    r = await api.post(
        "/api3/",
        params={"smstext": "{info1} さんへ", "docomo": "1"},
        files={"file": ("list.csv", content, "text/csv")},
        auth=login.auth,
    )
    code, batch_id, counts = r.text.split("\n")[:3]
    assert (code, counts) == ("200", "4|0|4")
    deadline = time.monotonic() + 30
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        body = (await api.get(f"/v1/batches/{batch_id}", headers=login.tenant.headers)).json()
        # 9901 is 圏外 on every attempt: it stays pending while retried; the rest are final
        if body["finished"] == 3:
            break
        await asyncio.sleep(0.1)
    counts_out = body["counts"]
    assert isinstance(counts_out, dict)
    assert counts_out["delivered"] == 2 and counts_out["undeliverable"] == 1
    assert counts_out["pending"] == 1 and body["done"] is False
