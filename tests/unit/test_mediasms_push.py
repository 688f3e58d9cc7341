"""The MediaSMS result push format (pure) and the message status views it uses."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

from todoke.api.compat.mediasms.push import (
    ResultEndpoint,
    click_event,
    format_result,
    result_event,
    wants_push,
)
from todoke.api.compat.mediasms.records import facade_data, read_facade, status_of
from todoke.domain.message import Message, MessageEvent

AT = 1_767_225_600_000  # 2026-01-01 09:00:00 JST


def message(**changes: object) -> Message:
    values: dict[str, object] = {
        "id": "M1",
        "account_id": 1,
        "to": "+819012345678",
        "text": "こんにちは",
        "encoding": "UCS2",
        "parts": 1,
        "characters": 5,
        "status": "DELIVERED_TO_HANDSET",
        "status_group": 3,
        "created_at": AT,
        "updated_at": AT,
        "validity_until": AT + 1000,
        "carrier": "docomo",
        "client_tag": "Sms1",
        "cause": "delivered",
        "facade_data": facade_data(
            True, smsid="Sms1", params={"mobilenumber": "09012345678", "smstext": "こんにちは"}
        ),
    }
    values.update(changes)
    return Message(**values)  # type: ignore[arg-type]


def event(
    status: str, group: int, *, error: str | None = None, attempt: int | None = 1
) -> MessageEvent:
    return MessageEvent(
        id=1, message_id="M1", status=status, status_group=group, created_at=AT,
        error_code=error, attempt=attempt,
    )  # fmt: skip


def fields(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode("ascii")).items()}


def test_final_and_attempt_events_are_results() -> None:
    m = message()
    assert wants_push(m)
    final = result_event(m, event("DELIVERED_TO_HANDSET", 3))
    assert final is not None and (final["status"], final["code"]) == ("送信済", 1)
    retried = result_event(
        m, event("PENDING_ACCEPTED", 1, error="EC_ABSENT_SUBSCRIBER_SM", attempt=1)
    )
    assert retried is not None and (retried["status"], retried["code"]) == ("ドコモ圏外・OFF", 14)
    au = message(carrier="au")
    congested = result_event(
        au, event("PENDING_ACCEPTED", 1, error="EC_NNR_NETWORKCONGESTION", attempt=2)
    )
    assert congested is not None and congested["status"] == "au 自 NW 障害"
    # throttling and maintenance holds are not results of the message
    for error in ("EC_LIMIT_REACHED", "EC_PA_MAINTENANCEACTIVITY"):
        assert result_event(m, event("PENDING_ACCEPTED", 1, error=error)) is None
    # acceptance and the in-flight steps are not results
    for name in ("PENDING_ACCEPTED", "PENDING_ENROUTE", "PENDING_WAITING_DELIVERY"):
        assert result_event(m, event(name, 1, attempt=None)) is None
        assert result_event(m, event(name, 1)) is None


def test_cancelled_and_unknown_carrier() -> None:
    cancelled = message(status="CANCELLED", status_group=2, cause=None, carrier=None)
    payload = result_event(cancelled, event("CANCELLED", 2, attempt=None))
    assert payload is not None and payload["status"] == "キャンセル済"
    failed = message(status="UNDELIVERABLE_NOT_DELIVERED", status_group=2,
                     cause="unknown_subscriber", carrier=None)  # fmt: skip
    assert status_of(failed).label == "失敗"


def test_form_body_text_status() -> None:
    payload = result_event(message(), event("DELIVERED_TO_HANDSET", 3))
    assert payload is not None
    headers, body, content_type = format_result(payload, ResultEndpoint(url="https://x/"))
    assert content_type == "application/x-www-form-urlencoded; charset=UTF-8"
    assert headers == {"Content-Type": content_type}  # no credentials configured
    assert fields(body) == {
        "smsid": "Sms1",
        "mobilenumber": "09012345678",
        "status": "送信済",
        "resultdatetime": "20260101090000",
    }


def test_numeric_basic_auth_and_kept_parameters() -> None:
    payload = result_event(message(), event("DELIVERED_TO_HANDSET", 3))
    assert payload is not None
    endpoint = ResultEndpoint(
        url="https://x/", username="dlr", password="p:w", numeric_status=True, keep_params=True
    )
    headers, body, _ = format_result(payload, endpoint)
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"dlr:p:w").decode()
    got = fields(body)
    assert got["status"] == "1"
    assert got["smstext"] == "こんにちは"
    assert set(got) == {"mobilenumber", "smstext", "smsid", "status", "resultdatetime"}
    # a label without a published number stays a label in numeric mode
    sb = message(status="UNDELIVERABLE_REJECTED_OPERATOR", status_group=2,
                 cause="sms_refused", carrier="softbank")  # fmt: skip
    sb_payload = result_event(sb, event("UNDELIVERABLE_REJECTED_OPERATOR", 2))
    assert sb_payload is not None
    assert fields(format_result(sb_payload, endpoint)[1])["status"] == "ソフトバンク受信拒否"


def test_credentials_are_never_echoed() -> None:
    m = message(facade_data=facade_data(
        True, smsid="S", params={"username": "u", "password": "p", "smsid": "S"}))  # fmt: skip
    payload = click_event(m, AT)
    assert payload["status"] == "リダイレクト"
    _, body, _ = format_result(payload, ResultEndpoint(url="https://x/", keep_params=True))
    got = fields(body)
    assert "username" not in got and "password" not in got and got["smsid"] == "S"


def test_messages_of_other_apis_are_not_pushed() -> None:
    plain = message(facade_data=None)
    assert read_facade(plain) == {} and not wants_push(plain)
    assert not wants_push(message(facade_data='{"api": "zettai", "notify": true}'))
    assert not wants_push(message(facade_data="{broken"))


def test_password_hashes() -> None:
    from todoke.services.mediasms import hash_password, verify_password

    stored = hash_password("Secret-123")
    assert stored.startswith("scrypt$16384$8$1$") and "Secret-123" not in stored
    assert verify_password("Secret-123", stored)
    assert not verify_password("Secret-124", stored)
    assert hash_password("Secret-123") != stored  # salted
    for broken in ("", "scrypt$x", "bcrypt$1$2$3$4$5", "scrypt$16384$8$1$!!$??"):
        assert not verify_password("Secret-123", broken)
