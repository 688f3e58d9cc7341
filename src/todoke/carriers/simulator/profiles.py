"""How each simulated carrier behaves: one ``CarrierProfile`` per ``Carrier``.

Where the numbers come from
---------------------------
The seeds describe *which* outcomes each carrier reports, not how often; no provider publishes
per-carrier rates or latencies. So each profile produces only causes its carrier's status list
names (seeds/003, MediaSMS status 一覧; seeds/002, 詳細内部コード), and the rates are
assumptions of the right order of magnitude (about 97 % delivered on the first attempt, 圏外 the
most common failure), chosen so that every failure path shows up in a run of a few thousand
messages. Behaviours the seeds *do* state are reproduced exactly:

* au: "KDDI は送信失敗となった場合に KDDI からの失敗ステータスの通知に 20 分程度時間を要する場合
  があります" (seeds/002, CommonMT 送信): au failure receipts come 20 minutes after the submit.
* au 圏外・OFF covers 通話中, 端末ビジー, 端末不具合で応答なし and SMS アプリ不可 (seeds/003), so
  au reports those as ABSENT_SUBSCRIBER and never as HANDSET_BUSY / HANDSET_ERROR; au 未払
  (seeds/003 vocabulary) is CALL_BARRED.
* docomo: ドコモ一部受信, "長文SMSを送信時、送信先端末にてSMS本文のうち一部のみ受信" (seeds/003):
  multi-part messages are sometimes only partly received. Rakuten has its own 一部受信 label in
  the same vocabulary; au and SoftBank have none (only the carrier-less 長文一部受信).
* docomo 他 NW 障害 "送信先端末はドコモに属していない" (格安 SIM without SMS, seeds/003) is the
  docomo answer for an unknown subscriber; SoftBank has its own 受信拒否 label (SMS_REFUSED).

The SMPP dialect of each profile (id format, receipt TLVs, 10- or 12-digit receipt dates) is
spread across the carriers on purpose, so that a platform run against the simulator meets every
correlation pitfall a real deployment meets (``carriers/smpp/receipt.py``): nothing public says
which carrier's SMSC does what.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from todoke.domain.carrier import Carrier
from todoke.domain.status import Cause

IdStyle = Literal["decimal", "hex", "hex_resp_decimal_receipt"]

# Causes a receipt can report. THROTTLED, MAINTENANCE, SYSTEM_ERROR and the platform's own
# guards are answers to submit_sm or decisions of todoke, never receipt outcomes.
RECEIPT_CAUSES: Final = frozenset(
    {
        Cause.DELIVERED,
        Cause.ABSENT_SUBSCRIBER,
        Cause.HANDSET_BUSY,
        Cause.HANDSET_ERROR,
        Cause.NETWORK_CONGESTION,
        Cause.OTHER_NETWORK_FAILURE,
        Cause.CALL_BARRED,
        Cause.UNKNOWN_SUBSCRIBER,
        Cause.SMS_REFUSED,
        Cause.PARTIAL_DELIVERY,
        Cause.DELIVERY_FAILED,
        Cause.REJECTED_BY_CARRIER,
        Cause.EXPIRED,
        Cause.UNKNOWN,
    }
)


@dataclass(frozen=True, slots=True)
class CarrierProfile:
    """The behaviour of one simulated carrier SMSC.

    ``latency_ms`` is the range of the delay between submit_sm and its receipt;
    ``failure_receipt_delay_ms`` (au) replaces it for failure receipts. Both are multiplied by
    the simulator's ``time_factor``. ``outcome_rates`` gives the probability of each failure
    cause (and optionally DELIVERED); what they leave to 1.0 is DELIVERED.
    ``partial_delivery_rate`` is the probability that a delivered *multi-part* message is only
    partly received. ``id_style`` is how message ids are written: ``decimal`` and ``hex`` the
    same in submit_sm_resp and receipts, ``hex_resp_decimal_receipt`` hex in submit_sm_resp and
    zero-padded decimal in the receipt text (a classic SMSC pitfall). ``receipt_tlvs`` adds
    receipted_message_id, message_state and network_error_code to receipts.
    ``receipt_date_digits`` is 10 (YYMMDDhhmm, Appendix B) or 12 (with seconds).
    ``throttle_tps`` is the submit_sm rate per bind above which the SMSC answers
    ESME_RTHROTTLED (``None``: no limit).
    """

    carrier: Carrier
    latency_ms: tuple[int, int]
    outcome_rates: Mapping[Cause, float]
    failure_receipt_delay_ms: int | None = None
    partial_delivery_rate: float = 0.0
    id_style: IdStyle = "decimal"
    receipt_tlvs: bool = True
    throttle_tps: float | None = None
    receipt_date_digits: Literal[10, 12] = 10

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not 0 <= low <= high:
            raise ValueError(f"{self.carrier}: latency_ms must be 0 <= low <= high")
        bad = set(self.outcome_rates) - RECEIPT_CAUSES
        if bad:
            raise ValueError(f"{self.carrier}: {sorted(bad)} are not receipt outcomes")
        rates = list(self.outcome_rates.values())
        if any(r < 0 or not math.isfinite(r) for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError(f"{self.carrier}: outcome_rates must be >= 0 and sum to <= 1")
        if not 0.0 <= self.partial_delivery_rate <= 1.0:
            raise ValueError(f"{self.carrier}: partial_delivery_rate must be within 0..1")
        if self.failure_receipt_delay_ms is not None and self.failure_receipt_delay_ms < 0:
            raise ValueError(f"{self.carrier}: failure_receipt_delay_ms must be >= 0")
        if self.throttle_tps is not None and not self.throttle_tps > 0:
            raise ValueError(f"{self.carrier}: throttle_tps must be > 0")
        if self.receipt_date_digits not in (10, 12):
            raise ValueError(f"{self.carrier}: receipt_date_digits must be 10 or 12")


AU_FAILURE_RECEIPT_DELAY_MS: Final = 20 * 60 * 1000  # seeds/002: "20 分程度"

# Throttling is off by default in every profile: per-bind limits are contract terms that no
# seed states (002's 600 TPS is the provider's HTTP API for its whole platform), and the
# simulator must never be what limits a benchmark. Drills and tests set ``throttle_tps`` with
# ``dataclasses.replace``.
DEFAULT_PROFILES: Final[Mapping[Carrier, CarrierProfile]] = MappingProxyType(
    {
        Carrier.DOCOMO: CarrierProfile(
            carrier=Carrier.DOCOMO,
            latency_ms=(500, 3000),  # assumption: receipts within a few seconds
            outcome_rates=MappingProxyType(
                {
                    Cause.ABSENT_SUBSCRIBER: 0.015,  # ドコモ圏外・OFF
                    Cause.NETWORK_CONGESTION: 0.005,  # ドコモ自 NW 障害 (輻輳)
                    Cause.UNKNOWN_SUBSCRIBER: 0.005,  # ドコモ他 NW 障害: 属していない
                    Cause.SMS_REFUSED: 0.003,  # ドコモその他失敗: SMSを受信拒否
                    Cause.HANDSET_ERROR: 0.002,  # ドコモ他 NW 障害: 端末での処理が失敗
                }
            ),
            partial_delivery_rate=0.01,  # ドコモ一部受信 (seeds/003); the rate is assumed
            id_style="decimal",
            receipt_tlvs=True,
        ),
        Carrier.AU: CarrierProfile(
            carrier=Carrier.AU,
            latency_ms=(800, 4000),  # assumption
            outcome_rates=MappingProxyType(
                {
                    # au 圏外・OFF also covers 通話中, busy and faulty handsets (seeds/003).
                    Cause.ABSENT_SUBSCRIBER: 0.02,
                    Cause.NETWORK_CONGESTION: 0.004,  # au 自 NW 障害: 交換機の輻輳・規制
                    Cause.UNKNOWN_SUBSCRIBER: 0.004,  # 欠番 (detailedStatusId x1732, seeds/002)
                    Cause.SMS_REFUSED: 0.003,  # 移動機側エラー (SMS 拒否設定等) x1834
                    Cause.CALL_BARRED: 0.001,  # au 未払
                }
            ),
            failure_receipt_delay_ms=AU_FAILURE_RECEIPT_DELAY_MS,
            id_style="hex",
            receipt_tlvs=True,
        ),
        Carrier.SOFTBANK: CarrierProfile(
            carrier=Carrier.SOFTBANK,
            latency_ms=(500, 3500),  # assumption
            outcome_rates=MappingProxyType(
                {
                    Cause.ABSENT_SUBSCRIBER: 0.015,  # ソフトバンク圏外・OFF
                    Cause.NETWORK_CONGESTION: 0.005,  # ソフトバンク自 NW 障害
                    Cause.UNKNOWN_SUBSCRIBER: 0.005,  # ソフトバンク他 NW 障害 / 欠番
                    Cause.SMS_REFUSED: 0.004,  # ソフトバンク受信拒否: a label of its own
                    Cause.HANDSET_BUSY: 0.001,  # 輻輳 (送信先端末), code 821
                }
            ),
            # The hardest dialect: ids change base between resp and receipt, and only the
            # receipt text carries them, with seconds in the dates.
            id_style="hex_resp_decimal_receipt",
            receipt_tlvs=False,
            receipt_date_digits=12,
        ),
        Carrier.RAKUTEN: CarrierProfile(
            carrier=Carrier.RAKUTEN,
            latency_ms=(500, 2500),  # assumption
            outcome_rates=MappingProxyType(
                {
                    Cause.ABSENT_SUBSCRIBER: 0.015,  # Rakuten 圏外・OFF
                    Cause.OTHER_NETWORK_FAILURE: 0.005,  # Rakuten 他 NW 障害
                    Cause.UNKNOWN_SUBSCRIBER: 0.005,
                    Cause.SMS_REFUSED: 0.003,
                    Cause.DELIVERY_FAILED: 0.002,  # Rakuten その他失敗
                }
            ),
            partial_delivery_rate=0.005,  # Rakuten 一部受信 (MediaSMS vocabulary); assumed
            id_style="decimal",
            receipt_tlvs=True,
        ),
    }
)
