"""絶対リーチ! contract: mt.json, checkreservation, cancelreservation, cancelreservationall.

Every answer is checked against the OpenAPI document (tests/zettai_schema.py): HTTP 200, a
responseCode of the operation's table with its message, and the operation's 200 schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.integration.zettai_client import ZettaiClient
from tests.zettai_schema import validate_error_body
from todoke.app import Runtime
from todoke.domain.message import MessageFilter

JST = timezone(timedelta(hours=9))


def at(days: int = 0, minutes: int = 0) -> datetime:
    base = datetime.now(JST).replace(second=0, microsecond=0) + timedelta(
        days=days, minutes=minutes
    )
    return base


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def zr(client: httpx.AsyncClient, tenant: Tenant) -> ZettaiClient:
    return ZettaiClient(client, tenant)


# --- mt.json -----------------------------------------------------------------------------


async def test_mt_sends_and_answers_in_international_form(
    zr: ZettaiClient, runtime: Runtime, tenant: Tenant
) -> None:
    answer = await zr.expect(
        "mt", 0, "Success.", message="example message", phoneNumber="09012345678"
    )
    assert answer["phoneNumber"] == "+819012345678"
    assert answer["smsMessage"] == "example message"
    account = await runtime.services.accounts.get(tenant.client_id)
    stored = await runtime.services.messages.find(account, MessageFilter())
    assert [m.to for m in stored] == ["+819012345678"]
    assert stored[0].sender_code == tenant.sms_code


async def test_mt_with_every_parameter(zr: ZettaiClient, runtime: Runtime, tenant: Tenant) -> None:
    when = at(days=3)
    answer = await zr.expect(
        "mt",
        0,
        "Success.",
        message="予約のお知らせ",
        phoneNumber="+818012345678",
        carrierId="103",
        clientTag="order-1",
        scheduleTime=stamp(when),
        groupTag="20230101_groupA",
    )
    assert answer["phoneNumber"] == "+818012345678"
    account = await runtime.services.accounts.get(tenant.client_id)
    (m,) = await runtime.services.messages.find(account, MessageFilter(client_tag="order-1"))
    assert m.carrier == "docomo" and m.carrier_explicit
    assert m.group_tag == "20230101_groupA"
    assert m.schedule_at == int(when.timestamp() * 1000)
    assert m.status == "PENDING_SCHEDULED"


async def test_mt_counts_characters_not_bytes(zr: ZettaiClient) -> None:
    await zr.expect("mt", 0, "Success.", message="あ" * 660, phoneNumber="09012345678")
    await zr.expect("mt", 120, "message too long.", message="あ" * 661, phoneNumber="09012345678")


async def test_mt_empty_optional_fields_count_as_absent(zr: ZettaiClient) -> None:
    await zr.expect(
        "mt",
        0,
        "Success.",
        message="x",
        phoneNumber="09012345678",
        clientTag="",
        carrierId="",
        scheduleTime="",
        groupTag="",
    )


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"token": None}, 100, "Required token."),
        ({"clientId": None}, 100, "Required clientId."),
        ({"smsCode": None}, 100, "Required smsCode."),
        ({"message": None}, 100, "Required message."),
        ({"phoneNumber": None}, 100, "Required phoneNumber."),
        ({"token": "short"}, 110, "Invalid token."),
        ({"token": "x" * 33}, 120, "token too long."),
        ({"clientId": "12a45"}, 110, "Invalid clientId."),
        ({"smsCode": "1234"}, 110, "Invalid smsCode."),
        ({"smsCode": "1234567"}, 120, "smsCode too long."),
        ({"smsCode": "99999"}, 110, "Invalid smsCode."),
        ({"phoneNumber": "0312345678"}, 110, "Invalid phoneNumber."),
        ({"phoneNumber": "09001234567"}, 110, "Invalid phoneNumber."),  # the pattern's [1-9]
        ({"phoneNumber": "090-1234-5678"}, 110, "Invalid phoneNumber."),
        ({"carrierId": "102"}, 110, "Invalid carrierId."),
        ({"scheduleTime": "2030/01/01 12:00"}, 110, "Invalid scheduleTime."),
        ({"scheduleTime": "2030-02-30 12:00"}, 110, "Invalid scheduleTime."),
        ({"scheduleTime": "2001-01-01 12:00"}, 110, "Invalid scheduleTime."),
        ({"message": "株式会社①"}, 110, "Invalid message."),
        ({"message": "   "}, 110, "Invalid message."),
        ({"clientTag": "t" * 201}, 120, "clientTag too long."),
        ({"groupTag": "g" * 201}, 120, "groupTag too long."),
    ],
)
async def test_mt_refusals(
    zr: ZettaiClient, changes: dict[str, Any], code: int, message: str
) -> None:
    params: dict[str, Any] = {"message": "hello", "phoneNumber": "09012345678", **changes}
    answer = await zr.expect("mt", code, message, **params)
    if "phoneNumber" in answer:
        assert answer["phoneNumber"].startswith("+81")


async def test_mt_duplicate_client_tag(zr: ZettaiClient) -> None:
    await zr.expect("mt", 0, "Success.", message="a", phoneNumber="09012345678", clientTag="dup")
    answer = await zr.expect(
        "mt", 400, "Duplicate client tag.", message="b", phoneNumber="09012345678", clientTag="dup"
    )
    assert answer["phoneNumber"] == "+819012345678" and answer["smsMessage"] == "b"


async def test_mt_credentials_that_do_not_match_are_401(
    zr: ZettaiClient, other_tenant: Tenant
) -> None:
    for params in (
        {"token": "A" * 32},
        {"clientId": str(other_tenant.client_id)},
    ):
        r = await zr.raw(
            "mt",
            {**zr_credentials(zr), "message": "x", "phoneNumber": "09012345678", **params},
        )
        assert r.status_code == 401, r.text
        validate_error_body(r.json())


def zr_credentials(zr: ZettaiClient) -> dict[str, str]:
    return {"token": zr.who.token, "clientId": str(zr.who.client_id), "smsCode": zr.who.sms_code}


async def test_mt_accepts_an_unencoded_plus(zr: ZettaiClient) -> None:
    body = (
        f"token={zr.who.token}&clientId={zr.who.client_id}&smsCode={zr.who.sms_code}"
        "&message=hi&phoneNumber=+819012345678"
    )
    r = await zr.http.post(
        "/p5/api/mt.json",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.json()["responseCode"] == 0 and r.json()["phoneNumber"] == "+819012345678"


async def test_mt_body_that_is_not_utf8(zr: ZettaiClient) -> None:
    body = (
        f"token={zr.who.token}&clientId={zr.who.client_id}&smsCode={zr.who.sms_code}"
        "&phoneNumber=09012345678&message="
    ).encode() + "こんにちは".encode("shift_jis")
    r = await zr.http.post(
        "/p5/api/mt.json",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert (r.json()["responseCode"], r.json()["responseMessage"]) == (110, "Invalid message.")


# --- checkreservation.json ---------------------------------------------------------------


async def reserve(zr: ZettaiClient, tag: str, when: datetime, group: str | None = None) -> None:
    await zr.expect(
        "mt",
        0,
        "Success.",
        message=f"msg {tag}",
        phoneNumber="09012345678",
        clientTag=tag,
        scheduleTime=stamp(when),
        groupTag=group,
    )


async def test_checkreservation_by_each_key(zr: ZettaiClient) -> None:
    d3, d4 = at(days=3), at(days=4)
    await reserve(zr, "r1", d3, "A")
    await reserve(zr, "r2", d3, "B")
    await reserve(zr, "r3", d4, "A")
    one = await zr.expect("check", 0, "Success.", clientTag="r1")
    assert one["count"] == 1
    assert one["status"] == [
        {
            "scheduleTime": stamp(d3),
            "phoneNumber": "+819012345678",
            "message": "msg r1",
            "smsCode": int(zr.who.sms_code),
            "clientTag": "r1",
        }
    ]
    by_time = await zr.expect("check", 0, "Success.", scheduleTime=stamp(d3))
    assert sorted(s["clientTag"] for s in by_time["status"]) == ["r1", "r2"]
    by_time_group = await zr.expect("check", 0, "Success.", scheduleTime=stamp(d3), groupTag="B")
    assert [s["clientTag"] for s in by_time_group["status"]] == ["r2"]
    by_day = await zr.expect("check", 0, "Success.", scheduleDate=d4.strftime("%Y%m%d"))
    assert [s["clientTag"] for s in by_day["status"]] == ["r3"]
    by_day_group = await zr.expect(
        "check", 0, "Success.", scheduleDate=d3.strftime("%Y%m%d"), groupTag="A"
    )
    assert [s["clientTag"] for s in by_day_group["status"]] == ["r1"]
    # clientTag has priority over the other keys.
    first = await zr.expect("check", 0, "Success.", clientTag="r3", scheduleTime=stamp(d3))
    assert [s["clientTag"] for s in first["status"]] == ["r3"]
    none = await zr.expect("check", 0, "Success.", clientTag="no-such-tag")
    assert none["count"] == 0 and none["status"] == []


async def test_checkreservation_refusals(zr: ZettaiClient) -> None:
    await zr.expect("mt", 0, "Success.", message="now", phoneNumber="09012345678", clientTag="sent")
    await zr.expect("check", 100, "Required clientTag.")
    await zr.expect("check", 100, "Required smsCode.", smsCode=None, clientTag="x")
    await zr.expect("check", 110, "Invalid scheduleDate.", scheduleDate="2030-01-01")
    await zr.expect("check", 110, "Invalid scheduleTime.", scheduleTime="tomorrow")
    await zr.expect("check", 120, "clientTag too long.", clientTag="t" * 201)
    await zr.expect("check", 130, "Already send.", clientTag="sent")
    await zr.expect("check", 140, "Past scheduleTime.", scheduleTime=stamp(at(minutes=-5)))
    await zr.expect("check", 140, "Past scheduleDate.", scheduleDate=at(days=-1).strftime("%Y%m%d"))


# --- cancelreservation.json --------------------------------------------------------------


async def test_cancelreservation(zr: ZettaiClient) -> None:
    await reserve(zr, "c1", at(days=2))
    answer = await zr.expect("cancel", 0, "Success.", clientTag="c1")
    assert answer["clientTag"] == "c1"
    assert (await zr.expect("check", 0, "Success.", clientTag="c1"))["count"] == 0
    await zr.expect("cancel", 0, "Success.", clientTag="c1")  # twice: still cancelled
    await zr.expect("mt", 0, "Success.", message="now", phoneNumber="09012345678", clientTag="c2")
    answer = await zr.expect("cancel", 130, "Already send.", clientTag="c2")
    assert answer["clientTag"] == "c2"
    await zr.expect("cancel", 110, "Invalid clientTag.", clientTag="nothing")
    await zr.expect("cancel", 100, "Required clientTag.")
    await zr.expect("cancel", 120, "clientTag too long.", clientTag="t" * 201)
    await zr.expect("cancel", 110, "Invalid clientId.", clientId="0" + str(zr.who.client_id))


# --- cancelreservationall.json -----------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "cancelled"),
    [
        ({"startDate": 4}, {"d4A", "d5B", "d6A"}),  # startDate only: from that day on
        ({"endDate": 4}, {"d3A", "d4A"}),  # endDate only: up to and including that day
        ({"startDate": 4, "endDate": 5}, {"d4A", "d5B"}),
        ({"groupTag": "A"}, {"d3A", "d4A", "d6A"}),  # groupTag only
        ({"groupTag": "A", "startDate": 4}, {"d4A", "d6A"}),
        ({"groupTag": "A", "endDate": 4}, {"d3A", "d4A"}),
        ({"groupTag": "A", "startDate": 4, "endDate": 5}, {"d4A"}),
        ({}, {"d3A", "d4A", "d5B", "d6A"}),  # nothing given: every reservation
    ],
)
async def test_cancelreservationall_combinations(
    zr: ZettaiClient, criteria: dict[str, Any], cancelled: set[str]
) -> None:
    plan = {"d3A": (3, "A"), "d4A": (4, "A"), "d5B": (5, "B"), "d6A": (6, "A")}
    for tag, (days, group) in plan.items():
        await reserve(zr, tag, at(days=days), group)
    params = {
        k: (v if k == "groupTag" else at(days=v).strftime("%Y%m%d")) for k, v in criteria.items()
    }
    await zr.expect("cancelall", 0, "Success.", **params)
    left = set()
    for tag in plan:
        if (await zr.expect("check", 0, "Success.", clientTag=tag))["count"]:
            left.add(tag)
    assert set(plan) - left == cancelled


async def test_cancelreservationall_refusals(zr: ZettaiClient) -> None:
    await zr.expect("cancelall", 110, "Invalid startDate.", startDate="2030-01-01")
    await zr.expect("cancelall", 110, "Invalid endDate.", endDate="2030011")
    await zr.expect("cancelall", 110, "Invalid endDate.", startDate="20300105", endDate="20300101")
    await zr.expect("cancelall", 110, "Invalid groupTag.", groupTag="g" * 201)  # no 120 row
    await zr.expect("cancelall", 110, "Invalid token.", token="t" * 40)
    await zr.expect("cancelall", 100, "Required clientId.", clientId=None)


async def test_reservations_are_per_account(
    zr: ZettaiClient, client: httpx.AsyncClient, other_tenant: Tenant
) -> None:
    await reserve(zr, "mine", at(days=2))
    other = ZettaiClient(client, other_tenant)
    await other.expect("cancelall", 0, "Success.")
    assert (await other.expect("check", 0, "Success.", clientTag="mine"))["count"] == 0
    await other.expect("cancel", 110, "Invalid clientTag.", clientTag="mine")
    assert (await zr.expect("check", 0, "Success.", clientTag="mine"))["count"] == 1
