"""絶対リーチ! contract: status.json, shortenurl.json, template.json, numbercleaning.json,
separatedsuccesscount.json, and the answers outside the responseCode tables."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.integration.zettai_client import ZettaiClient, credentials
from tests.zettai_schema import validate_error_body
from todoke import errors
from todoke.app import Runtime
from todoke.store.tables import messages

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

JST = timezone(timedelta(hours=9))


@pytest.fixture
def zr(client: httpx.AsyncClient, tenant: Tenant) -> ZettaiClient:
    return ZettaiClient(client, tenant)


def today() -> date:
    return datetime.now(JST).date()


# --- status.json -------------------------------------------------------------------------


async def test_status_by_client_tag_and_by_date(zr: ZettaiClient) -> None:
    await zr.expect("mt", 0, "Success.", message="one", phoneNumber="09012345678", clientTag="s1")
    await zr.expect("mt", 0, "Success.", message="two", phoneNumber="08012345678")
    answer = await zr.expect("status", 0, "Success.", clientTag="s1")
    (item,) = answer["status"]
    assert item["statusId"] == "1"  # stored, not yet delivered: 配信中
    assert item["clientTag"] == "s1" and item["message"] == "one"
    assert item["phoneNumber"] == "+819012345678"
    assert item["smsCode"] == int(zr.who.sms_code)
    assert re.fullmatch(r"\d{8} \d{9}", item["dateTime"])
    by_day = await zr.expect("status", 0, "Success.", date=today().strftime("%Y%m%d"))
    assert [i["message"] for i in by_day["status"]] == ["one", "two"]
    assert "clientTag" not in by_day["status"][1]  # none given: left out (minLength 1)
    other_day = await zr.expect("status", 0, "Success.", date="20200101")
    assert other_day["status"] == []


async def test_status_final_views(zr: ZettaiClient, runtime: Runtime) -> None:
    await zr.expect("mt", 0, "Success.", message="x", phoneNumber="09012345678", clientTag="ok")
    await zr.expect("mt", 0, "Success.", message="y", phoneNumber="09012345679", clientTag="ko")
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.client_tag == "ok")
            .values(
                status="DELIVERED_TO_HANDSET",
                status_group=3,
                cause="delivered",
                carrier="au",
                delivered_parts=1,
                billable_parts=1,
            )
        )
        await conn.execute(
            messages.update()
            .where(messages.c.client_tag == "ko")
            .values(
                status="UNDELIVERABLE_NOT_DELIVERED",
                status_group=2,
                cause="absent_subscriber",
                carrier="docomo",
            )
        )
    ok = (await zr.expect("status", 0, "Success.", clientTag="ok"))["status"][0]
    assert (ok["statusId"], ok["carrierId"], ok["carrierName"]) == ("2", "101", "AU")
    assert ok["separatedSuccessCount"] == 1
    ko = (await zr.expect("status", 0, "Success.", clientTag="ko"))["status"][0]
    assert (ko["statusId"], ko["carrierId"], ko["detailedStatusId"]) == ("3", "103", "31824")
    assert ko["separatedSuccessCount"] == 0


async def test_status_refusals(zr: ZettaiClient) -> None:
    await zr.expect("status", 100, "Required clientTag.")
    await zr.expect("status", 110, "Invalid date.", date="2023011")
    await zr.expect("status", 120, "clientTag too long.", clientTag="t" * 204)
    assert (await zr.expect("status", 0, "Success.", clientTag="t" * 203))["status"] == []


# --- shortenurl.json ---------------------------------------------------------------------


async def test_shortenurl(zr: ZettaiClient, runtime: Runtime, tenant: Tenant) -> None:
    answer = await zr.expect("shorten", 0, "Success.", longUrl="https://example.com/a?b=c")
    assert re.fullmatch(r"Shorturl-\d{17}", answer["name"])
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/s/[A-Za-z0-9]{7}", answer["shortUrl"])
    named = await zr.expect(
        "shorten", 0, "Success.", longUrl="https://example.com", name="キャンペーン"
    )
    assert named["name"] == "キャンペーン"
    code = named["shortUrl"].rsplit("/", 1)[1]
    r = await zr.http.get(f"/s/{code}")
    assert r.status_code == 302 and r.headers["location"] == "https://example.com"

    await zr.expect(
        "shorten", 110, "Invalid domain.", longUrl="https://e.com", domain="go.example.jp"
    )
    await runtime.services.zettai.update(tenant.client_id, short_domain="Go.Example.JP")
    own = await zr.expect("shorten", 0, "Success.", longUrl="https://e.com", domain="go.example.jp")
    assert re.fullmatch(r"https://go\.example\.jp/s/[A-Za-z0-9]{7}", own["shortUrl"])
    await zr.expect(
        "shorten", 110, "Invalid domain.", longUrl="https://e.com", domain="x.example.jp"
    )


async def test_shortenurl_refusals(zr: ZettaiClient) -> None:
    await zr.expect("shorten", 100, "Required longUrl.")
    await zr.expect("shorten", 110, "Invalid longUrl.", longUrl="javascript:alert(1)")
    await zr.expect("shorten", 110, "Invalid longUrl.", longUrl="ftp://example.com/x")
    await zr.expect("shorten", 120, "longUrl too long.", longUrl="https://e.com/" + "a" * 2040)
    await zr.expect("shorten", 120, "name too long.", longUrl="https://e.com", name="n" * 257)
    await zr.expect("shorten", 110, "Invalid token.", token="0" * 31)


# --- template.json -----------------------------------------------------------------------


async def test_template_json(zr: ZettaiClient, tenant: Tenant) -> None:
    empty = await zr.expect("template", 0, "Success.")
    assert (empty["count"], empty["templates"]) == (0, [])
    r = await zr.http.post(
        "/v1/templates",
        json={"title": "予約確認", "content": "{{name}}様、{{date}}のご予約を承りました。{{name}}"},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    answer = await zr.expect("template", 0, "Success.")
    assert answer["count"] == 1
    assert answer["templates"] == [
        {
            "title": "予約確認",
            "default_content": "{{name}}様、{{date}}のご予約を承りました。{{name}}",
            "parameters": [{"parameter_name": "name"}, {"parameter_name": "date"}],
        }
    ]
    await zr.expect("template", 100, "Required token.", token=None)
    await zr.expect("template", 110, "Invalid clientId.", clientId="abc")


# --- numbercleaning.json -----------------------------------------------------------------


async def test_numbercleaning(zr: ZettaiClient, runtime: Runtime) -> None:
    t = today()
    year_ago = t - timedelta(days=365)
    csv = (
        "number,event,date\n"
        f"090-1111-2222,contracted,{(t - timedelta(days=900)):%Y-%m-%d}\n"
        f"09033334444,contracted,{(t - timedelta(days=900)):%Y%m%d}\n"
        f"09033334444,deactivated,{(t - timedelta(days=100)):%Y%m%d}\n"
    )
    report = await runtime.services.numbers.import_csv(csv, source="test.csv")
    assert (report.rows, report.inserted, report.error_count) == (3, 3, 0)
    ref = f"{year_ago:%Y%m%d}"
    same = await zr.expect("cleaning", 0, "Success.", phoneNumber="09011112222", referenceDate=ref)
    assert same == {
        "responseCode": 0,
        "responseMessage": "Success.",
        "phoneNumber": "+819011112222",
        "referenceDate": ref,
        "status": "N",
    }
    changed = await zr.expect(
        "cleaning", 0, "Success.", phoneNumber="+819033334444", referenceDate=ref
    )
    assert changed["status"] == "T"
    unknown = await zr.expect(
        "cleaning", 0, "Success.", phoneNumber="09055556666", referenceDate=ref
    )
    assert unknown["status"] == "ERROR"


async def test_numbercleaning_refusals(zr: ZettaiClient) -> None:
    t = today()
    await zr.expect("cleaning", 100, "Required phoneNumber.", referenceDate=f"{t:%Y%m%d}")
    await zr.expect("cleaning", 100, "Required referenceDate.", phoneNumber="09012345678")
    await zr.expect(
        "cleaning",
        110,
        "Invalid phoneNumber.",
        phoneNumber="0312345678",
        referenceDate=f"{t:%Y%m%d}",
    )
    future = await zr.expect(
        "cleaning",
        110,
        "Invalid referenceDate.",
        phoneNumber="09012345678",
        referenceDate=f"{t + timedelta(days=1):%Y%m%d}",
    )
    assert future["status"] == "ERROR" and future["phoneNumber"] == "+819012345678"
    await zr.expect(
        "cleaning",
        110,
        "Invalid referenceDate.",
        phoneNumber="09012345678",
        referenceDate=f"{t - timedelta(days=2 * 366):%Y%m%d}",
    )
    await zr.expect(
        "cleaning",
        110,
        "Invalid referenceDate.",
        phoneNumber="09012345678",
        referenceDate="2024-01-01",
    )
    await zr.expect(
        "cleaning",
        110,
        "Invalid token.",
        phoneNumber="09012345678",
        referenceDate=f"{t:%Y%m%d}",
        token="x" * 33,
    )


# --- separatedsuccesscount.json ----------------------------------------------------------


async def billed(runtime: Runtime, who: Tenant, carrier: str, parts: int, sent: datetime) -> None:
    zr_sent = int(sent.timestamp() * 1000)
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            messages.insert().values(
                id=f"T{zr_sent}{carrier[:2]}{parts}{who.client_id}"[:26],
                account_id=who.client_id,
                sender_code=who.sms_code,
                to_number="+819012345678",
                text="x",
                encoding="GSM7",
                parts=parts,
                characters=1,
                carrier=carrier,
                validity_until=zr_sent,
                status="DELIVERED_TO_HANDSET",
                status_group=3,
                cause="delivered",
                delivered_parts=parts,
                billable_parts=parts,
                created_at=zr_sent,
                updated_at=zr_sent,
                sent_at=zr_sent,
                done_at=zr_sent,
            )
        )


async def test_separatedsuccesscount(
    zr: ZettaiClient, runtime: Runtime, tenant: Tenant, client: httpx.AsyncClient
) -> None:
    t = datetime.now(JST).replace(hour=12, minute=0, second=0, microsecond=0)
    last_month = (t.replace(day=1) - timedelta(days=1)).replace(day=10)
    await billed(runtime, tenant, "au", 2, last_month)
    await billed(runtime, tenant, "docomo", 3, last_month)
    await billed(runtime, tenant, "docomo", 1, last_month.replace(hour=13))
    await billed(runtime, tenant, "rakuten", 5, t)  # today: not counted until tomorrow
    month = f"{last_month:%Y%m}"
    answer = await zr.expect("count", 0, "Success.", month=month)
    assert answer["separatedSuccessCount"] == [{"clientId": tenant.client_id, "101": 2, "103": 4}]
    current = await zr.expect("count", 0, "Success.", month=f"{t:%Y%m}")
    assert current["separatedSuccessCount"] == []  # zeros are not shown
    # An agency viewer reads its clients with clientId=all; a client may not.
    await zr.expect("count", 110, "Invalid clientId.", month=month, clientId="all")
    viewer = await runtime.services.accounts.create(
        "agency", sms_code="77777", role="agency_viewer"
    )
    await runtime.services.zettai.update(tenant.client_id, agency_viewer_id=viewer.account.id)
    agency = ZettaiClient(client, Tenant(viewer.account.id, "77777", viewer.token))
    both = await agency.expect("count", 0, "Success.", month=month, clientId="all")
    assert both["separatedSuccessCount"] == [{"clientId": tenant.client_id, "101": 2, "103": 4}]
    own = await agency.expect("count", 0, "Success.", month=month)
    assert own["separatedSuccessCount"] == []


async def test_separatedsuccesscount_refusals(zr: ZettaiClient) -> None:
    await zr.expect("count", 100, "Required month.")
    await zr.expect("count", 110, "Invalid month.", month="2023-01")
    await zr.expect("count", 110, "Invalid month.", month="202313")
    nxt = datetime.now(JST) + timedelta(days=40)
    await zr.expect("count", 110, "Invalid month.", month=f"{nxt:%Y%m}")
    await zr.expect("count", 110, "Invalid clientId.", month="202301", clientId="al1")


# --- answers outside the tables: the protection layer's errors ---------------------------


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (errors.IpBlocked("blocked"), 403, None),
        (errors.Forbidden("not in the API限定 IP list"), 403, None),
        (errors.RateLimited("slow down", retry_after=2.4), 503, "2"),
        (errors.ServiceUnavailable("db down"), 503, "1"),
        (errors.Unauthenticated("wrong"), 401, None),
    ],
)
async def test_protection_errors_become_http_refusals(
    zr: ZettaiClient,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    retry_after: str | None,
) -> None:
    async def refuse(_request: Any, _verify: Any) -> Any:
        raise error

    monkeypatch.setattr("todoke.api.compat.zettai_reach.common.guarded_auth", refuse)
    for op in ("mt", "status", "shorten", "count"):
        r = await zr.raw(
            op, {**credentials(zr.who, op), "message": "x", "phoneNumber": "09012345678"}
        )
        assert r.status_code == status, (op, r.text)
        validate_error_body(r.json())
        assert r.headers.get("retry-after") == retry_after


async def test_quota_exceeded_is_300(zr: ZettaiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(_request: Any, _verify: Any) -> Any:
        raise errors.QuotaExceeded("monthly count used up")

    monkeypatch.setattr("todoke.api.compat.zettai_reach.common.guarded_auth", refuse)
    await zr.expect("mt", 300, "Exceed sending count.", message="x", phoneNumber="09012345678")


async def test_quota_exceeded_from_the_send_is_300(
    zr: ZettaiClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise errors.QuotaExceeded("plan limit")

    monkeypatch.setattr(runtime.services.messages, "send", refuse)
    answer = await zr.expect(
        "mt", 300, "Exceed sending count.", message="x", phoneNumber="09012345678"
    )
    assert answer["phoneNumber"] == "+819012345678"


async def test_unexpected_failure_is_500(
    zr: ZettaiClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(runtime.services.messages, "send", broken)
    await zr.expect("mt", 500, "System error.", message="x", phoneNumber="09012345678")
    monkeypatch.setattr(runtime.services.message_reports, "sent_on", broken)
    answer = await zr.expect("status", 500, "System error.", date="20240101")
    assert answer["status"] == []


async def test_every_operation_takes_get_and_post(zr: ZettaiClient) -> None:
    """The document: "HTTPS の GET/POST メソッドを用いて接続します"."""
    r = await zr.http.post(
        "/p5/api/status.json", data={**credentials(zr.who, "status"), "date": "20240101"}
    )
    assert r.json() == {"responseCode": 0, "responseMessage": "Success.", "status": []}
    r = await zr.http.get(
        "/p5/api/mt.json",
        params={**credentials(zr.who, "mt"), "message": "x", "phoneNumber": "09012345678"},
    )
    assert r.json()["responseCode"] == 0


# --- every operation: the 500 row, and arbitrary input never breaks the contract ----------

OPERATIONS = [
    "mt",
    "check",
    "cancel",
    "cancelall",
    "status",
    "shorten",
    "template",
    "cleaning",
    "count",
]


@pytest.mark.parametrize("op", OPERATIONS)
async def test_system_error_row_of_every_operation(
    zr: ZettaiClient, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    async def broken(_request: Any, _verify: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr("todoke.api.compat.zettai_reach.common.guarded_auth", broken)
    await zr.expect(op, 500, "System error.")


PARAMETERS = {
    "mt": ["message", "phoneNumber", "carrierId", "clientTag", "scheduleTime", "groupTag"],
    "check": ["clientTag", "scheduleTime", "scheduleDate", "groupTag"],
    "cancel": ["clientTag"],
    "cancelall": ["startDate", "endDate", "groupTag"],
    "status": ["date", "clientTag"],
    "shorten": ["name", "longUrl", "domain"],
    "template": [],
    "cleaning": ["phoneNumber", "referenceDate"],
    "count": ["month"],
}
SAMPLES = [
    "",
    " ",
    "0",
    "-1",
    "abc",
    "2024-13-45 25:61",
    "20241345",
    "999999",
    "+81",
    "090",
    "\u3000",
    "①",
    "😀",
    "\x00",
    "a" * 3000,
    "%00",
    "{URL}",
    "javascript:x",
    "https://",
    "all",
    "2030-01-01 00:00",
    "20300101",
    "203001",
    "+819012345678",
    "09012345678",
]


async def test_arbitrary_values_keep_the_contract(zr: ZettaiClient) -> None:
    """A deterministic fuzz: every parameter of every operation with odd values; each answer
    is HTTP 200, in the operation's table and schema (ZettaiClient checks)."""
    import random

    rng = random.Random(6)
    for op, names in PARAMETERS.items():
        for _ in range(12):
            params = {n: rng.choice(SAMPLES) for n in names if rng.random() < 0.8}
            answer = await zr.call(op, **params)
            assert answer["responseCode"] in (0, 100, 110, 120, 130, 140, 400), (op, params, answer)
