"""MediaSMS façade contract: every method, authentication, and the codes of seeds/003 over HTTP
(real SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant, make_settings
from todoke import errors
from todoke.api.compat.mediasms import edge
from todoke.app import Runtime
from todoke.config import Settings
from todoke.domain.message import Account
from todoke.services.messages import JST

NUMBER = "09012345678"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A verified login is cached, as in production: one scrypt per test, not per request.
    return make_settings(database_url, token_cache_seconds=60.0)


class Login:
    def __init__(self, tenant: Tenant, username: str, password: str) -> None:
        self.tenant = tenant
        self.username = username
        self.password = password

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def params(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


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


async def send(client: httpx.AsyncClient, login: Login, **params: str) -> httpx.Response:
    return await client.post("/api/", data=params, auth=login.auth)


async def stored(client: httpx.AsyncClient, login: Login, smsid: str) -> dict[str, Any]:
    r = await client.get("/v1/messages", params={"clientTag": smsid}, headers=login.tenant.headers)
    found: list[dict[str, Any]] = r.json()["messages"]
    assert len(found) == 1, found
    return found[0]


async def test_get_post_multipart_and_json_are_equivalent(
    client: httpx.AsyncClient, login: Login
) -> None:
    text = "ご予約ありがとうございます。\n明日 10:00 です"
    r = await client.get(
        "/api/",
        params={**login.params, "mobilenumber": NUMBER, "smstext": text, "smsid": "get1"},
    )
    assert (r.status_code, r.text) == (200, "200")
    assert r.headers["content-type"].startswith("text/plain")
    r = await client.post(
        "/api/", data={**login.params, "mobilenumber": NUMBER, "smstext": text, "smsid": "post1"}
    )
    assert (r.status_code, r.text) == (200, "200")
    r = await client.post(  # multipart without a file part (PHP's CURLOPT_POSTFIELDS array)
        "/api/",
        files={"x": (None, "")},
        data={"mobilenumber": NUMBER, "smstext": text, "smsid": "multi1"},
        auth=login.auth,
    )
    assert (r.status_code, r.text) == (200, "200")
    r = await client.post(
        "/api/",
        json={"mobilenumber": NUMBER, "smstext": text, "smsid": "json1", "status": "0"},
        auth=login.auth,
    )
    assert (r.status_code, r.json()) == (200, {"result": "200"})
    rows = [await stored(client, login, s) for s in ("get1", "post1", "multi1", "json1")]
    assert {(m["to"], m["text"], m["parts"]) for m in rows} == {("+819012345678", text, 1)}


async def test_json_numbers_are_taken_as_digits(client: httpx.AsyncClient, login: Login) -> None:
    r = await client.post(
        "/api/",
        json={"mobilenumber": NUMBER, "smstext": "x", "status": 0, "smsid": None, "x": [1]},
        auth=login.auth,
    )
    assert r.json() == {"result": "200"}
    r = await client.post("/api/", json={"mobilenumber": NUMBER, "smstext": ["x"]}, auth=login.auth)
    assert r.json() == {"result": "585"}
    r = await client.post(
        "/api/",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
        auth=login.auth,
    )
    assert r.json() == {"result": "615"}


async def test_authentication(client: httpx.AsyncClient, login: Login) -> None:
    body = {"mobilenumber": NUMBER, "smstext": "x"}
    r = await client.post("/api/", data=body)
    assert (r.status_code, r.text) == (401, "401")
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await client.post("/api/", data=body, auth=(login.username, login.password + "x"))
    assert (r.status_code, r.text) == (401, "401")
    r = await client.post("/api/", data={**body, "username": "nobody", "password": "secret1"})
    assert r.text == "401"
    bad = base64.b64encode(b"no-colon").decode()
    r = await client.post("/api/", data=body, headers={"Authorization": f"Basic {bad}"})
    assert r.text == "401"
    r = await client.post("/api/", data=body, headers={"Authorization": "Bearer abc"})
    assert r.text == "401"
    # Basic auth, and the credentials as parameters of a GET
    assert (await client.post("/api/", data=body, auth=login.auth)).text == "200"
    r = await client.get("/api/", params={**body, **login.params})
    assert r.text == "200"


async def test_reset_login_replaces_the_password(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    assert runtime.services.mediasms is not None
    issued = await runtime.services.mediasms.issue_login(login.tenant.client_id)
    assert issued.username == login.username and issued.password != login.password
    body = {"mobilenumber": NUMBER, "smstext": "x"}
    assert (await client.post("/api/", data=body, auth=login.auth)).text == "401"
    r = await client.post("/api/", data=body, auth=(issued.username, issued.password))
    assert r.text == "200"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"mobilenumber": "0312345678"}, "560"),
        ({"senddatetime": "2026131200"}, "562"),
        ({"senddatetime": "200001010000"}, "592"),  # well-formed, in the past
        ({"autitle": "1"}, "568"),
        ({"softbanktitle": "x"}, "569"),
        ({"smstextid": "1000000", "smstext": ""}, "570"),
        ({"smstextid": "12", "smstext": ""}, "570"),  # the account has no template 12
        ({"sendingattempts": "2"}, "571"),
        ({"resendinginterval": "5"}, "572"),
        ({"status": "9"}, "573"),
        ({"status": "1"}, "574"),
        ({"smsid": "bad id"}, "574"),
        ({"docomo": "yes"}, "575"),
        ({"au": "2"}, "576"),
        ({"docomo": "1", "softbank": "1"}, "577"),
        ({"gateway": "0"}, "579"),
        ({"smstitle": "12345"}, "580"),
        ({"smstext": "あ" * 71}, "585"),
        ({"smstext": "\r\n"}, "585"),
        ({"smstext": "①"}, "585"),
        ({"originalurl": "https://example.jp/x", "smstext": "see {URL}"}, "200"),  # tracked
        ({"originalurl": "http://", "smstext": "see {URL}"}, "590"),  # the link service: no host
        ({"originalurl": "https://example.jp/x", "smstext": "see {URL2}"}, "612"),
        ({"originalurl": "mailto:x"}, "590"),
        ({"originalurl": "https://example.jp/x"}, "200"),  # no {URL} in the text: unused
        # Shift_JIS bytes at the 140 boundary: half-width kana 1 byte, a line break 2
        ({"smstext": "ｱ" * 140}, "200"),
        ({"smstext": "ｱ" * 141}, "585"),
        ({"smstext": "a" * 138 + "\n"}, "200"),
        ({"smstext": "a" * 139 + "\r\n"}, "585"),
        ({"smstext": "あ" * 70}, "200"),
        # one 2-byte character: 70 characters except to au
        ({"smstext": "あ" + "a" * 70, "au": "1"}, "200"),
        ({"smstext": "あ" + "a" * 70, "docomo": "1"}, "585"),
        ({"smstext": "あ" + "a" * 70}, "200"),  # 090-1234 is an au block
        ({"smstext": "あ" + "a" * 70, "mobilenumber": "08012345678"}, "585"),  # docomo block
        ({"docomotitle": "12"}, "598"),
        ({"originalurl2": "x"}, "612"),
        ({"originalurl3": "x"}, "613"),
        ({"originalurl4": "x"}, "614"),
        ({"originalurlcode": "x"}, "640"),
        ({"originalurlcode2": "x"}, "641"),
        ({"originalurlcode3": "x"}, "642"),
        ({"originalurlcode4": "x"}, "643"),
    ],
)
async def test_parameter_codes(
    client: httpx.AsyncClient, login: Login, params: dict[str, str], code: str
) -> None:
    body = {"mobilenumber": NUMBER, "smstext": "hello", **params}
    r = await client.post("/api/", data=body, auth=login.auth)
    assert (r.status_code, r.text) == (200, code)
    r = await client.post("/api/", json=body, auth=login.auth)
    assert (r.status_code, r.json()) == (200, {"result": code})


async def test_smsid_is_unique_per_account(
    client: httpx.AsyncClient, login: Login, other_login: Login
) -> None:
    body = {"mobilenumber": NUMBER, "smstext": "x", "smsid": "Same1", "status": "1"}
    assert (await send(client, login, **body)).text == "200"
    assert (await send(client, login, **body)).text == "587"
    assert (await send(client, login, **{**body, "smsid": "same1"})).text == "200"  # 大小別
    assert (await send(client, other_login, **body)).text == "200"


async def test_long_url_414_and_methods_405(client: httpx.AsyncClient, login: Login) -> None:
    text = "a" * 8200
    r = await client.get("/api/", params={"mobilenumber": NUMBER, "smstext": text})
    assert (r.status_code, r.text) == (414, "414")
    # the same text by POST is no URL problem (it is too long as a text: 585)
    r = await client.post("/api/", data={"mobilenumber": NUMBER, "smstext": text}, auth=login.auth)
    assert r.text == "585"
    for method in ("PUT", "DELETE", "PATCH"):
        r = await client.request(method, "/api/", auth=login.auth)
        assert (r.status_code, r.text) == (405, "405")
    assert (await client.delete("/cancelapi/")).text == "405"
    r = await client.get("/api3/", auth=login.auth)
    assert (r.status_code, r.text) == (405, "405")


@pytest.mark.parametrize(
    ("raised", "code", "http"),
    [
        (errors.IpBlocked("10 failures"), "555", 200),
        (errors.RateLimited("over 80/s", retry_after=1), "503", 503),
        (errors.QuotaExceeded("monthly limit"), "402", 402),
        (errors.Forbidden("address not allowed"), "401", 403),
        (errors.ServiceUnavailable("database down"), "503", 503),
    ],
)
async def test_protection_outcomes_become_codes(
    client: httpx.AsyncClient,
    login: Login,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    code: str,
    http: int,
) -> None:
    """guarded_auth's refusals (IP block, per-IP rate, quota, allowlist) in the seed's codes."""

    async def refuse(request: Any, verify: Any) -> Account:
        raise raised

    monkeypatch.setattr(edge, "guarded_auth", refuse)
    for path in ("/api/", "/api5/", "/cancelapi/"):
        r = await client.post(path, data={"mobilenumber": NUMBER, "smstext": "x"}, auth=login.auth)
        assert (r.status_code, r.text) == (http, code), path
    if code == "503":
        assert r.headers["retry-after"] == "1"


async def test_unexpected_failure_is_550_without_internals(
    runtime: Runtime, client: httpx.AsyncClient, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something internal")

    monkeypatch.setattr(runtime.services.messages, "send", broken)
    r = await send(client, login, mobilenumber=NUMBER, smstext="x")
    assert (r.status_code, r.text) == (500, "550")


async def test_scheduled_send_result_and_cancel(client: httpx.AsyncClient, login: Login) -> None:
    later = datetime.now(JST) + timedelta(days=2)
    r = await send(
        client,
        login,
        mobilenumber="080-1234-5678",
        smstext="明後日のお知らせ",
        smsid="Sched1",
        status="1",
        senddatetime=later.strftime("%Y%m%d%H%M"),
    )
    assert r.text == "200"
    message = await stored(client, login, "Sched1")
    assert message["status"]["name"] == "PENDING_SCHEDULED"
    assert message["scheduleAt"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    r = await client.get("/api5/", params={"smsid": "Sched1"}, auth=login.auth)
    assert (r.status_code, r.text) == (200, "200\n送信前")
    r = await client.post("/cancelapi/", data={"smsid": "Sched1"}, auth=login.auth)
    assert r.text == "200"
    r = await client.get("/api5/", params={"smsid": "Sched1"}, auth=login.auth)
    assert r.text == "200\nキャンセル済"
    r = await client.post("/cancelapi/", data={"smsid": "Sched1"}, auth=login.auth)
    assert r.text == "550"  # final already


async def test_result_and_cancel_codes(
    client: httpx.AsyncClient, login: Login, other_login: Login
) -> None:
    assert (await send(client, login, mobilenumber=NUMBER, smstext="x", smsid="Mine")).text == "200"
    r = await client.get("/api5/", params={"smsid": "Mine"}, auth=login.auth)
    assert r.text == "200\n送信中"
    for path in ("/api5/", "/cancelapi/"):
        assert (await client.get(path, auth=login.auth)).text == "574"
        assert (await client.get(path, params={"smsid": "a_b"}, auth=login.auth)).text == "574"
        assert (await client.get(path, params={"smsid": "None"}, auth=login.auth)).text == "514"
        # another account's smsid does not exist for this one
        r = await client.get(path, params={"smsid": "Mine"}, auth=other_login.auth)
        assert r.text == "514"
        assert (await client.get(path, params={"smsid": "Mine"})).text == "401"
    r = await client.get(
        "/api5/",
        params={"smsid": "Mine"},
        headers={"Content-Type": "application/json"},
        auth=login.auth,
    )
    assert r.text == "200\n送信中"  # the Go client reads lines even with a JSON content type
    r = await client.get(
        "/api5/", params={"smsid": "x_"}, headers={"Content-Type": "application/json"},
        auth=login.auth,
    )  # fmt: skip
    assert r.json() == {"result": "574"}


async def test_numeric_status_and_long_message_settings(
    runtime: Runtime, client: httpx.AsyncClient, login: Login
) -> None:
    assert runtime.services.mediasms is not None
    long_text = "長文のお知らせ" * 30  # 210 characters, 420 bytes
    r = await send(client, login, mobilenumber=NUMBER, smstext=long_text, smsid="L1")
    assert r.text == "585"
    await runtime.services.mediasms.update_settings(
        login.tenant.client_id, long_message=True, numeric_status=True
    )
    r = await send(client, login, mobilenumber=NUMBER, smstext=long_text, smsid="L1")
    assert r.text == "200"
    assert (await stored(client, login, "L1"))["parts"] == 4
    r = await client.get("/api5/", params={"smsid": "L1"}, auth=login.auth)
    assert r.text == "200\n2"  # 送信中 as a number


async def test_result_csv_for_a_period(
    runtime: Runtime, client: httpx.AsyncClient, login: Login, other_login: Login
) -> None:
    await send(client, login, mobilenumber="090-1111-2222", smstext="一通目", smsid="C1")
    await send(client, login, mobilenumber="+818033334444", smstext='second, "quoted"')
    await send(client, other_login, mobilenumber=NUMBER, smstext="not mine")
    now = datetime.now(JST)
    period = {
        "startdatetime": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M"),
        "enddatetime": (now + timedelta(hours=1)).strftime("%Y%m%d%H%M"),
    }
    r = await client.get("/api5/csv/", params=period, auth=login.auth)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][0] == "携帯番号" and rows[0][12] == "ステータス"
    assert [(row[0], row[9], row[10], row[12]) for row in rows[1:]] == [
        ("090-1111-2222", "一通目", "C1", "送信中"),
        ("080-3333-4444", 'second, "quoted"', "", "送信中"),
    ]
    r = await client.get("/api5/csv/", params={**period, "encode": "shiftjis"}, auth=login.auth)
    assert "一通目".encode("cp932") in r.content
    bad = [
        ({}, "562"),
        ({"startdatetime": period["startdatetime"]}, "562"),
        ({**period, "enddatetime": period["startdatetime"]}, "562"),
        ({"startdatetime": "202601010000", "enddatetime": "202603010000"}, "562"),
        ({**period, "encode": "latin1"}, "597"),
    ]
    for params, code in bad:
        r = await client.get("/api5/csv/", params=params, auth=login.auth)
        assert r.text == code, params


async def test_login_names(runtime: Runtime, tenant: Tenant, other_tenant: Tenant) -> None:
    service = runtime.services.mediasms
    assert service is not None
    # someone took the default name of the other account by hand
    taken = await service.issue_login(tenant.client_id, username=f"u{other_tenant.client_id}")
    assert taken.username == f"u{other_tenant.client_id}"
    issued = await service.issue_login(other_tenant.client_id)
    assert issued.username.startswith(f"u{other_tenant.client_id}x")
    assert 2 <= len(issued.username) <= 20
    with pytest.raises(errors.Conflict):
        await service.issue_login(other_tenant.client_id, username=taken.username)
    with pytest.raises(errors.InvalidInput):
        await service.issue_login(tenant.client_id, username="a")
    with pytest.raises(errors.NotFound):
        await service.issue_login(999_999)
    login = await service.authenticate(issued.username, issued.password)
    assert login.account.id == other_tenant.client_id
    with pytest.raises(errors.Unauthenticated):
        await service.authenticate(issued.username, None)
