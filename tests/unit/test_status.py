"""The status model: NTT catalogue, causes, state machine, façade views, SMPP and receipts.

The expected values below are written out from the seeds (004 NTT CPaaS, 002 絶対リーチ!,
003 MediaSMS), not computed from the tables under test.
"""

from __future__ import annotations

import itertools

import pytest

from todoke.domain.carrier import Carrier
from todoke.domain.status import (
    ACCEPTED,
    CANCELLABLE,
    CANCELLED,
    DELIVERED,
    ENROUTE,
    ERROR_GROUPS,
    ERRORS,
    ERRORS_BY_ID,
    HELD,
    SCHEDULED,
    STATUS_GROUPS,
    STATUSES,
    STATUSES_BY_ID,
    WAITING_DELIVERY,
    Cause,
    ErrorInfo,
    Status,
    can_transition,
    is_cancellable,
    is_final,
)
from todoke.domain.status_maps import (
    MEDIASMS_REDIRECT,
    MEDIASMS_STATUSES,
    SIM_ERR,
    SIM_RECEIPT_ERRORS,
    SIM_STAT,
    SMPP_ERROR_CAUSES,
    ZETTAI_REACH_MODULE_CODES,
    MediaSmsStatus,
    ZettaiReachStatus,
    classify_receipt,
    classify_smpp_error,
    mediasms_pending_view,
    mediasms_view,
    zettai_reach_view,
)

AU, DOCOMO, SOFTBANK, RAKUTEN = Carrier.AU, Carrier.DOCOMO, Carrier.SOFTBANK, Carrier.RAKUTEN
ALL_CARRIERS: list[Carrier | None] = [*Carrier, None]
C = Cause

# --- the NTT catalogue (seeds/004) ---------------------------------------------------------

# name: (groupId, groupName, id)
SEED_STATUSES = {
    "PENDING_WAITING_DELIVERY": (1, "PENDING", 3),
    "PENDING_ENROUTE": (1, "PENDING", 7),
    "PENDING_ACCEPTED": (1, "PENDING", 26),
    "UNDELIVERABLE_REJECTED_OPERATOR": (2, "UNDELIVERABLE", 4),
    "UNDELIVERABLE_NOT_DELIVERED": (2, "UNDELIVERABLE", 9),
    "UNDELIVERABLE_NOT_SENT": (2, "UNDELIVERABLE", 31),
    "CANCELLED": (2, "UNDELIVERABLE", 98),
    "DELIVERED_TO_OPERATOR": (3, "DELIVERED", 2),
    "DELIVERED_TO_HANDSET": (3, "DELIVERED", 5),
    "EXPIRED_EXPIRED": (4, "EXPIRED", 15),
    "EXPIRED_DLR_UNKNOWN": (4, "EXPIRED", 29),
    "REJECTED_NETWORK": (5, "REJECTED", 6),
    "REJECTED_PREFIX_MISSING": (5, "REJECTED", 8),
    "REJECTED_DND": (5, "REJECTED", 10),
    "REJECTED_SOURCE": (5, "REJECTED", 11),
    "REJECTED_NOT_ENOUGH_CREDITS": (5, "REJECTED", 12),
    "REJECTED_SENDER": (5, "REJECTED", 13),
    "REJECTED_DESTINATION_BLOCKLISTED": (5, "REJECTED", 14),
    "REJECTED_PREPAID_PACKAGE_EXPIRED": (5, "REJECTED", 17),
    "REJECTED_DESTINATION_NOT_REGISTERED": (5, "REJECTED", 18),
    "REJECTED_ROUTE_NOT_AVAILABLE": (5, "REJECTED", 19),
    "REJECTED_FLOODING_FILTER": (5, "REJECTED", 20),
    "REJECTED_SYSTEM_ERROR": (5, "REJECTED", 21),
    "REJECTED_DUPLICATE_MESSAGE_ID": (5, "REJECTED", 23),
    "REJECTED_INVALID_UDH": (5, "REJECTED", 24),
    "REJECTED_MESSAGE_TOO_LONG": (5, "REJECTED", 25),
    "MISSING_TO": (5, "REJECTED", 51),
    "REJECTED_DESTINATION": (5, "REJECTED", 52),
    "UNDELIVERABLE_REJECTED_PLATFORM": (5, "REJECTED", 100),
}
EXTENSIONS = {"PENDING_SCHEDULED": 1001, "PENDING_HELD_MAINTENANCE": 1002}

# name: (groupId, groupName, id, permanent)
SEED_ERRORS = {
    "NO_ERROR": (0, "OK", 0, False),
    "EC_UNKNOWN_SUBSCRIBER": (1, "HANDSET_ERRORS", 1, True),
    "EC_ABSENT_SUBSCRIBER_SM": (1, "HANDSET_ERRORS", 6, False),
    "EC_CALL_BARRED": (1, "HANDSET_ERRORS", 13, False),
    "EC_ABSENT_SUBSCRIBER": (1, "HANDSET_ERRORS", 27, False),
    "EC_SUBSCRIBER_BUSY_FOR_MT_SMS": (1, "HANDSET_ERRORS", 31, False),
    "EC_SM_DELIVERY_FAILURE": (1, "HANDSET_ERRORS", 32, False),
    "EC_SYSTEM_FAILURE": (1, "HANDSET_ERRORS", 34, False),
    "EC_UNKNOWN_ERROR": (1, "HANDSET_ERRORS", 255, False),
    "EC_SM_DF_MEMORYCAPACITYEXCEEDED": (1, "HANDSET_ERRORS", 256, False),
    "EC_SC_BLOCKED_BY_END_USER": (1, "HANDSET_ERRORS", 573, True),
    "EC_OR_REMOTENODENOTREACHABLE": (1, "HANDSET_ERRORS", 1031, False),
    "EC_NNR_NETWORKCONGESTION": (1, "HANDSET_ERRORS", 1158, False),
    "EC_PA_MAINTENANCEACTIVITY": (1, "HANDSET_ERRORS", 1539, False),
    "EC_MSG_TEXT_TOO_LONG": (2, "USER_ERRORS", 355, True),
    "EC_INVALID_SOURCE_ADDRESS": (2, "USER_ERRORS", 368, True),
    "EC_LIMIT_REACHED": (2, "USER_ERRORS", 541, False),
    "EC_CONTENT_BLOCKED": (2, "USER_ERRORS", 603, True),
    "EC_BLACKLISTED_DESTINATIONADDRESS": (2, "USER_ERRORS", 2052, True),
    "EC_MESSAGE_CANCELED": (2, "USER_ERRORS", 4100, True),
    "EC_VALIDITY_EXPIRED": (2, "USER_ERRORS", 4101, True),
    "EC_DESTINATION_FLOODING": (2, "USER_ERRORS", 4103, True),
    "EC_DESTINATION_TXT_FLOODING": (2, "USER_ERRORS", 4104, True),
    "EC_ACCOUNT_NOT_PROVISIONED_FOR_SMS": (3, "OPERATOR_ERRORS", 592, True),
    "EC_SMS_REJECTED_BY_MOBILE_OPERATOR": (3, "OPERATOR_ERRORS", 632, True),
    "EC_FAILED_MESSAGE_DELIVERY": (3, "OPERATOR_ERRORS", 810, True),
    "EC_MESSAGE_SUBMITTED_NOT_ACKED": (3, "OPERATOR_ERRORS", 815, True),
    "EC_DEST_ADDRESS_BLACKLISTED": (3, "OPERATOR_ERRORS", 2050, True),
    "EC_DUPLICATE_MESSAGE": (3, "OPERATOR_ERRORS", 5492, True),
}


def test_groups() -> None:
    assert {g.id: g.name for g in STATUS_GROUPS.values()} == {
        1: "PENDING",
        2: "UNDELIVERABLE",
        3: "DELIVERED",
        4: "EXPIRED",
        5: "REJECTED",
    }
    assert {g.id: g.name for g in ERROR_GROUPS.values()} == {
        0: "OK",
        1: "HANDSET_ERRORS",
        2: "USER_ERRORS",
        3: "OPERATOR_ERRORS",
    }


@pytest.mark.parametrize(("name", "expected"), sorted(SEED_STATUSES.items()))
def test_seed_status(name: str, expected: tuple[int, str, int]) -> None:
    s = STATUSES[name]
    assert (s.group_id, s.group_name, s.id) == expected
    assert s.name == name
    assert not s.extension


@pytest.mark.parametrize(("name", "expected"), sorted(SEED_ERRORS.items()))
def test_seed_error(name: str, expected: tuple[int, str, int, bool]) -> None:
    e = ERRORS[name]
    assert (e.group_id, e.group_name, e.id, e.permanent) == expected
    assert e.name == name


def test_catalogue_is_exactly_the_listed_entries() -> None:
    assert set(STATUSES) == set(SEED_STATUSES) | set(EXTENSIONS)
    assert set(ERRORS) == set(SEED_ERRORS)


def test_extensions_are_pending_and_out_of_the_seed_range() -> None:
    for name, status_id in EXTENSIONS.items():
        s = STATUSES[name]
        assert s.id == status_id
        assert s.group_id == 1
        assert s.extension
    assert all(s.id < 1000 for s in STATUSES.values() if not s.extension)


def test_ids_are_unique_and_indexed() -> None:
    assert len({s.id for s in STATUSES.values()}) == len(STATUSES)
    assert len({e.id for e in ERRORS.values()}) == len(ERRORS)
    assert all(STATUSES_BY_ID[s.id] is s for s in STATUSES.values())
    assert all(ERRORS_BY_ID[e.id] is e for e in ERRORS.values())


def test_groups_are_consistent() -> None:
    for s in STATUSES.values():
        assert STATUS_GROUPS[s.group_id].name == s.group_name
    for e in ERRORS.values():
        assert ERROR_GROUPS[e.group_id].name == e.group_name


def test_descriptions_are_clean_seed_text() -> None:
    items: list[Status | ErrorInfo] = [*STATUSES.values(), *ERRORS.values()]
    for item in items:
        assert item.description
        assert item.description == item.description.strip()
        assert "opens in a new tab" not in item.description
        assert "|" not in item.description
    # spot checks, verbatim from seeds/004
    assert STATUSES["DELIVERED_TO_HANDSET"].description == (
        "メッセージは受信者の受話器に正常に配信されました。"
    )
    assert ERRORS["EC_DUPLICATE_MESSAGE"].description == (
        "この宛先アドレスには、同じメッセージがすでに送信されています。"
    )
    assert "異なるメッセージ 20 件と同一メッセージ 6 件" in (
        STATUSES["REJECTED_FLOODING_FILTER"].description
    )


def test_to_dict() -> None:
    d = STATUSES["DELIVERED_TO_HANDSET"].to_dict()
    assert list(d) == ["groupId", "groupName", "id", "name", "description"]
    assert {k: d[k] for k in ("groupId", "groupName", "id", "name")} == {
        "groupId": 3,
        "groupName": "DELIVERED",
        "id": 5,
        "name": "DELIVERED_TO_HANDSET",
    }
    e = ERRORS["NO_ERROR"].to_dict()
    assert list(e) == ["groupId", "groupName", "id", "name", "description", "permanent"]
    assert (e["groupId"], e["groupName"], e["id"], e["permanent"]) == (0, "OK", 0, False)


def test_named_pending_states() -> None:
    assert SCHEDULED.name == "PENDING_SCHEDULED"
    assert ACCEPTED.name == "PENDING_ACCEPTED"
    assert HELD.name == "PENDING_HELD_MAINTENANCE"
    assert ENROUTE.name == "PENDING_ENROUTE"
    assert WAITING_DELIVERY.name == "PENDING_WAITING_DELIVERY"
    assert DELIVERED.name == "DELIVERED_TO_HANDSET"
    assert (CANCELLED.group_id, CANCELLED.id) == (2, 98)
    assert CANCELLABLE == ("PENDING_SCHEDULED", "PENDING_ACCEPTED", "PENDING_HELD_MAINTENANCE")


# --- causes ------------------------------------------------------------------------------------

# cause: (final status, error)
CAUSE_NTT = {
    C.DELIVERED: ("DELIVERED_TO_HANDSET", "NO_ERROR"),
    C.ABSENT_SUBSCRIBER: ("UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER_SM"),
    C.HANDSET_BUSY: ("UNDELIVERABLE_NOT_DELIVERED", "EC_SUBSCRIBER_BUSY_FOR_MT_SMS"),
    C.HANDSET_ERROR: ("UNDELIVERABLE_NOT_DELIVERED", "EC_SM_DELIVERY_FAILURE"),
    C.NETWORK_CONGESTION: ("UNDELIVERABLE_REJECTED_OPERATOR", "EC_NNR_NETWORKCONGESTION"),
    C.OTHER_NETWORK_FAILURE: ("UNDELIVERABLE_NOT_DELIVERED", "EC_OR_REMOTENODENOTREACHABLE"),
    C.CALL_BARRED: ("UNDELIVERABLE_NOT_DELIVERED", "EC_CALL_BARRED"),
    C.SYSTEM_ERROR: ("REJECTED_SYSTEM_ERROR", "EC_SYSTEM_FAILURE"),
    C.THROTTLED: ("UNDELIVERABLE_NOT_SENT", "EC_LIMIT_REACHED"),
    C.MAINTENANCE: ("UNDELIVERABLE_NOT_SENT", "EC_PA_MAINTENANCEACTIVITY"),
    C.UNKNOWN_SUBSCRIBER: ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNKNOWN_SUBSCRIBER"),
    C.SMS_REFUSED: ("UNDELIVERABLE_REJECTED_OPERATOR", "EC_SC_BLOCKED_BY_END_USER"),
    C.PARTIAL_DELIVERY: ("UNDELIVERABLE_NOT_DELIVERED", "EC_FAILED_MESSAGE_DELIVERY"),
    C.DELIVERY_FAILED: ("UNDELIVERABLE_NOT_DELIVERED", "EC_FAILED_MESSAGE_DELIVERY"),
    C.REJECTED_BY_CARRIER: (
        "UNDELIVERABLE_REJECTED_OPERATOR",
        "EC_SMS_REJECTED_BY_MOBILE_OPERATOR",
    ),
    C.INVALID_SENDER: ("REJECTED_SOURCE", "EC_INVALID_SOURCE_ADDRESS"),
    C.NO_ROUTE: ("REJECTED_ROUTE_NOT_AVAILABLE", "EC_ACCOUNT_NOT_PROVISIONED_FOR_SMS"),
    C.EXPIRED: ("EXPIRED_EXPIRED", "EC_VALIDITY_EXPIRED"),
    C.UNKNOWN: ("EXPIRED_DLR_UNKNOWN", "EC_MESSAGE_SUBMITTED_NOT_ACKED"),
    C.FLOODING: ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_FLOODING"),
    C.TEXT_FLOODING: ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_TXT_FLOODING"),
    C.DUPLICATE: ("REJECTED_FLOODING_FILTER", "EC_DUPLICATE_MESSAGE"),
    C.BLOCKLISTED: ("REJECTED_DESTINATION_BLOCKLISTED", "EC_BLACKLISTED_DESTINATIONADDRESS"),
    C.DND: ("REJECTED_DND", "EC_DEST_ADDRESS_BLACKLISTED"),
    C.OPTED_OUT: ("REJECTED_DESTINATION_BLOCKLISTED", "EC_CONTENT_BLOCKED"),
    C.MESSAGE_TOO_LONG: ("REJECTED_MESSAGE_TOO_LONG", "EC_MSG_TEXT_TOO_LONG"),
    C.CANCELLED: ("CANCELLED", "EC_MESSAGE_CANCELED"),
}
RETRYABLE = {
    C.ABSENT_SUBSCRIBER,
    C.HANDSET_BUSY,
    C.HANDSET_ERROR,
    C.NETWORK_CONGESTION,
    C.OTHER_NETWORK_FAILURE,
    C.CALL_BARRED,
    C.SYSTEM_ERROR,
    C.THROTTLED,
    C.MAINTENANCE,
}


def test_every_cause_is_listed() -> None:
    assert set(CAUSE_NTT) == set(Cause)


@pytest.mark.parametrize(("cause", "expected"), CAUSE_NTT.items())
def test_cause_ntt(cause: Cause, expected: tuple[str, str]) -> None:
    assert (cause.status.name, cause.error.name) == expected
    assert is_final(cause.status)
    assert cause.permanent is cause.error.permanent
    assert cause.retryable is (cause in RETRYABLE)
    assert cause.retryable is not (cause.permanent or cause is C.DELIVERED)


def test_cause_values_are_stable_snake_case() -> None:
    assert C("absent_subscriber") is C.ABSENT_SUBSCRIBER
    assert all(c.value == c.name.lower() for c in Cause)


# --- the state machine ---------------------------------------------------------------------

PENDING = [SCHEDULED, ACCEPTED, HELD, ENROUTE, WAITING_DELIVERY]
FINALS = [s for s in STATUSES.values() if s.group_id != 1]

ALLOWED_PENDING = {
    (SCHEDULED, ACCEPTED),
    (SCHEDULED, HELD),
    (ACCEPTED, ACCEPTED),
    (ACCEPTED, HELD),
    (ACCEPTED, ENROUTE),
    (HELD, ACCEPTED),
    (HELD, HELD),
    (ENROUTE, WAITING_DELIVERY),
    (ENROUTE, ACCEPTED),
    (ENROUTE, HELD),
    (WAITING_DELIVERY, WAITING_DELIVERY),
    (WAITING_DELIVERY, ACCEPTED),
    (WAITING_DELIVERY, HELD),
}


@pytest.mark.parametrize(
    ("src", "dst"), list(itertools.product(PENDING, PENDING)), ids=lambda s: s.name
)
def test_pending_to_pending(src: Status, dst: Status) -> None:
    assert can_transition(src, dst) is ((src, dst) in ALLOWED_PENDING)


@pytest.mark.parametrize("src", FINALS, ids=lambda s: s.name)
def test_final_is_final(src: Status) -> None:
    assert is_final(src)
    for dst in STATUSES.values():
        assert not can_transition(src, dst)


@pytest.mark.parametrize("status", PENDING, ids=lambda s: s.name)
def test_pending_is_not_final(status: Status) -> None:
    assert not is_final(status)


def test_cancel_only_before_leaving() -> None:
    for src in PENDING:
        expected = src in (SCHEDULED, ACCEPTED, HELD)
        assert can_transition(src, CANCELLED) is expected
        assert is_cancellable(src) is expected
        assert is_cancellable(src.name) is expected
    assert not is_cancellable(CANCELLED)


def test_scheduled_cannot_end_with_a_carrier_answer() -> None:
    assert not can_transition(SCHEDULED, DELIVERED)
    assert not can_transition(SCHEDULED, "UNDELIVERABLE_NOT_DELIVERED")
    assert not can_transition(SCHEDULED, "EXPIRED_DLR_UNKNOWN")
    assert can_transition(SCHEDULED, "REJECTED_FLOODING_FILTER")
    assert can_transition(SCHEDULED, "UNDELIVERABLE_NOT_SENT")
    assert can_transition(SCHEDULED, "EXPIRED_EXPIRED")


@pytest.mark.parametrize("src", [ACCEPTED, HELD, ENROUTE, WAITING_DELIVERY], ids=lambda s: s.name)
def test_every_outcome_reachable_once_queued(src: Status) -> None:
    for cause in Cause:
        if cause is C.CANCELLED and src in (ENROUTE, WAITING_DELIVERY):
            continue
        assert can_transition(src, cause.status)


def test_receipt_may_overtake_submit_resp() -> None:
    assert can_transition("PENDING_ENROUTE", "DELIVERED_TO_HANDSET")


def test_unknown_status_name() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        can_transition("PENDING_ACCEPTED", "NOPE")
    with pytest.raises(ValueError, match="unknown status"):
        is_final("NOPE")


# --- 絶対リーチ! ----------------------------------------------------------------------------------

# cause: (statusId, detailedStatusId for au, docomo, softbank, rakuten); unknown carrier: None
ZR_ROWS: dict[Cause, tuple[int, tuple[str | None, str | None, str | None, str | None]]] = {
    C.DELIVERED: (2, (None, None, None, None)),
    C.ABSENT_SUBSCRIBER: (3, ("11833", "31824", "51824", "61824")),
    C.HANDSET_BUSY: (3, ("11833", "31821", "51821", "61821")),
    C.HANDSET_ERROR: (3, ("11834", "31834", "51834", "61834")),
    C.NETWORK_CONGESTION: (3, ("11721", "31721", "51721", "61721")),
    C.OTHER_NETWORK_FAILURE: (3, ("11823", "31823", "51823", "61823")),
    C.CALL_BARRED: (3, ("11732", "31732", "51732", "61732")),
    C.SYSTEM_ERROR: (3, (None, None, None, None)),
    C.THROTTLED: (3, (None, None, None, None)),
    C.MAINTENANCE: (3, (None, None, None, None)),
    C.UNKNOWN_SUBSCRIBER: (3, ("11732", "31732", "51732", "61732")),
    C.SMS_REFUSED: (3, ("11834", "31834", "51834", "61834")),
    C.PARTIAL_DELIVERY: (3, (None, None, None, None)),
    C.DELIVERY_FAILED: (3, (None, None, None, None)),
    C.REJECTED_BY_CARRIER: (3, (None, None, None, None)),
    C.INVALID_SENDER: (3, (None, None, None, None)),
    C.NO_ROUTE: (3, (None, None, None, None)),
    C.EXPIRED: (3, (None, None, None, None)),
    C.UNKNOWN: (0, (None, None, None, None)),
    C.FLOODING: (3, (None, None, None, None)),
    C.TEXT_FLOODING: (3, (None, None, None, None)),
    C.DUPLICATE: (3, (None, None, None, None)),
    C.BLOCKLISTED: (3, (None, None, None, None)),
    C.DND: (3, (None, None, None, None)),
    C.OPTED_OUT: (3, (None, None, None, None)),
    C.MESSAGE_TOO_LONG: (3, (None, None, None, None)),
    C.CANCELLED: (3, (None, None, None, None)),
}
ZR_CASES = [
    (cause, carrier, status_id, detailed)
    for cause, (status_id, codes) in ZR_ROWS.items()
    for carrier, detailed in [*zip(Carrier, codes, strict=True), (None, None)]
]


@pytest.mark.parametrize(("cause", "carrier", "status_id", "detailed"), ZR_CASES)
def test_zettai_reach_final(
    cause: Cause, carrier: Carrier | None, status_id: int, detailed: str | None
) -> None:
    assert zettai_reach_view(cause, carrier, final=True) == ZettaiReachStatus(status_id, detailed)


def test_zettai_reach_rows_cover_every_cause() -> None:
    assert set(ZR_ROWS) == set(Cause)


def test_zettai_reach_codes_are_the_seeds() -> None:
    produced = {
        zettai_reach_view(cause, carrier, final=True).detailed_status_id
        for cause in Cause
        for carrier in Carrier
    } - {None}
    assert all(code is not None and len(code) == 5 for code in produced)
    assert {code[2:] for code in produced if code} == {
        "721",
        "732",
        "821",
        "823",
        "824",
        "833",
        "834",
    }
    assert {code[:2] for code in produced if code} == {"11", "31", "51", "61"}
    assert dict(ZETTAI_REACH_MODULE_CODES) == {
        AU: "11",
        DOCOMO: "31",
        SOFTBANK: "51",
        RAKUTEN: "61",
    }


@pytest.mark.parametrize("cause", [*Cause, None])
@pytest.mark.parametrize("carrier", ALL_CARRIERS)
def test_zettai_reach_pending_is_sending(cause: Cause | None, carrier: Carrier | None) -> None:
    view = zettai_reach_view(cause, carrier, final=False)
    assert view == ZettaiReachStatus(1, None)
    assert view.status_description == "Message is Sending"


def test_zettai_reach_descriptions() -> None:
    def desc(cause: Cause) -> str:
        return zettai_reach_view(cause, AU, final=True).status_description

    assert desc(C.UNKNOWN) == "Unknown"
    assert desc(C.DELIVERED) == "Message delivered"
    assert desc(C.ABSENT_SUBSCRIBER) == "Message delivery failed"


def test_zettai_reach_final_needs_a_cause() -> None:
    with pytest.raises(ValueError, match="cause"):
        zettai_reach_view(None, AU, final=True)


# --- MediaSMS --------------------------------------------------------------------------------

# The numbers seeds/003 gives; every other label has no public number.
MEDIASMS_SEED_CODES = {
    "送信済": 1,
    "送信中": 2,
    "処理中": 11,
    "失敗": 0,
    "ドコモ圏外・OFF": 14,
    "ドコモ自 NW 障害": 15,
    "ドコモ他 NW 障害": 16,
    "ドコモその他失敗": 13,
    "ドコモその他不明": 29,
    "ドコモ一部受信": 32,
    "au 圏外・OFF": 7,
    "au 自 NW 障害": 8,
}

AU_OTHER, DC_OTHER, SB_OTHER, RK_OTHER = (
    "au その他失敗",
    "ドコモその他失敗",
    "ソフトバンクその他失敗",
    "Rakuten その他失敗",
)
OWN_NW = ("au 自 NW 障害", "ドコモ自 NW 障害", "ソフトバンク自 NW 障害", RK_OTHER, "失敗")
OTHER_FAILURE = (AU_OTHER, DC_OTHER, SB_OTHER, RK_OTHER, "失敗")
NO_RESULT = (AU_OTHER, "ドコモその他不明", SB_OTHER, RK_OTHER, "失敗")


def _all(label: str) -> tuple[str, str, str, str, str]:
    return (label, label, label, label, label)


# cause: labels for au, docomo, softbank, rakuten, unknown carrier
MEDIASMS_ROWS: dict[Cause, tuple[str, str, str, str, str]] = {
    C.DELIVERED: _all("送信済"),
    C.ABSENT_SUBSCRIBER: (
        "au 圏外・OFF",
        "ドコモ圏外・OFF",
        "ソフトバンク圏外・OFF",
        "Rakuten 圏外・OFF",
        "失敗",
    ),
    C.HANDSET_BUSY: ("au 圏外・OFF", DC_OTHER, SB_OTHER, RK_OTHER, "失敗"),
    C.HANDSET_ERROR: ("au 圏外・OFF", "ドコモ他 NW 障害", SB_OTHER, RK_OTHER, "失敗"),
    C.NETWORK_CONGESTION: OWN_NW,
    C.OTHER_NETWORK_FAILURE: (
        "au 他 NW 障害",
        "ドコモ他 NW 障害",
        "ソフトバンク他 NW 障害",
        "Rakuten 他 NW 障害",
        "失敗",
    ),
    C.CALL_BARRED: ("au 未払", DC_OTHER, SB_OTHER, RK_OTHER, "失敗"),
    C.SYSTEM_ERROR: OWN_NW,
    C.THROTTLED: _all("未送信"),
    C.MAINTENANCE: _all("未送信"),
    C.UNKNOWN_SUBSCRIBER: (AU_OTHER, "ドコモ他 NW 障害", SB_OTHER, RK_OTHER, "失敗"),
    C.SMS_REFUSED: (AU_OTHER, DC_OTHER, "ソフトバンク受信拒否", RK_OTHER, "失敗"),
    C.PARTIAL_DELIVERY: (
        "長文一部受信",
        "ドコモ一部受信",
        "長文一部受信",
        "Rakuten 一部受信",
        "長文一部受信",
    ),
    C.DELIVERY_FAILED: OTHER_FAILURE,
    C.REJECTED_BY_CARRIER: OTHER_FAILURE,
    C.INVALID_SENDER: OTHER_FAILURE,
    C.NO_ROUTE: _all("送信不可"),
    C.EXPIRED: NO_RESULT,
    C.UNKNOWN: NO_RESULT,
    C.FLOODING: _all("送信上限"),
    C.TEXT_FLOODING: _all("重複不可"),
    C.DUPLICATE: _all("重複不可"),
    C.BLOCKLISTED: _all("403"),
    C.DND: _all("403"),
    C.OPTED_OUT: _all("配信停止希望"),
    C.MESSAGE_TOO_LONG: _all("無効"),
    C.CANCELLED: _all("キャンセル済"),
}
MEDIASMS_CASES = [
    (cause, carrier, label)
    for cause, labels in MEDIASMS_ROWS.items()
    for carrier, label in zip(ALL_CARRIERS, labels, strict=True)
]


@pytest.mark.parametrize(("cause", "carrier", "label"), MEDIASMS_CASES)
def test_mediasms_final(cause: Cause, carrier: Carrier | None, label: str) -> None:
    view = mediasms_view(cause, carrier, final=True)
    assert view == MediaSmsStatus(MEDIASMS_SEED_CODES.get(label), label)


def test_mediasms_rows_cover_every_cause() -> None:
    assert set(MEDIASMS_ROWS) == set(Cause)


def test_mediasms_catalogue_codes_are_the_seeds() -> None:
    labels = [s.label for s in MEDIASMS_STATUSES]
    assert len(labels) == len(set(labels))
    for s in MEDIASMS_STATUSES:
        assert s.code == MEDIASMS_SEED_CODES.get(s.label), s.label
    assert set(MEDIASMS_SEED_CODES) <= set(labels)


def test_every_mediasms_status_is_produced() -> None:
    produced = {mediasms_view(c, k, final=True) for c in Cause for k in ALL_CARRIERS}
    produced |= {mediasms_pending_view(s) for s in PENDING}
    produced.add(mediasms_view(None, AU, final=False))
    assert produced | {MEDIASMS_REDIRECT} == set(MEDIASMS_STATUSES)


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (SCHEDULED, "送信前"),
        (ACCEPTED, "送信中"),
        (HELD, "送信中"),
        (ENROUTE, "送信中"),
        (WAITING_DELIVERY, "処理中"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_mediasms_pending(status: Status, label: str) -> None:
    assert mediasms_pending_view(status).label == label


def test_mediasms_pending_rejects_final() -> None:
    with pytest.raises(ValueError, match="not a pending status"):
        mediasms_pending_view(DELIVERED)


@pytest.mark.parametrize("cause", [*Cause, None])
def test_mediasms_not_final_is_sending(cause: Cause | None) -> None:
    assert mediasms_view(cause, DOCOMO, final=False) == MediaSmsStatus(2, "送信中")


def test_mediasms_final_needs_a_cause() -> None:
    with pytest.raises(ValueError, match="cause"):
        mediasms_view(None, AU, final=True)


def test_mediasms_billable_only_sent_and_redirect() -> None:
    billable = {s.label for s in MEDIASMS_STATUSES if s.billable}
    assert billable == {"送信済", "リダイレクト"}
    assert MEDIASMS_REDIRECT.label == "リダイレクト"
    for cause in Cause:
        for carrier in ALL_CARRIERS:
            view = mediasms_view(cause, carrier, final=True)
            assert view.billable is (cause is C.DELIVERED)


# --- SMPP submit_sm_resp -----------------------------------------------------------------------


def _hex_id(value: object) -> str:
    return hex(value) if isinstance(value, int) else str(value)


SMPP_CASES = {
    0x01: C.MESSAGE_TOO_LONG,
    0x04: C.SYSTEM_ERROR,
    0x08: C.SYSTEM_ERROR,
    0x0A: C.INVALID_SENDER,
    0x0B: C.UNKNOWN_SUBSCRIBER,
    0x0D: C.SYSTEM_ERROR,
    0x14: C.THROTTLED,
    0x45: C.SYSTEM_ERROR,
    0x48: C.INVALID_SENDER,
    0x50: C.REJECTED_BY_CARRIER,
    0x58: C.THROTTLED,
    0x62: C.REJECTED_BY_CARRIER,
    0x64: C.SYSTEM_ERROR,
    0x65: C.REJECTED_BY_CARRIER,
    0xC4: C.REJECTED_BY_CARRIER,
    0xFE: C.DELIVERY_FAILED,
    0xFF: C.SYSTEM_ERROR,
    0x104: C.REJECTED_BY_CARRIER,
    0x400: C.SYSTEM_ERROR,  # vendor code, not in any table
    0x1234: C.SYSTEM_ERROR,
}


@pytest.mark.parametrize(("command_status", "cause"), SMPP_CASES.items(), ids=_hex_id)
def test_classify_smpp_error(command_status: int, cause: Cause) -> None:
    assert classify_smpp_error(command_status) is cause


@pytest.mark.parametrize(("command_status", "cause"), SMPP_ERROR_CAUSES.items(), ids=_hex_id)
def test_smpp_table_rows(command_status: int, cause: Cause) -> None:
    assert classify_smpp_error(command_status) is cause
    assert is_final(cause.status)


def test_throttling_slows_down_instead_of_failing() -> None:
    for code in (0x58, 0x14):
        cause = classify_smpp_error(code)
        assert cause is C.THROTTLED
        assert cause.retryable


def test_invalid_destination_is_permanent() -> None:
    assert classify_smpp_error(0x0B).permanent


def test_smpp_ok_is_not_an_error() -> None:
    with pytest.raises(ValueError, match="not an error"):
        classify_smpp_error(0)


def test_smpp_vendor_errors() -> None:
    vendor = {0x401: C.ABSENT_SUBSCRIBER, 0x08: C.NETWORK_CONGESTION}
    assert classify_smpp_error(0x401, vendor_errors=vendor) is C.ABSENT_SUBSCRIBER
    assert classify_smpp_error(0x08, vendor_errors=vendor) is C.NETWORK_CONGESTION
    assert classify_smpp_error(0x0B, vendor_errors=vendor) is C.UNKNOWN_SUBSCRIBER


# --- delivery receipts ---------------------------------------------------------------------


def test_sim_tables() -> None:
    assert len(set(SIM_ERR.values())) == len(SIM_ERR)
    assert all(len(err) == 3 and err.isdigit() for err in SIM_ERR.values())
    assert {SIM_RECEIPT_ERRORS[err] for err in SIM_ERR.values()} == set(SIM_ERR)
    assert set(SIM_STAT) == set(SIM_ERR)
    assert SIM_ERR[C.DELIVERED] == "000"
    assert SIM_STAT[C.DELIVERED] == "DELIVRD"
    assert SIM_STAT[C.ABSENT_SUBSCRIBER] == "UNDELIV"


@pytest.mark.parametrize("cause", list(SIM_ERR))
@pytest.mark.parametrize("carrier", ALL_CARRIERS)
def test_simulator_receipts_round_trip(cause: Cause, carrier: Carrier | None) -> None:
    assert classify_receipt(SIM_STAT[cause], SIM_ERR[cause], carrier) is cause


@pytest.mark.parametrize(
    ("stat", "err", "cause"),
    [
        ("DELIVRD", "000", C.DELIVERED),
        ("DELIVRD", "006", C.DELIVERED),  # delivered wins over a stray err:
        ("delivrd", None, C.DELIVERED),
        (" DELIVERED ", None, C.DELIVERED),
        ("2", None, C.DELIVERED),  # message_state TLV value
        ("EXPIRED", "006", C.EXPIRED),
        ("UNKNOWN", None, C.UNKNOWN),
        ("DELETED", "006", C.REJECTED_BY_CARRIER),
        ("UNDELIV", "006", C.ABSENT_SUBSCRIBER),
        ("UNDELIV", "6", C.ABSENT_SUBSCRIBER),  # err: without leading zeros
        ("UNDELIVERABLE", "051", C.NETWORK_CONGESTION),
        ("UNDELIV", "000", C.DELIVERY_FAILED),  # a failure that says no more
        ("UNDELIV", None, C.DELIVERY_FAILED),
        ("UNDELIV", "", C.DELIVERY_FAILED),
        ("UNDELIV", "777", C.DELIVERY_FAILED),
        ("UNDELIV", "x9", C.DELIVERY_FAILED),
        ("REJECTD", None, C.REJECTED_BY_CARRIER),
        ("REJECTED", "902", C.SMS_REFUSED),
        ("8", "000", C.REJECTED_BY_CARRIER),
    ],
)
def test_classify_receipt(stat: str, err: str | None, cause: Cause) -> None:
    assert classify_receipt(stat, err, DOCOMO) is cause


@pytest.mark.parametrize("stat", ["ENROUTE", "ACCEPTD", "accepted", "1", "6", "", "BOGUS", "9"])
def test_receipts_without_an_outcome(stat: str) -> None:
    assert classify_receipt(stat, "000", AU) is None


def test_connector_error_maps() -> None:
    custom = {"042": C.SMS_REFUSED}
    assert classify_receipt("UNDELIV", "42", None, receipt_error_map=custom) is C.SMS_REFUSED
    assert classify_receipt("UNDELIV", "006", None, receipt_error_map=custom) is (C.DELIVERY_FAILED)
    per_carrier = {AU: {"ABC": C.HANDSET_ERROR}}
    assert classify_receipt("UNDELIV", "abc", AU, carrier_error_maps=per_carrier) is C.HANDSET_ERROR
    # another carrier, or no carrier, reads the default table
    assert classify_receipt("UNDELIV", "006", DOCOMO, carrier_error_maps=per_carrier) is (
        C.ABSENT_SUBSCRIBER
    )
    assert classify_receipt("UNDELIV", "006", None, carrier_error_maps=per_carrier) is (
        C.ABSENT_SUBSCRIBER
    )
