"""Tables between the one status model (``status``) and the world around it.

Outwards, the same outcome in each façade's own terms: 絶対リーチ! ``statusId`` and
``detailedStatusId`` (seeds/002 and the OpenAPI document), MediaSMS ``status`` values
(seeds/003). Inwards, SMPP ``submit_sm_resp`` errors and delivery receipt ``stat:``/``err:``
values to a ``Cause``.

Every table is keyed by ``Cause`` (and carrier), so each cause shows up in every façade for every
carrier; ``None`` as carrier means "not known" (no prefix match and none given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from todoke.domain.carrier import Carrier
from todoke.domain.status import (
    ACCEPTED,
    ENROUTE,
    HELD,
    SCHEDULED,
    WAITING_DELIVERY,
    Cause,
    Status,
)

# --- 絶対リーチ! -------------------------------------------------------------------------------

# statusId (seeds/002, ステータス ID について): value -> statusDescription.
ZR_UNKNOWN: Final = 0  # Unknown: 状態不明
ZR_SENDING: Final = 1  # Message is Sending: 配信中
ZR_DELIVERED: Final = 2  # Message delivered: 送達
ZR_FAILED: Final = 3  # Message delivery failed: 配信失敗
ZETTAI_REACH_STATUS_DESCRIPTIONS: Final[Mapping[int, str]] = MappingProxyType(
    {
        ZR_UNKNOWN: "Unknown",
        ZR_SENDING: "Message is Sending",
        ZR_DELIVERED: "Message delivered",
        ZR_FAILED: "Message delivery failed",
    }
)

# detailedStatusId = module code (2 digits, the carrier) + classification code (3 digits),
# given "配信失敗の場合" (seeds/002, 詳細内部コード). The seed assigns module codes 11-14 to au,
# 31/32 docomo, 51/52 SoftBank, 61/62 楽天モバイル without saying what tells them apart (they
# look like the provider's several links per carrier); todoke reports the first of each.
ZETTAI_REACH_MODULE_CODES: Final[Mapping[Carrier, str]] = MappingProxyType(
    {Carrier.AU: "11", Carrier.DOCOMO: "31", Carrier.SOFTBANK: "51", Carrier.RAKUTEN: "61"}
)

# Classification codes (末尾 3 桁) as the seed gives them: 内容 (起因箇所).
_ZR_721: Final = "721"  # 輻輳 (キャリア、送信先端末)
_ZR_732: Final = "732"  # 欠番、顧客都合 (送信先端末)
_ZR_821: Final = "821"  # 輻輳 (送信先端末)
_ZR_823: Final = "823"  # ネットワーク起因（圏外、電源 OFF 含む） (キャリア、送信先端末)
_ZR_824: Final = "824"  # 圏外、電源 OFF 等 (送信先端末)
_ZR_833: Final = "833"  # 圏外、話中、電源 OFF 等 (送信先端末)
_ZR_834: Final = "834"  # 移動機側エラー（SMS 拒否設定等 ） (送信先端末)


@dataclass(frozen=True, slots=True)
class ZettaiReachStatus:
    """A message's status in the 絶対リーチ! API: ``statusId`` and ``detailedStatusId``.

    ``detailed_status_id`` is ``None`` where the API leaves it undefined (statusId 0 and 1,
    "値は不定") and where no classification code of the seed describes the cause (the seed
    lists only "主要な値" and warns that codes change; todoke does not invent any). The status
    API sends it as a string, the DLR callback as an integer: the façade converts.
    """

    status_id: int
    detailed_status_id: str | None

    @property
    def status_description(self) -> str:
        """The statusDescription of the DLR callback ("Message delivered", ...)."""
        return ZETTAI_REACH_STATUS_DESCRIPTIONS[self.status_id]


def _same(code: str | None) -> Mapping[Carrier, str | None]:
    return dict.fromkeys(Carrier, code)


# Cause -> (statusId, classification code per carrier). au's 圏外 answer includes 通話中 and a
# busy handset (seeds/003, au 圏外・OFF), so au gets 833 "圏外、話中、電源 OFF 等" where the
# others tell 圏外 (824) and a busy handset (821) apart.
_ZR_FINAL: Final[Mapping[Cause, tuple[int, Mapping[Carrier, str | None]]]] = MappingProxyType(
    {
        Cause.DELIVERED: (ZR_DELIVERED, _same(None)),
        Cause.ABSENT_SUBSCRIBER: (ZR_FAILED, {**_same(_ZR_824), Carrier.AU: _ZR_833}),
        Cause.HANDSET_BUSY: (ZR_FAILED, {**_same(_ZR_821), Carrier.AU: _ZR_833}),
        Cause.HANDSET_ERROR: (ZR_FAILED, _same(_ZR_834)),
        Cause.NETWORK_CONGESTION: (ZR_FAILED, _same(_ZR_721)),
        Cause.OTHER_NETWORK_FAILURE: (ZR_FAILED, _same(_ZR_823)),
        Cause.CALL_BARRED: (ZR_FAILED, _same(_ZR_732)),  # 顧客都合: a suspended line
        Cause.SYSTEM_ERROR: (ZR_FAILED, _same(None)),
        Cause.THROTTLED: (ZR_FAILED, _same(None)),
        Cause.MAINTENANCE: (ZR_FAILED, _same(None)),
        Cause.UNKNOWN_SUBSCRIBER: (ZR_FAILED, _same(_ZR_732)),  # 欠番
        Cause.SMS_REFUSED: (ZR_FAILED, _same(_ZR_834)),
        Cause.PARTIAL_DELIVERY: (ZR_FAILED, _same(None)),
        Cause.DELIVERY_FAILED: (ZR_FAILED, _same(None)),
        Cause.REJECTED_BY_CARRIER: (ZR_FAILED, _same(None)),
        Cause.INVALID_SENDER: (ZR_FAILED, _same(None)),
        Cause.NO_ROUTE: (ZR_FAILED, _same(None)),
        Cause.EXPIRED: (ZR_FAILED, _same(None)),
        Cause.UNKNOWN: (ZR_UNKNOWN, _same(None)),  # 状態不明: it may have been delivered
        Cause.FLOODING: (ZR_FAILED, _same(None)),
        Cause.TEXT_FLOODING: (ZR_FAILED, _same(None)),
        Cause.DUPLICATE: (ZR_FAILED, _same(None)),
        Cause.BLOCKLISTED: (ZR_FAILED, _same(None)),
        Cause.DND: (ZR_FAILED, _same(None)),
        Cause.OPTED_OUT: (ZR_FAILED, _same(None)),
        Cause.MESSAGE_TOO_LONG: (ZR_FAILED, _same(None)),
        # The 絶対リーチ! status API has no cancelled value (a cancelled reservation simply
        # disappears from checkreservation); a cancelled message never reached anyone.
        Cause.CANCELLED: (ZR_FAILED, _same(None)),
    }
)


def zettai_reach_view(
    cause: Cause | None, carrier: Carrier | None, *, final: bool
) -> ZettaiReachStatus:
    """The 絶対リーチ! statusId / detailedStatusId of a message.

    While the message is not final it is "配信中" whatever happened so far (a temporary
    failure being retried, or no cause yet: ``None``). A final message needs its cause.
    """
    if not final:
        return ZettaiReachStatus(ZR_SENDING, None)
    if cause is None:
        raise ValueError("a final message has a cause")
    status_id, codes = _ZR_FINAL[cause]
    code = codes[carrier] if carrier is not None else None
    if carrier is None or code is None:
        return ZettaiReachStatus(status_id, None)
    return ZettaiReachStatus(status_id, ZETTAI_REACH_MODULE_CODES[carrier] + code)


# --- MediaSMS ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaSmsStatus:
    """A MediaSMS ``status`` value: its label, and its number (数値化) where one is known.

    MediaSMS sends the label by default; numbers are an option (seeds/003: "数値で受け取る
    ことも可能"). The seed is an excerpt: its list stops after au 自 NW 障害 with "その他※
    正式版をご参照ください". The other labels are those of the published status vocabulary
    (as a public MediaSMS client library lists them, matching the seed's labels exactly), but
    their numbers are not public, so ``code`` is ``None`` for them rather than a guess.
    """

    code: int | None
    label: str

    @property
    def billable(self) -> bool:
        """Only 送信済 and リダイレクト are billed (seeds/003, MediaSMS-API の特徴)."""
        return self.label in (_SENT.label, MEDIASMS_REDIRECT.label)


# Labels as the seed spells them (including its spaces around Latin words), without the line
# breaks of its table cells ("au 自 NW 障 害" -> "au 自 NW 障害").
_SENT: Final = MediaSmsStatus(1, "送信済")  # 送信先端末まで送信された (each carrier says so)
_SENDING: Final = MediaSmsStatus(2, "送信中")  # we are submitting it to the carrier
_PROCESSING: Final = MediaSmsStatus(11, "処理中")  # the carrier is delivering it to the handset
# 失敗: MediaSMS's own overseas / Android routes failed. todoke has no such route; it is the
# generic failure shown when the carrier of a carrier-specific failure is not known.
_FAILED: Final = MediaSmsStatus(0, "失敗")
_DOCOMO_OTHER_FAILURE: Final = MediaSmsStatus(13, "ドコモその他失敗")  # 一時的な問題, 受信拒否
_DOCOMO_ABSENT: Final = MediaSmsStatus(14, "ドコモ圏外・OFF")
_DOCOMO_OWN_NW: Final = MediaSmsStatus(15, "ドコモ自 NW 障害")  # docomo 側で障害もしくは輻輳
# 「送信先端末はドコモに属していない」: not docomo's (unknown number, SMS-less SIM), refused,
# or the handset failed to process it.
_DOCOMO_OTHER_NW: Final = MediaSmsStatus(16, "ドコモ他 NW 障害")
_DOCOMO_OTHER_UNKNOWN: Final = MediaSmsStatus(
    29, "ドコモその他不明"
)  # 長期間電源などが入っていない
_DOCOMO_PARTIAL: Final = MediaSmsStatus(32, "ドコモ一部受信")  # 長文の一部のみ受信
# au 圏外・OFF: 圏外/電源OFF, 通話中, 端末不具合で応答なし, SMS アプリ不可, 端末ビジー.
_AU_ABSENT: Final = MediaSmsStatus(7, "au 圏外・OFF")
_AU_OWN_NW: Final = MediaSmsStatus(8, "au 自 NW 障害")  # au 側 NW 障害, 交換機の輻輳・故障・規制
_AU_OTHER_NW: Final = MediaSmsStatus(None, "au 他 NW 障害")
_AU_UNPAID: Final = MediaSmsStatus(None, "au 未払")
_AU_OTHER_FAILURE: Final = MediaSmsStatus(None, "au その他失敗")
_SB_ABSENT: Final = MediaSmsStatus(None, "ソフトバンク圏外・OFF")
_SB_OWN_NW: Final = MediaSmsStatus(None, "ソフトバンク自 NW 障害")
_SB_OTHER_NW: Final = MediaSmsStatus(None, "ソフトバンク他 NW 障害")
_SB_REFUSED: Final = MediaSmsStatus(None, "ソフトバンク受信拒否")
_SB_OTHER_FAILURE: Final = MediaSmsStatus(None, "ソフトバンクその他失敗")
# Rakuten has no 自 NW 障害 label in the vocabulary: its congestion shows as その他失敗.
_RK_ABSENT: Final = MediaSmsStatus(None, "Rakuten 圏外・OFF")
_RK_OTHER_NW: Final = MediaSmsStatus(None, "Rakuten 他 NW 障害")
_RK_PARTIAL: Final = MediaSmsStatus(None, "Rakuten 一部受信")
_RK_OTHER_FAILURE: Final = MediaSmsStatus(None, "Rakuten その他失敗")
_LONG_PARTIAL: Final = MediaSmsStatus(None, "長文一部受信")  # partial, no carrier label
_BEFORE_SEND: Final = MediaSmsStatus(None, "送信前")  # scheduled, not sent yet
_NOT_SENT: Final = MediaSmsStatus(None, "未送信")
_UNSENDABLE: Final = MediaSmsStatus(None, "送信不可")
_CANCELLED: Final = MediaSmsStatus(None, "キャンセル済")
_LIMIT: Final = MediaSmsStatus(None, "送信上限")
_DUPLICATE: Final = MediaSmsStatus(None, "重複不可")
_OPTED_OUT: Final = MediaSmsStatus(None, "配信停止希望")
_BLACKLIST: Final = MediaSmsStatus(None, "403")  # "Mobile numbers are in the Black list"
_INVALID: Final = MediaSmsStatus(None, "無効")
# A recipient opened a tracked link ({URL}..{URL4}); billed like 送信済. Not a delivery
# outcome, so no cause maps to it: the links feature reports it.
MEDIASMS_REDIRECT: Final = MediaSmsStatus(None, "リダイレクト")

MEDIASMS_STATUSES: Final = (
    _SENT, _SENDING, _PROCESSING, _FAILED, MEDIASMS_REDIRECT,
    _DOCOMO_OTHER_FAILURE, _DOCOMO_ABSENT, _DOCOMO_OWN_NW, _DOCOMO_OTHER_NW,
    _DOCOMO_OTHER_UNKNOWN, _DOCOMO_PARTIAL,
    _AU_ABSENT, _AU_OWN_NW, _AU_OTHER_NW, _AU_UNPAID, _AU_OTHER_FAILURE,
    _SB_ABSENT, _SB_OWN_NW, _SB_OTHER_NW, _SB_REFUSED, _SB_OTHER_FAILURE,
    _RK_ABSENT, _RK_OTHER_NW, _RK_PARTIAL, _RK_OTHER_FAILURE,
    _LONG_PARTIAL, _BEFORE_SEND, _NOT_SENT, _UNSENDABLE, _CANCELLED, _LIMIT, _DUPLICATE,
    _OPTED_OUT, _BLACKLIST, _INVALID,
)  # fmt: skip

_MediaSmsRow = Mapping[Carrier | None, MediaSmsStatus]


def _all(status: MediaSmsStatus) -> _MediaSmsRow:
    return {None: status, **dict.fromkeys(Carrier, status)}


def _per(
    au: MediaSmsStatus,
    docomo: MediaSmsStatus,
    softbank: MediaSmsStatus,
    rakuten: MediaSmsStatus,
    unknown: MediaSmsStatus = _FAILED,
) -> _MediaSmsRow:
    return {
        Carrier.AU: au,
        Carrier.DOCOMO: docomo,
        Carrier.SOFTBANK: softbank,
        Carrier.RAKUTEN: rakuten,
        None: unknown,
    }


_OTHER_FAILURE: Final = _per(
    _AU_OTHER_FAILURE, _DOCOMO_OTHER_FAILURE, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
)
_OWN_NETWORK: Final = _per(_AU_OWN_NW, _DOCOMO_OWN_NW, _SB_OWN_NW, _RK_OTHER_FAILURE)
# docomo その他不明: "長期間電源などが入っていない...端末での処理が失敗": what an expiry is.
_NO_RESULT: Final = _per(
    _AU_OTHER_FAILURE, _DOCOMO_OTHER_UNKNOWN, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
)

# Cause -> final MediaSMS status per carrier (au, docomo, softbank, rakuten[, unknown]). Each
# carrier-specific choice follows the seed's description of the label where it has one.
_MEDIASMS_FINAL: Final[Mapping[Cause, _MediaSmsRow]] = MappingProxyType(
    {
        Cause.DELIVERED: _all(_SENT),
        Cause.ABSENT_SUBSCRIBER: _per(_AU_ABSENT, _DOCOMO_ABSENT, _SB_ABSENT, _RK_ABSENT),
        # au files a busy or faulty handset under 圏外・OFF; docomo's 13 is "一時的な...通信上
        # の問題", its 16 "送信先端末での処理が失敗".
        Cause.HANDSET_BUSY: _per(
            _AU_ABSENT, _DOCOMO_OTHER_FAILURE, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
        ),
        Cause.HANDSET_ERROR: _per(
            _AU_ABSENT, _DOCOMO_OTHER_NW, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
        ),
        Cause.NETWORK_CONGESTION: _OWN_NETWORK,
        Cause.OTHER_NETWORK_FAILURE: _per(
            _AU_OTHER_NW, _DOCOMO_OTHER_NW, _SB_OTHER_NW, _RK_OTHER_NW
        ),
        Cause.CALL_BARRED: _per(
            _AU_UNPAID, _DOCOMO_OTHER_FAILURE, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
        ),
        Cause.SYSTEM_ERROR: _OWN_NETWORK,  # the carrier's SMSC failed: its own network
        Cause.THROTTLED: _all(_NOT_SENT),
        Cause.MAINTENANCE: _all(_NOT_SENT),
        # docomo answers an unknown number with 「ドコモに属していない」 (16).
        Cause.UNKNOWN_SUBSCRIBER: _per(
            _AU_OTHER_FAILURE, _DOCOMO_OTHER_NW, _SB_OTHER_FAILURE, _RK_OTHER_FAILURE
        ),
        # docomo その他失敗 names "SMSを受信拒否している"; SoftBank has its own 受信拒否.
        Cause.SMS_REFUSED: _per(
            _AU_OTHER_FAILURE, _DOCOMO_OTHER_FAILURE, _SB_REFUSED, _RK_OTHER_FAILURE
        ),
        Cause.PARTIAL_DELIVERY: _per(
            _LONG_PARTIAL, _DOCOMO_PARTIAL, _LONG_PARTIAL, _RK_PARTIAL, _LONG_PARTIAL
        ),
        Cause.DELIVERY_FAILED: _OTHER_FAILURE,
        Cause.REJECTED_BY_CARRIER: _OTHER_FAILURE,
        Cause.INVALID_SENDER: _OTHER_FAILURE,
        Cause.NO_ROUTE: _all(_UNSENDABLE),
        Cause.EXPIRED: _NO_RESULT,
        Cause.UNKNOWN: _NO_RESULT,
        Cause.FLOODING: _all(_LIMIT),
        Cause.TEXT_FLOODING: _all(_DUPLICATE),
        Cause.DUPLICATE: _all(_DUPLICATE),
        Cause.BLOCKLISTED: _all(_BLACKLIST),
        Cause.DND: _all(_BLACKLIST),
        Cause.OPTED_OUT: _all(_OPTED_OUT),
        Cause.MESSAGE_TOO_LONG: _all(_INVALID),
        Cause.CANCELLED: _all(_CANCELLED),
    }
)

_MEDIASMS_PENDING: Final[Mapping[str, MediaSmsStatus]] = MappingProxyType(
    {
        SCHEDULED.name: _BEFORE_SEND,
        ACCEPTED.name: _SENDING,
        HELD.name: _SENDING,
        ENROUTE.name: _SENDING,
        WAITING_DELIVERY.name: _PROCESSING,
    }
)


def mediasms_view(cause: Cause | None, carrier: Carrier | None, *, final: bool) -> MediaSmsStatus:
    """The MediaSMS status of a message.

    While the message is not final it is 送信中 (MediaSMS retries failures itself and reports
    every attempt, seeds/003); ``mediasms_pending_view`` tells the pending states apart.
    """
    if not final:
        return _SENDING
    if cause is None:
        raise ValueError("a final message has a cause")
    return _MEDIASMS_FINAL[cause][carrier]


def mediasms_pending_view(status: Status) -> MediaSmsStatus:
    """送信前 (scheduled), 送信中 (queued, held, being submitted) or 処理中 (at the carrier)."""
    try:
        return _MEDIASMS_PENDING[status.name]
    except KeyError:
        raise ValueError(f"{status.name} is not a pending status") from None


# --- SMPP submit_sm_resp -------------------------------------------------------------------

# command_status (SMPP 3.4, 5.1.3) -> Cause. Errors about the message's own parameters are
# permanent (REJECTED_BY_CARRIER): resending the same PDU gets the same answer. Errors about
# the session or the SMSC's state are temporary (SYSTEM_ERROR): the connector rebinds and the
# message is retried. A submit_sm_resp error means the SMSC did not take the message, so a
# retry cannot deliver it twice.
SMPP_ERROR_CAUSES: Final[Mapping[int, Cause]] = MappingProxyType(
    {
        0x01: Cause.MESSAGE_TOO_LONG,  # ESME_RINVMSGLEN
        0x02: Cause.SYSTEM_ERROR,  # ESME_RINVCMDLEN
        0x03: Cause.SYSTEM_ERROR,  # ESME_RINVCMDID
        0x04: Cause.SYSTEM_ERROR,  # ESME_RINVBNDSTS: not bound yet / any more
        0x05: Cause.SYSTEM_ERROR,  # ESME_RALYBND
        0x06: Cause.REJECTED_BY_CARRIER,  # ESME_RINVPRTFLG
        0x07: Cause.REJECTED_BY_CARRIER,  # ESME_RINVREGDLVFLG
        0x08: Cause.SYSTEM_ERROR,  # ESME_RSYSERR
        0x0A: Cause.INVALID_SENDER,  # ESME_RINVSRCADR
        0x0B: Cause.UNKNOWN_SUBSCRIBER,  # ESME_RINVDSTADR: the SMSC refuses this number
        0x0C: Cause.SYSTEM_ERROR,  # ESME_RINVMSGID
        0x0D: Cause.SYSTEM_ERROR,  # ESME_RBINDFAIL
        0x0E: Cause.SYSTEM_ERROR,  # ESME_RINVPASWD
        0x0F: Cause.SYSTEM_ERROR,  # ESME_RINVSYSID
        0x11: Cause.SYSTEM_ERROR,  # ESME_RCANCELFAIL
        0x13: Cause.SYSTEM_ERROR,  # ESME_RREPLACEFAIL
        0x14: Cause.THROTTLED,  # ESME_RMSGQFUL: the SMSC's queue is full: slow down
        0x15: Cause.REJECTED_BY_CARRIER,  # ESME_RINVSERTYP
        0x33: Cause.REJECTED_BY_CARRIER,  # ESME_RINVNUMDESTS
        0x34: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDLNAME
        0x40: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDESTFLAG
        0x42: Cause.REJECTED_BY_CARRIER,  # ESME_RINVSUBREP
        0x43: Cause.REJECTED_BY_CARRIER,  # ESME_RINVESMCLASS
        0x44: Cause.REJECTED_BY_CARRIER,  # ESME_RCNTSUBDL
        0x45: Cause.SYSTEM_ERROR,  # ESME_RSUBMITFAIL
        0x48: Cause.INVALID_SENDER,  # ESME_RINVSRCTON
        0x49: Cause.INVALID_SENDER,  # ESME_RINVSRCNPI
        0x50: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDSTTON: our encoding of the number
        0x51: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDSTNPI
        0x53: Cause.SYSTEM_ERROR,  # ESME_RINVSYSTYP
        0x54: Cause.REJECTED_BY_CARRIER,  # ESME_RINVREPFLAG
        0x55: Cause.REJECTED_BY_CARRIER,  # ESME_RINVNUMMSGS
        0x58: Cause.THROTTLED,  # ESME_RTHROTTLED: over the agreed rate: slow down
        0x61: Cause.REJECTED_BY_CARRIER,  # ESME_RINVSCHED
        0x62: Cause.REJECTED_BY_CARRIER,  # ESME_RINVEXPIRY
        0x63: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDFTMSGID
        0x64: Cause.SYSTEM_ERROR,  # ESME_RX_T_APPN: temporary application error
        0x65: Cause.REJECTED_BY_CARRIER,  # ESME_RX_P_APPN: permanent application error
        0x66: Cause.REJECTED_BY_CARRIER,  # ESME_RX_R_APPN: rejected
        0x67: Cause.SYSTEM_ERROR,  # ESME_RQUERYFAIL
        0xC0: Cause.REJECTED_BY_CARRIER,  # ESME_RINVOPTPARSTREAM
        0xC1: Cause.REJECTED_BY_CARRIER,  # ESME_ROPTPARNOTALLWD
        0xC2: Cause.REJECTED_BY_CARRIER,  # ESME_RINVPARLEN
        0xC3: Cause.REJECTED_BY_CARRIER,  # ESME_RMISSINGOPTPARAM
        0xC4: Cause.REJECTED_BY_CARRIER,  # ESME_RINVOPTPARAMVAL
        0xFE: Cause.DELIVERY_FAILED,  # ESME_RDELIVERYFAILURE (data_sm)
        0xFF: Cause.SYSTEM_ERROR,  # ESME_RUNKNOWNERR
        0x104: Cause.REJECTED_BY_CARRIER,  # ESME_RINVDCS (SMPP 5.0): data_coding refused
    }
)


def classify_smpp_error(
    command_status: int, *, vendor_errors: Mapping[int, Cause] | None = None
) -> Cause:
    """The cause of a failed submit_sm (a ``submit_sm_resp`` with a non-zero command_status).

    THROTTLED means "slow down", not "failed": the connector backs off and requeues. Codes
    no table knows (vendor codes 0x400-0x4FF unless a connector passes ``vendor_errors`` for
    its SMSC) are temporary SYSTEM_ERROR: retried within the validity period, never lost.
    """
    if command_status == 0:
        raise ValueError("command_status 0 (ESME_ROK) is not an error")
    if vendor_errors is not None and command_status in vendor_errors:
        return vendor_errors[command_status]
    return SMPP_ERROR_CAUSES.get(command_status, Cause.SYSTEM_ERROR)


# --- delivery receipts ---------------------------------------------------------------------

# The carrier simulator's receipts, shared with the classifier so that both sides agree. The
# err: values follow the GSM MAP error codes where one exists (the same numbers as the NTT
# handset error ids in seeds/004: 1 unknown subscriber, 6 absent subscriber SM, 13 call barred,
# 31 busy for MT SMS, 32 SM delivery failure, 34 system failure, 51 resource limitation =
# 輻輳); todoke-only causes use 9xx. Real carriers put their own values in err:, so each
# connector passes its own table (``receipt_error_map`` / ``carrier_error_maps``).
SIM_ERR: Final[Mapping[Cause, str]] = MappingProxyType(
    {
        Cause.DELIVERED: "000",
        Cause.UNKNOWN_SUBSCRIBER: "001",
        Cause.ABSENT_SUBSCRIBER: "006",
        Cause.CALL_BARRED: "013",
        Cause.HANDSET_BUSY: "031",
        Cause.HANDSET_ERROR: "032",
        Cause.SYSTEM_ERROR: "034",
        Cause.NETWORK_CONGESTION: "051",
        Cause.OTHER_NETWORK_FAILURE: "901",
        Cause.SMS_REFUSED: "902",
        Cause.PARTIAL_DELIVERY: "903",
        Cause.REJECTED_BY_CARRIER: "904",
        Cause.DELIVERY_FAILED: "905",
        Cause.EXPIRED: "906",
        Cause.UNKNOWN: "999",
    }
)
SIM_RECEIPT_ERRORS: Final[Mapping[str, Cause]] = MappingProxyType(
    {err: cause for cause, err in SIM_ERR.items()}
)
# The stat: the simulator sends with each cause.
SIM_STAT: Final[Mapping[Cause, str]] = MappingProxyType(
    {
        cause: {
            Cause.DELIVERED: "DELIVRD",
            Cause.EXPIRED: "EXPIRED",
            Cause.UNKNOWN: "UNKNOWN",
            Cause.REJECTED_BY_CARRIER: "REJECTD",
        }.get(cause, "UNDELIV")
        for cause in SIM_ERR
    }
)

# Receipt stat: values (SMPP 3.4, Appendix B), the full state names some SMSCs write instead,
# and message_state TLV values (5.3.2.35) for receipts that carry only the TLV.
_STAT_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ENROUTE": "ENROUTE",
        "DELIVRD": "DELIVRD",
        "EXPIRED": "EXPIRED",
        "DELETED": "DELETED",
        "UNDELIV": "UNDELIV",
        "ACCEPTD": "ACCEPTD",
        "UNKNOWN": "UNKNOWN",
        "REJECTD": "REJECTD",
        "DELIVERED": "DELIVRD",
        "UNDELIVERABLE": "UNDELIV",
        "ACCEPTED": "ACCEPTD",
        "REJECTED": "REJECTD",
        "1": "ENROUTE",
        "2": "DELIVRD",
        "3": "EXPIRED",
        "4": "DELETED",
        "5": "UNDELIV",
        "6": "ACCEPTD",
        "7": "UNKNOWN",
        "8": "REJECTD",
    }
)


def _err_key(err: str | None) -> str | None:
    if err is None or not err.strip():
        return None
    key = err.strip()
    return key.zfill(3) if key.isdigit() else key.upper()


def classify_receipt(
    stat: str,
    err: str | None,
    carrier: Carrier | None = None,
    *,
    receipt_error_map: Mapping[str, Cause] = SIM_RECEIPT_ERRORS,
    carrier_error_maps: Mapping[Carrier, Mapping[str, Cause]] | None = None,
) -> Cause | None:
    """The cause a delivery receipt reports, or ``None`` when it reports no outcome yet.

    ``None`` is an intermediate receipt (ENROUTE, ACCEPTD: the SMSC has it and keeps trying)
    or a stat: nobody defines: the message keeps waiting, and the no-receipt deadline ends it
    as UNKNOWN if nothing better comes. The err: code is read with the table of the receipt's
    carrier when ``carrier_error_maps`` has one, else with ``receipt_error_map`` (by default
    the simulator's). An UNDELIV / REJECTD whose err: says nothing known (or 000) is still a
    failure: DELIVERY_FAILED / REJECTED_BY_CARRIER.
    """
    state = _STAT_ALIASES.get(stat.strip().upper())
    if state is None or state in ("ENROUTE", "ACCEPTD"):
        return None
    if state == "DELIVRD":
        return Cause.DELIVERED
    if state == "EXPIRED":
        return Cause.EXPIRED
    if state == "UNKNOWN":
        return Cause.UNKNOWN
    fallback = Cause.DELIVERY_FAILED if state == "UNDELIV" else Cause.REJECTED_BY_CARRIER
    if state == "DELETED":  # deleted at the SMSC: todoke never sends cancel_sm
        return fallback
    table = receipt_error_map
    if carrier is not None and carrier_error_maps is not None and carrier in carrier_error_maps:
        table = carrier_error_maps[carrier]
    key = _err_key(err)
    cause = table.get(key) if key is not None else None
    if cause is None or cause is Cause.DELIVERED:
        return fallback
    return cause
