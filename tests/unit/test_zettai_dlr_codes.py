"""DLR 通知(Common) payloads (against the document's DLRPushJSON schema and its example) and
the mapping of todoke's error tree onto the responseCode tables."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import parse_qs

import jsonschema
import pytest

from tests.zettai_schema import document, schema
from todoke import errors
from todoke.api.compat.zettai_reach.codes import HttpRefusal, ZrError, translate
from todoke.api.compat.zettai_reach.dlr import (
    dlr_event,
    dlr_notification,
    dlr_payload,
    encode_dlr,
    format_dlr,
    message_id_32,
    should_push,
)
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Message

T = 1_700_000_000_000  # 2023-11-15 07:13:20 JST


def message(**changes: object) -> Message:
    base = Message(
        id=time_ordered_id(T),
        account_id=12345,
        to="+819012345678",
        text="example message",
        encoding="GSM7",
        parts=1,
        characters=15,
        status="DELIVERED_TO_HANDSET",
        status_group=3,
        created_at=T,
        updated_at=T + 1500,
        validity_until=T + 3_600_000,
        sender_code="12345",
        carrier="au",
        client_tag="example tag",
        cause="delivered",
        delivered_parts=1,
        billable_parts=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_delivered_notification_matches_the_schema_and_example() -> None:
    delivered = message()
    payload = dlr_payload([delivered])
    jsonschema.validate(payload, schema("DLRPushJSON"))
    (item,) = payload["eventNotifications"]
    assert item == {
        "type": "DLR",
        "dateTime": "2023/11/15 07:13:21",
        "messageId": message_id_32(delivered.id),
        "phoneNumber": "+819012345678",
        "smsCode": "12345",
        "carrierId": "101",
        "carrierName": "AU",
        "messageText": "example message",
        "clientId": "12345",
        "clientTag": "example tag",
        "statusId": "2",
        "statusDescription": "Message delivered",
        "separatedSuccessCount": 1,
    }
    # The document's example keys are those we send.
    props = document()["components"]["schemas"]["DLRPushJSON"]["properties"]
    example_keys = set(props["eventNotifications"]["items"]["properties"])
    assert set(item) <= example_keys


def test_failed_notification_has_the_detailed_status() -> None:
    failed = message(
        status="UNDELIVERABLE_NOT_DELIVERED",
        status_group=2,
        cause="absent_subscriber",
        carrier="docomo",
        billable_parts=0,
    )
    item = dlr_notification(failed)
    jsonschema.validate({"eventNotifications": [item]}, schema("DLRPushJSON"))
    assert (item["statusId"], item["statusDescription"]) == ("3", "Message delivery failed")
    assert item["detailedStatusId"] == 31824 and "separatedSuccessCount" not in item
    unknown_carrier = dlr_notification(replace(failed, carrier=None))
    assert unknown_carrier["carrierId"] is None and "detailedStatusId" not in unknown_carrier
    jsonschema.validate({"eventNotifications": [unknown_carrier]}, schema("DLRPushJSON"))


def test_message_id_is_32_hex_and_reversible() -> None:
    ids = {time_ordered_id(T + i) for i in range(50)}
    hexes = {message_id_32(i) for i in ids}
    assert len(hexes) == 50 and all(len(h) == 32 and int(h, 16) >= 0 for h in hexes)


def test_json_and_xml_bodies() -> None:
    payload = dlr_payload([message(text="予約 & <確認>")])
    headers, body, content_type = encode_dlr(payload, "json")
    assert content_type.startswith("application/x-www-form-urlencoded")
    assert headers["Content-Type"] == content_type
    form = parse_qs(body.decode("ascii"))
    assert json.loads(form["json"][0]) == payload
    _, body, _ = format_dlr(payload, {"dlr_format": "xml"})
    xml = parse_qs(body.decode("ascii"))["xml"][0]
    root = ET.fromstring(xml)  # noqa: S314 - our own output, parsed to check it
    assert root.tag == "eventNotifications"
    node = root.find("eventNotification")
    assert node is not None and node.findtext("messageText") == "予約 & <確認>"
    assert node.findtext("statusId") == "2"

    # One item alone is wrapped; an endpoint object with a ``format`` attribute works too.
    class Endpoint:
        format = "zettai-json"

    _, body, _ = format_dlr(payload["eventNotifications"][0], Endpoint())
    assert json.loads(parse_qs(body.decode())["json"][0]) == payload
    with pytest.raises(ValueError):
        encode_dlr(payload, "csv")


def test_dlr_event() -> None:
    from todoke.services.zettai_settings import ZettaiSettings

    on = ZettaiSettings(12345, dlr_url="https://c.example/dlr", dlr_format="xml")
    url, fmt, payload = dlr_event(message(), on) or ("", "", {})
    assert (url, fmt) == ("https://c.example/dlr", "xml")
    assert payload["eventNotifications"][0]["statusId"] == "2"
    assert dlr_event(message(), ZettaiSettings(12345)) is None


def test_should_push() -> None:
    assert should_push(message(), "https://c.example/dlr")
    assert not should_push(message(), None)
    assert not should_push(message(client_tag=None), "https://c.example/dlr")
    assert not should_push(message(status="PENDING_ENROUTE", status_group=1), "https://x")
    assert not should_push(message(status="CANCELLED", status_group=2), "https://x")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.QuotaExceeded("x"), (300, "Exceed sending count.")),
        (errors.DuplicateClientTag("x"), (400, "Duplicate client tag.")),
        (errors.NotCancellable("x"), (130, "Already send.")),
        (errors.InvalidPhoneNumber("x", field="to"), (110, "Invalid phoneNumber.")),
        (errors.InvalidText("x", code="text_too_long"), (120, "message too long.")),
        (errors.InvalidText("x", code="unsupported_character"), (110, "Invalid message.")),
        (
            errors.InvalidInput("x", field="scheduleAt", code="past_time"),
            (110, "Invalid scheduleTime."),
        ),
        (
            errors.InvalidInput("x", field="from", code="unknown_sender_code"),
            (110, "Invalid smsCode."),
        ),
        (errors.MaintenanceRefused("x"), (500, "System error.")),
        (errors.NotFound("x"), (500, "System error.")),
        (RuntimeError("bug"), (500, "System error.")),
    ],
)
def test_errors_to_response_codes(error: Exception, expected: tuple[int, str]) -> None:
    result = translate(error)
    assert isinstance(result, ZrError)
    assert (result.code, result.message) == expected


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (errors.Unauthenticated("x"), 401, {}),
        (errors.IpBlocked("x"), 403, {}),
        (errors.Forbidden("x"), 403, {}),
        (errors.RateLimited("x", retry_after=0.2), 503, {"Retry-After": "1"}),
        (errors.ServiceUnavailable("x"), 503, {"Retry-After": "1"}),
    ],
)
def test_errors_outside_the_tables(error: Exception, status: int, headers: dict[str, str]) -> None:
    result = translate(error)
    assert isinstance(result, HttpRefusal)
    assert (result.status, result.headers) == (status, headers)
    jsonschema.validate(result.body(), schema("Error"))


def test_the_copied_document_is_the_reference() -> None:
    """tests/data holds a verbatim copy of shared/reference (found beside the repository)."""
    from pathlib import Path

    from tests.zettai_schema import SPEC

    name = "zettai-reach-openapi-1.4.7.json"
    root = Path(__file__).resolve().parents[2]
    candidates = [p / "shared" / "reference" / name for p in (root.parent, root.parent.parent)]
    found = [c for c in candidates if c.is_file()]
    if not found:
        pytest.skip("shared/reference is not beside this checkout")
    assert found[0].read_bytes() == SPEC.read_bytes()
