"""The compatible APIs' pushes end to end, through the webhook outbox: 絶対リーチ! mt.json →
simulator → DLR 通知(Common) (json= and xml=), MediaSMS /api/ status=1 → 送達結果通知 (every
attempt's result, Basic auth), and a short-link click → ``link.clicked``.

Real database, loopback SMPP to the built-in simulator, real loopback HTTP receivers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs
from xml.etree import ElementTree

import httpx
import jsonschema
import pytest

from tests.conftest import Tenant
from tests.e2e.test_delivery import wait_final
from tests.integration.test_mediasms_api import Login
from tests.integration.zettai_client import ZettaiClient
from todoke.api.compat.push import MEDIASMS_FORMAT, ZETTAI_FORMAT
from todoke.app import Runtime
from todoke.domain import webhooks as wh
from todoke.webhook_receiver import Received, WebhookReceiver

DELIVER = "09012349900"
UNKNOWN_NUMBER = "09012349903"  # 欠番: permanent failure
ABSENT_ONCE = "09012349909"  # first attempt 圏外, then delivered
OPENAPI = Path(__file__).parent.parent / "data" / "zettai-reach-openapi-1.4.7.json"
DLR_SCHEMA = json.loads(OPENAPI.read_text("utf-8"))["components"]["schemas"]["DLRPushJSON"]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver(status=200)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


async def settled(rt: Runtime, account_id: int, fmt: str, timeout: float = 60) -> dict[str, int]:
    """Wait until no delivery of the account's ``fmt`` endpoint is queued or pending."""
    [endpoint] = [e for e in await rt.services.webhooks.endpoints(account_id) if e.format == fmt]
    deadline = time.monotonic() + timeout
    while True:
        views = await rt.services.webhooks.deliveries(account_id, endpoint.id, limit=1000)
        states: dict[str, int] = {}
        for v in views:
            states[v.state] = states.get(v.state, 0) + 1
        if not states.get(wh.QUEUED) and not states.get(wh.PENDING):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries still waiting: {states}")
        await asyncio.sleep(0.05)


def form(r: Received) -> dict[str, str]:
    assert r.headers["content-type"].startswith("application/x-www-form-urlencoded")
    return {k: v[0] for k, v in parse_qs(r.body.decode("ascii")).items()}


async def zettai_client(rt: Runtime, api: httpx.AsyncClient, code: str) -> ZettaiClient:
    issued = await rt.services.accounts.create(f"zr{code}", sms_code=code)
    return ZettaiClient(api, Tenant(issued.account.id, code, issued.token))


async def test_zettai_dlr_json_and_xml(
    engine: Runtime, api: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    as_json = await zettai_client(engine, api, "44441")
    as_xml = await zettai_client(engine, api, "44442")
    xml_receiver = WebhookReceiver(status=200, path="/xml")
    await xml_receiver.start()
    try:
        await engine.services.zettai.update(as_json.who.client_id, dlr_url=receiver.url)
        await engine.services.zettai.update(
            as_xml.who.client_id, dlr_url=xml_receiver.url, dlr_format="xml"
        )
        for to, tag in ((DELIVER, "ok-1"), (UNKNOWN_NUMBER, "ko-1"), (ABSENT_ONCE, "retry-1")):
            await as_json.expect(
                "mt", 0, "Success.", message="認証コード", phoneNumber=to, clientTag=tag
            )
        await as_json.expect("mt", 0, "Success.", message="no tag", phoneNumber=DELIVER)
        await as_xml.expect(
            "mt", 0, "Success.", message="xml", phoneNumber=DELIVER, clientTag="x-1"
        )

        got = await receiver.wait_for(3)
        items = {}
        for r in got:
            doc = json.loads(form(r)["json"])
            jsonschema.validate(doc, DLR_SCHEMA)  # the document's DLRPushJSON
            [item] = doc["eventNotifications"]
            items[item["clientTag"]] = item
        assert set(items) == {"ok-1", "ko-1", "retry-1"}
        assert items["ok-1"]["type"] == "DLR" and items["ok-1"]["statusId"] == "2"
        assert items["ok-1"]["separatedSuccessCount"] == 1
        assert items["ok-1"]["clientId"] == str(as_json.who.client_id)
        assert (
            items["ok-1"]["phoneNumber"] == "+819012349900" and items["ok-1"]["smsCode"] == "44441"
        )
        assert items["ko-1"]["statusId"] == "3" and "separatedSuccessCount" not in items["ko-1"]
        assert items["retry-1"]["statusId"] == "2"  # only the final status is pushed
        # The message without a clientTag, and the in-flight steps, are not pushed.
        states = await settled(engine, as_json.who.client_id, ZETTAI_FORMAT)
        assert states == {wh.DELIVERED: 3, wh.SKIPPED: 1}, states
        assert len(receiver.received) == 3

        [x] = await xml_receiver.wait_for(1)
        text = form(x)["xml"]
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        root = ElementTree.fromstring(text.split("?>", 1)[1])  # noqa: S314 - our own output
        node = root.find("eventNotification")
        assert root.tag == "eventNotifications" and node is not None
        assert node.findtext("clientTag") == "x-1" and node.findtext("statusId") == "2"
        assert node.findtext("clientId") == str(as_xml.who.client_id)
    finally:
        await xml_receiver.stop()


async def test_mediasms_every_result_is_pushed(
    engine: Runtime, api: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    assert engine.services.mediasms is not None
    issued = await engine.services.accounts.create("mediasms", sms_code="44443")
    creds = await engine.services.mediasms.issue_login(issued.account.id)
    login = Login(Tenant(issued.account.id, "44443", issued.token), creds.username, creds.password)
    await engine.services.mediasms.update_settings(
        issued.account.id,
        keep_params=True,
        result_url=receiver.url,
        result_username="dlr",
        result_password="s3cret",
    )
    sends = (
        {"mobilenumber": ABSENT_ONCE, "smstext": "再送", "smsid": "Retry1", "docomo": "1"},
        {"mobilenumber": UNKNOWN_NUMBER, "smstext": "欠番", "smsid": "Gone1"},
        {"mobilenumber": DELIVER, "smstext": "届く", "smsid": "Ok1", "memo": "m"},
    )
    for params in sends:
        r = await api.post("/api/", data={**params, "status": "1"}, auth=login.auth)
        assert r.text == "200"
    r = await api.post(  # status=0: no result push
        "/api/", data={"mobilenumber": DELIVER, "smstext": "x", "smsid": "Quiet1"}, auth=login.auth
    )
    assert r.text == "200"

    got = await receiver.wait_for(4)
    assert all(g.basic_auth() == ("dlr", "s3cret") for g in got)
    by_id: dict[str, list[dict[str, str]]] = {}
    for g in got:
        fields = form(g)
        assert "password" not in fields and "username" not in fields
        by_id.setdefault(fields["smsid"], []).append(fields)
    # The retried number: the first attempt's failure, then the final result, in this order.
    assert [f["status"] for f in by_id["Retry1"]] == ["ドコモ圏外・OFF", "送信済"]
    assert by_id["Retry1"][0]["resultdatetime"] <= by_id["Retry1"][1]["resultdatetime"]
    assert all(f["mobilenumber"] == ABSENT_ONCE for f in by_id["Retry1"])
    assert by_id["Retry1"][0]["smstext"] == "再送" and by_id["Retry1"][0]["docomo"] == "1"
    assert [f["status"] for f in by_id["Ok1"]] == ["送信済"] and by_id["Ok1"][0]["memo"] == "m"
    assert len(by_id["Gone1"]) == 1 and by_id["Gone1"][0]["status"] != "送信済"
    assert "Quiet1" not in by_id
    states = await settled(engine, issued.account.id, MEDIASMS_FORMAT)
    assert states[wh.DELIVERED] == 4 and len(receiver.received) == 4

    # Numeric status from now on: the endpoint follows the settings.
    await engine.services.mediasms.update_settings(issued.account.id, numeric_status=True)
    r = await api.post(
        "/api/",
        data={"mobilenumber": DELIVER, "smstext": "n", "smsid": "Num1", "status": "1"},
        auth=login.auth,
    )
    assert r.text == "200"
    got = await receiver.wait_for(5)
    last = form(got[-1])
    assert last["smsid"] == "Num1" and last["status"].isdigit()


async def test_click_emits_link_clicked(
    engine: Runtime, api: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    issued = await engine.services.accounts.create("clicks", sms_code="44444")
    who = Tenant(issued.account.id, "44444", issued.token)
    endpoint = await engine.services.webhooks.create(
        who.client_id, receiver.url, events=[wh.LINK_CLICKED]
    )
    receiver.secret = endpoint.secret
    r = await api.post(
        "/v1/links",
        json={"longUrl": "https://shop.example.jp/", "name": "shop"},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    link = r.json()
    r = await api.post(
        "/v1/messages",
        json={"to": DELIVER, "text": "見てね {URL}", "links": {"URL": {"linkId": link["id"]}}},
        headers=who.headers,
    )
    assert r.status_code == 202, r.text
    message = r.json()
    per_message = (
        await api.get(f"/v1/links?messageId={message['id']}", headers=who.headers)
    ).json()["links"][0]
    # A click on a link of a message not sent yet does not make it billable (the rule of
    # the short links): click once it has been delivered, as a recipient would.
    await wait_final(api, who, message["id"])

    assert (await api.get(f"/s/{per_message['code']}")).status_code == 302
    [got] = await receiver.wait_for(1)
    assert got.verified is True
    assert got.payload["type"] == "link.clicked"
    data = got.payload["data"]
    assert data["linkId"] == per_message["id"] and data["parentId"] == link["id"]
    assert data["messageId"] == message["id"] and data["clicks"] == 1
    # True when the click made the message billable; False when its delivery receipt had
    # already done so (the simulator may deliver before the click): billable either way.
    assert isinstance(data["messageBillable"], bool) and data["accountId"] == who.client_id
    after = (await api.get(f"/v1/messages/{message['id']}", headers=who.headers)).json()
    assert after["billableParts"] == after["parts"]
