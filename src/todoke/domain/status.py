"""The one status model: NTT CPaaS statuses and errors, todoke's causes, and the state machine.

Every message carries one *status* (where it is) and, once something happened to it, one
*cause* (why). Both come from here, and everything else (the ``/v1`` API, webhooks, the
絶対リーチ! and MediaSMS façades in ``status_maps``) is derived from them.

Statuses and errors are those of NTT CPaaS (seeds/004, 応答ステータスとエラーコード): a status
object ``{groupId, groupName, id, name, description}`` in five groups (PENDING 1,
UNDELIVERABLE 2, DELIVERED 3, EXPIRED 4, REJECTED 5), and an error object with a ``permanent``
flag in four groups (OK 0, HANDSET_ERRORS 1, USER_ERRORS 2, OPERATOR_ERRORS 3). Ids, names,
``permanent`` flags and descriptions are copied from the seed's general (SMS) tables, with two
mechanical clean-ups of the scraped page: the link marker " (opens in a new tab)" is dropped,
and error ids written as years ("2050年") are read as numbers. The seed gives the error
group names only in Japanese (わかりました / 受話器のエラー / ユーザーエラー / オペレーターの
エラー) and "OK" in its example; the English ``groupName`` values are those the NTT CPaaS
(Infobip) API sends.

Left out on purpose: voice-call outcomes listed in the general status table (96 NO_ANSWER,
97 BUSY, 99 REJECTED), 87 SIGNALS_BLOCKED (a fraud-scoring product todoke does not have; the
seed lists it under two groups with one id), and the voice, MMS, e-mail, push and chat tables.

``Cause`` is todoke's own taxonomy of what happened; each cause names the NTT status a message
ends in and the NTT error reported with it, and its ``permanent`` flag (the error's) is the
retry policy. The state machine says which status changes are allowed; final statuses are final.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class StatusGroup:
    """One of the five NTT status groups."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One of the four NTT error groups."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Status:
    """An NTT CPaaS status object: where a message is."""

    group_id: int
    group_name: str
    id: int
    name: str
    description: str

    @property
    def final(self) -> bool:
        """Every group but PENDING is final (see ``is_final``)."""
        return self.group_id != PENDING_GROUP.id

    @property
    def extension(self) -> bool:
        """A todoke state that NTT CPaaS does not have (ids from ``EXTENSION_ID_BASE``)."""
        return self.id >= EXTENSION_ID_BASE

    def to_dict(self) -> dict[str, int | str]:
        """The status object as NTT CPaaS spells it (camelCase keys)."""
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An NTT CPaaS error object; ``permanent`` says whether resending unchanged can succeed."""

    group_id: int
    group_name: str
    id: int
    name: str
    description: str
    permanent: bool

    def to_dict(self) -> dict[str, int | str | bool]:
        """The error object as NTT CPaaS spells it (camelCase keys)."""
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "permanent": self.permanent,
        }


PENDING_GROUP: Final = StatusGroup(1, "PENDING")
UNDELIVERABLE_GROUP: Final = StatusGroup(2, "UNDELIVERABLE")
DELIVERED_GROUP: Final = StatusGroup(3, "DELIVERED")
EXPIRED_GROUP: Final = StatusGroup(4, "EXPIRED")
REJECTED_GROUP: Final = StatusGroup(5, "REJECTED")
STATUS_GROUPS: Final[Mapping[int, StatusGroup]] = MappingProxyType(
    {
        g.id: g
        for g in (
            PENDING_GROUP,
            UNDELIVERABLE_GROUP,
            DELIVERED_GROUP,
            EXPIRED_GROUP,
            REJECTED_GROUP,
        )
    }
)
ERROR_GROUPS: Final[Mapping[int, ErrorGroup]] = MappingProxyType(
    {
        g.id: g
        for g in (
            ErrorGroup(0, "OK"),
            ErrorGroup(1, "HANDSET_ERRORS"),
            ErrorGroup(2, "USER_ERRORS"),
            ErrorGroup(3, "OPERATOR_ERRORS"),
        )
    }
)

# todoke's own statuses are numbered from here, far above every id the seed uses (<= 200), so
# that an NTT-aware client can tell them apart and a future NTT id cannot collide.
EXTENSION_ID_BASE: Final = 1000


def _s(group_id: int, status_id: int, name: str, description: str) -> Status:
    return Status(group_id, STATUS_GROUPS[group_id].name, status_id, name, description)


def _e(group_id: int, error_id: int, name: str, permanent: bool, description: str) -> ErrorInfo:
    return ErrorInfo(group_id, ERROR_GROUPS[group_id].name, error_id, name, description, permanent)


# The catalogue is a table: kept in its own layout (one entry per row, description below).
# fmt: off
_STATUS_LIST: Final = (
    _s(1, 3, "PENDING_WAITING_DELIVERY",
        "メッセージはプラットフォームからオペレーター側に正常に送信されましたが、"
        "オペレーター側からの配信レポートを待っています。 配信自体が影響を受ける場合、"
        "原因は宛先の可用性、ネットワークの問題、輻輳、または追加のセットアップ要件である可能性が"
        "あります。"),
    _s(1, 7, "PENDING_ENROUTE",
        "メッセージはプラットフォームによって正常に受け入れられて処理され、"
        "特に携帯電話会社が関与する次のインスタンスに転送されました。"),
    _s(1, 26, "PENDING_ACCEPTED",
        "メッセージは、システムによって受け入れられ、オペレーターからのさらなる処理または送達確認"
        "を待っている後、保留状態になります。"),
    _s(2, 4, "UNDELIVERABLE_REJECTED_OPERATOR",
        "メッセージはオペレーターによって拒否され、おそらくネットワークの不具合またはオペレーター"
        "によって課された制限が原因で配信不能と見なされました。 解決手順には、"
        "さらなる説明や解決策のために サポート に連絡することが含まれます。"),
    _s(2, 9, "UNDELIVERABLE_NOT_DELIVERED",
        "メッセージは意図した受信者に配信されず、通常は無効な宛先番号や到達不能な宛先番号などの要"
        "因により、配信不能と見なされました。 解決手順には、受信者の番号の正確性の確認が含まれます"
        "。問題が解決しない場合は、サポート にお問い合わせください。"),
    _s(2, 31, "UNDELIVERABLE_NOT_SENT",
        "メッセージは送信されていません。"),
    _s(2, 98, "CANCELLED",
        "通話は、エンド ユーザーに正常にルーティングされる前に、発信側でキャンセルされました。"),
    _s(3, 2, "DELIVERED_TO_OPERATOR",
        "メッセージはオペレーターのシステムに正常に配信され、さらに処理されるか、"
        "受信者の受話器に配信されるのを待っています。"),
    _s(3, 5, "DELIVERED_TO_HANDSET",
        "メッセージは受信者の受話器に正常に配信されました。"),
    _s(4, 15, "EXPIRED_EXPIRED",
        "メッセージが受信され、オペレーターに送信されました。ただし、有効期間が満了するか、"
        "オペレーターがEXPIRED ステータスを返すまで保留されています。解決手順には、"
        "さらなる説明や解決策を求めて サポート に連絡することが含まれます。"),
    _s(4, 29, "EXPIRED_DLR_UNKNOWN",
        "メッセージの有効期限が切れており、配信ステータスが不明で、配信レポートまたは確認が受信さ"
        "れなかったか、判別できなかったことを示します。 解決手順には、サポート "
        "に連絡して不明な配送ステータスを解決することが含まれます。"),
    _s(5, 6, "REJECTED_NETWORK",
        "メッセージを受信しましたが、ネットワークが圏外であるか、アカウントに設定されていません。 "
        "担当のアカウント マネージャーが、カバレッジ ステータスについてお知らせしたり、"
        "問題のネットワークを設定したりできます。それ以外の場合は、サポート "
        "にお問い合わせください。"),
    _s(5, 8, "REJECTED_PREFIX_MISSING",
        "メッセージは受信されましたが、番号のプレフィックスまたは長さが正しくないため、"
        "番号が認識されないため拒否されました。この情報はネットワークごとに異なり、"
        "定期的に更新されます。"),
    _s(5, 10, "REJECTED_DND",
        "ユーザーが DND(サイレント)サービスに登録しているため、メッセージが受信され、拒否され、"
        "その番号へのサービス トラフィックが無効になっています。"),
    _s(5, 11, "REJECTED_SOURCE",
        "アカウントは登録済みの送信者 ID のみを受け入れるように設定されており、"
        "リクエストで定義された送信者 ID がアカウントに登録されていません。"),
    _s(5, 12, "REJECTED_NOT_ENOUGH_CREDITS",
        "これ以上の送信にはアカウントのクレジットが不足しています。 アカウントにチャージしてくださ"
        "い。チャージまたはオンライン アカウント チャージ サービスの申し込みに関するサポートについ"
        "ては、アカウント マネージャーまたは サポート にお問い合わせください。"),
    _s(5, 13, "REJECTED_SENDER",
        "送信者 ID は、Web インターフェース経由でアカウントのブロックリストに登録されています。 "
        "アカウントのブロックリストを削除するか、サポート に連絡してさらにサポートを受けてください"
        "。"),
    _s(5, 14, "REJECTED_DESTINATION_BLOCKLISTED",
        "送信先アドレスは、オペレータのリクエストにより、またはウェブ インターフェース経由でお客様"
        "のアカウントにブロックリストに登録されています。 ウェブ インターフェース経由でお客様のア"
        "カウントのブロックリストを削除するか、詳細については サポート にお問い合わせください。"),
    _s(5, 17, "REJECTED_PREPAID_PACKAGE_EXPIRED",
        "アカウントクレジットは有効期間を過ぎています。 サブアカウントにクレジットを補充して、"
        "有効期間を延長します。"),
    _s(5, 18, "REJECTED_DESTINATION_NOT_REGISTERED",
        "アカウントは、テスト目的で 1 つの番号にのみ送信するように設定されています。 アカウント "
        "マネージャーに問い合わせるか、サポートに連絡して制限を解除してください。"),
    _s(5, 19, "REJECTED_ROUTE_NOT_AVAILABLE",
        "メッセージはシステムで受信されました。ただし、アカウントはメッセージを送信するように設定"
        "されていません。つまり、アカウントにはこれ以上送信できるルートがありません。 アカウント "
        "マネージャーがお客様の希望に応じてアカウントを設定できます。それ以外の場合は、サポート "
        "に連絡して詳細を確認してください。"),
    _s(5, 20, "REJECTED_FLOODING_FILTER",
        "フラッディング防止メカニズムにより、メッセージは拒否されました。デフォルトでは、1 "
        "つの番号が 1 時間あたり受信できるのは、異なるメッセージ 20 件と同一メッセージ 6 "
        "件のみです。 要件がある場合は、アカウント マネージャーまたは サポート "
        "にリクエストすることで、アカウントごとに制限を拡張できます。"),
    _s(5, 21, "REJECTED_SYSTEM_ERROR",
        "予期しないシステム エラーのため、リクエストは拒否されました。 送信を再試行するか、"
        "詳細については サポート にお問い合わせください。"),
    _s(5, 23, "REJECTED_DUPLICATE_MESSAGE_ID",
        "送信リクエストで指定されたメッセージ ID が重複しているため、リクエストは拒否されました。"
        "メッセージ ID は一意の値である必要があります。 詳細については、NTT CPaaS API "
        "ドキュメントの SMS セクションを参照してください。"),
    _s(5, 24, "REJECTED_INVALID_UDH",
        "メッセージが受信されましたが、無効な ESM クラス パラメータまたは esmclass:64 (UDH) "
        "の使用時に不正確な文字数が原因で、メッセージが正しくフォーマットされていないことがシステ"
        "ムによって検出されました。 詳細については、ユーザー データ ヘッダー および 連結 SMS "
        "を参照するか、サポート に問い合わせて詳細を確認してください。"),
    _s(5, 25, "REJECTED_MESSAGE_TOO_LONG",
        "メッセージは受信されましたが、メッセージの合計の長さが 25 を超えるか、メッセージ "
        "テキストがシステムの制限に従って 4000 バイトを超えています。"),
    _s(5, 51, "MISSING_TO",
        "要求は受信されましたが、to パラメーターが設定されていないか、空です (つまり、"
        "メッセージの送信先として有効な受信者が必要です)。"),
    _s(5, 52, "REJECTED_DESTINATION",
        "要求は受信されましたが、宛先が無効です - 番号の接頭辞は、どの携帯電話会社も有効な番号の接"
        "頭辞と一致しないため、正しくありません。番号の有効性を検証する際には、"
        "番号の長さも考慮されます。"),
    _s(5, 100, "UNDELIVERABLE_REJECTED_PLATFORM",
        "要求が無効であるか、形式が正しくないか、またはサービスが一時的に利用できないため、"
        "要求が拒否されました。要求パラメーターと構造を確認し、サービスにアクセスできるようになっ"
        "たら再試行してください。"),
    # todoke extensions (PENDING group). The seed has no status for "waiting for the scheduled
    # time" (PENDING_ACCEPTED means waiting for processing now) nor for "held while the
    # carrier is in a maintenance window" (seeds/000: messages are held and sent afterwards),
    # and both must be told apart from a queued message: a customer sees why nothing happens
    # yet, and cancelling is decided on them.
    _s(1, EXTENSION_ID_BASE + 1, "PENDING_SCHEDULED",
        "予約送信のメッセージです。指定された送信日時まで保留され、その日時に送信処理を開始します。"),
    _s(1, EXTENSION_ID_BASE + 2, "PENDING_HELD_MAINTENANCE",
        "送信先キャリアのメンテナンス時間帯のため保留されています。メンテナンス終了後に送信されま"
        "す。"),
)

_ERROR_LIST: Final = (
    _e(0, 0, "NO_ERROR", False,
        "エラーの説明は提供されません。ほとんどの場合、これは配信が成功した場合、"
        "またはオペレーターがエラー コードを返さなかった場合に返されます。"),
    _e(1, 1, "EC_UNKNOWN_SUBSCRIBER", True,
        "通常、これはメッセージの加入者または受信者が不明であるか、ネットワークによって認識されて"
        "いないことを示します。 番号をダイヤルして加入者の詳細を確認してください。正しい場合は、"
        "サポート にお問い合わせください。"),
    _e(1, 6, "EC_ABSENT_SUBSCRIBER_SM", False,
        "宛先番号が到達不能、電源オフ、またはサービスエリアが制限されていることを示します。 "
        "加入者のデバイスの電源がオンになっており、ネットワーク接続が安定していることを確認してく"
        "ださい。"),
    _e(1, 13, "EC_CALL_BARRED", False,
        "オペレーターは、通常は未払いの請求書を理由に加入者のサービスを停止しました。 "
        "加入者のアカウント ステータスをチェックして十分な残高があることを確認するか、"
        "ネットワーク オペレーターに連絡して解決してください。"),
    _e(1, 27, "EC_ABSENT_SUBSCRIBER", False,
        "宛先番号が到達不能、電源オフ、またはサービスエリアが制限されていることを示します。 "
        "加入者のデバイスの電源がオンになっており、ネットワーク接続が安定していることを確認してく"
        "ださい。"),
    _e(1, 31, "EC_SUBSCRIBER_BUSY_FOR_MT_SMS", False,
        "加入者が MT SMS でビジーであることを示します。"),
    _e(1, 32, "EC_SM_DELIVERY_FAILURE", False,
        "利用不可、メモリ容量の問題、または一時的な通信の問題により、受信者への SMS "
        "の配信に失敗したことを示します。 詳細を確認するか、サポート にお問い合わせください。"),
    _e(1, 34, "EC_SYSTEM_FAILURE", False,
        "システム障害を示します。"),
    _e(1, 255, "EC_UNKNOWN_ERROR", False,
        "不明なエラーを示します。"),
    _e(1, 256, "EC_SM_DF_MEMORYCAPACITYEXCEEDED", False,
        "受信者の携帯電話のメッセージ受信トレイがいっぱいで、新しいメッセージができないことを示し"
        "ます。 メッセージを削除してスペースを空けます。"),
    _e(1, 573, "EC_SC_BLOCKED_BY_END_USER", True,
        "エンド ユーザーは、ショート コードから送信されたメッセージをブロックするように携帯電話会"
        "社に依頼しました。エンド ユーザーが再度オプトインしない限り、追加のメッセージを送信しない"
        "でください。"),
    _e(1, 1031, "EC_OR_REMOTENODENOTREACHABLE", False,
        "ネットワーク オペレータ プロトコル エラーのため、モバイル加入者にアクセスできませんでした"
        "。"),
    _e(1, 1158, "EC_NNR_NETWORKCONGESTION", False,
        "ネットワーク オペレータ プロトコル エラーのため、モバイル加入者にアクセスできませんでした"
        "。"),
    _e(1, 1539, "EC_PA_MAINTENANCEACTIVITY", False,
        "その他のネットワーク プロトコル エラーのため、メッセージは中止されました。"),
    _e(2, 355, "EC_MSG_TEXT_TOO_LONG", True,
        "メッセージ・テキストが長すぎます。"),
    _e(2, 368, "EC_INVALID_SOURCE_ADDRESS", True,
        "送信元アドレスの値が無効です。 モバイル オペレータは、無効な MT 送信元アドレス "
        "エラーによりメッセージを拒否しました。アカウント マネージャに連絡するか、サポート "
        "に連絡して、エンド ユーザーのモバイル オペレータが MT 送信元アドレスをサポートしているか"
        "どうかを確認してください。"),
    _e(2, 541, "EC_LIMIT_REACHED", False,
        "配送業者の送信制限に達しました。 メッセージング キャンペーンの TPS (トランザクション/秒) "
        "制限を超えたため、AT&T によってメッセージがブロックされました。"),
    _e(2, 603, "EC_CONTENT_BLOCKED", True,
        "ユーザーのオプトアウト(MO:停止)によってブロックされたコンテンツ。 このコードは、"
        "北米のSMS対応のフリーダイヤル番号またはSMS対応の固定電話番号から発信されたMTの配信確認で"
        "返される場合があります。エンド ユーザーがプログラムにオプトインし直すと、エンド "
        "ユーザーへのメッセージングを再開できます。"),
    _e(2, 2052, "EC_BLACKLISTED_DESTINATIONADDRESS", True,
        "宛先番号は、オペレータのリクエストにより、または Web インターフェース経由でお客様のアカウ"
        "ントにブロックリストに登録されています。 Web インターフェース にアクセスしてアカウントの"
        "ブロックリストを削除するか、詳細については サポート にお問い合わせください。"),
    _e(2, 4100, "EC_MESSAGE_CANCELED", True,
        "要求は受信されましたが、有効期間内に次のインスタンスに送信されず、"
        "適切なエラー・コードで有効期限が切れたか、同じエラー・コードがオペレーターから取り消され"
        "ました。"),
    _e(2, 4101, "EC_VALIDITY_EXPIRED", True,
        "メッセージは次のインスタンスに送信され、メッセージ有効期間内に送達されなかったため、"
        "該当するエラー・コードで有効期限が切れたか、エラー・コードがオペレーターから取り消されま"
        "した。"),
    _e(2, 4103, "EC_DESTINATION_FLOODING", True,
        "フラッディング フィルター ルールに従って、1 時間以内に同じ宛先に同じ内容のメッセージを 6 "
        "件送信することも、1 時間以内に同じ宛先に異なる内容のメッセージを最大 20 "
        "件送信することもできます。 トラフィックがフィルターをバイパスする正当な理由がある場合は、"
        "アカウント マネージャーがこれらの制限の調整をお手伝いするか、サポート "
        "にお問い合わせください。"),
    _e(2, 4104, "EC_DESTINATION_TXT_FLOODING", True,
        "REJECTED_FLOODING_FILTER ステータスに関連しています。1 つの番号に同じメッセージが多数送信"
        "されたため、メッセージは拒否されます。"),
    _e(3, 592, "EC_ACCOUNT_NOT_PROVISIONED_FOR_SMS", True,
        "エンド ユーザーの番号が、アカウントがプロビジョニングされていないネットワークに属している"
        "か、特定のネットワークのカバレッジを提供していません。"),
    _e(3, 632, "EC_SMS_REJECTED_BY_MOBILE_OPERATOR", True,
        "SMS、携帯電話会社によって、試行された宛先アドレスに対して拒否されました。"),
    _e(3, 810, "EC_FAILED_MESSAGE_DELIVERY", True,
        "メッセージ配信に失敗しました。"),
    _e(3, 815, "EC_MESSAGE_SUBMITTED_NOT_ACKED", True,
        "携帯電話会社に送信されたが、携帯電話会社によって確認されていないメッセージ。"),
    _e(3, 2050, "EC_DEST_ADDRESS_BLACKLISTED", True,
        "番号は、オペレーターから提供されたオペレーターのDND(サイレント)データベースでブロックリス"
        "トに登録されているか、オペレーターが同じエラーコードを元に戻しました。 "
        "このエラーを解決するには、通常、宛先アドレスのブロックリストステータスを確認し、"
        "ブロックリストに登録する正当な理由を確認し、適切なアクションを実行して削除する必要があり"
        "ます。"),
    _e(3, 5492, "EC_DUPLICATE_MESSAGE", True,
        "この宛先アドレスには、同じメッセージがすでに送信されています。"),
)
# fmt: on

STATUSES: Final[Mapping[str, Status]] = MappingProxyType({s.name: s for s in _STATUS_LIST})
ERRORS: Final[Mapping[str, ErrorInfo]] = MappingProxyType({e.name: e for e in _ERROR_LIST})
STATUSES_BY_ID: Final[Mapping[int, Status]] = MappingProxyType({s.id: s for s in _STATUS_LIST})
ERRORS_BY_ID: Final[Mapping[int, ErrorInfo]] = MappingProxyType({e.id: e for e in _ERROR_LIST})

# The pending states a message moves through, in order:
SCHEDULED: Final = STATUSES["PENDING_SCHEDULED"]  # accepted, waiting for its schedule time
ACCEPTED: Final = STATUSES["PENDING_ACCEPTED"]  # stored and queued (again, after a retry)
HELD: Final = STATUSES["PENDING_HELD_MAINTENANCE"]  # queued, held by a maintenance window
ENROUTE: Final = STATUSES["PENDING_ENROUTE"]  # submit_sm written, submit_sm_resp not yet read
WAITING_DELIVERY: Final = STATUSES["PENDING_WAITING_DELIVERY"]  # SMSC accepted it; no receipt
DELIVERED: Final = STATUSES["DELIVERED_TO_HANDSET"]
# CANCELLED is the seed's own status (UNDELIVERABLE 98): "cancelled at the originating side
# before it was routed to the end user", which is exactly a customer cancelling a message that
# has not left. Its group makes it final and not billable. The seed's description speaks of a
# call because NTT uses it for voice too; it is kept verbatim.
CANCELLED: Final = STATUSES["CANCELLED"]

# A message may be cancelled while no carrier has seen it (the store's conditional UPDATE uses
# these names). Once submit_sm is written it may already be on a handset.
CANCELLABLE: Final[tuple[str, ...]] = (SCHEDULED.name, ACCEPTED.name, HELD.name)


class Cause(enum.StrEnum):
    """Why a message is where it is: one taxonomy for SMPP errors, receipts and our own rules.

    ``status`` is the NTT status a message ends in with this cause, ``error`` the NTT error
    reported with it. ``permanent`` (the error's flag) is the retry policy: a temporary cause
    is retried within the validity period, a permanent one is final at once. The value is the
    stable snake_case name stored and shown by ``/v1``.
    """

    DELIVERED = "delivered"
    # -- temporary: retried within the validity period --
    ABSENT_SUBSCRIBER = "absent_subscriber"  # 圏外・電源OFF
    HANDSET_BUSY = "handset_busy"  # 話中 / handset busy with another SMS (端末輻輳)
    HANDSET_ERROR = "handset_error"  # 端末エラー, memory full, SMS app unavailable
    NETWORK_CONGESTION = "network_congestion"  # 輻輳・自NW障害: the carrier's own network
    OTHER_NETWORK_FAILURE = "other_network_failure"  # 他NW障害: beyond the carrier's network
    CALL_BARRED = "call_barred"  # 回線停止 (au 未払): the subscriber's line is suspended
    SYSTEM_ERROR = "system_error"  # the SMSC failed the submission (0x08, 0x45, ...)
    # THROTTLED and MAINTENANCE are not failures of the message: the connector slows down
    # (SMPP 0x58 / 0x14) or holds it; they are final only if the validity period runs out.
    THROTTLED = "throttled"
    MAINTENANCE = "maintenance"
    # -- permanent: final at once --
    UNKNOWN_SUBSCRIBER = "unknown_subscriber"  # 欠番: no such subscriber, invalid destination
    SMS_REFUSED = "sms_refused"  # SMS拒否設定 / 受信拒否 by the subscriber
    # docomo 一部受信 (seeds/003): only part of a long message reached the handset. Not
    # retried, because a resend would repeat the parts that did arrive; not billed (seeds/003
    # bills only 送信済 and リダイレクト).
    PARTIAL_DELIVERY = "partial_delivery"
    DELIVERY_FAILED = "delivery_failed"  # the carrier says undelivered and gives no known reason
    REJECTED_BY_CARRIER = "rejected_by_carrier"  # the SMSC refused the message itself
    INVALID_SENDER = "invalid_sender"  # the SMSC refused our sender code
    NO_ROUTE = "no_route"  # no route of the account reaches this carrier (failover exhausted)
    EXPIRED = "expired"  # the validity period ended (48 h by default) without a result
    # No receipt came, or the carrier said UNKNOWN: the message may have been delivered, so it
    # is never resent (a resend could deliver it twice).
    UNKNOWN = "unknown"
    # todoke's own guards (seeds/004: 20 different / 6 identical messages per number per hour)
    FLOODING = "flooding"
    TEXT_FLOODING = "text_flooding"
    DUPLICATE = "duplicate"  # the same text to the same number again (duplicate detection)
    BLOCKLISTED = "blocklisted"  # the account's blocklist
    DND = "dnd"  # the operator's do-not-disturb list
    OPTED_OUT = "opted_out"  # the recipient opted out of this account's messages (配信停止)
    MESSAGE_TOO_LONG = "message_too_long"
    CANCELLED = "cancelled"  # cancelled by the customer before it left

    @property
    def status(self) -> Status:
        """The NTT status a message ends in with this cause."""
        return STATUSES[_CAUSE_NTT[self][0]]

    @property
    def error(self) -> ErrorInfo:
        """The NTT error object reported with this cause."""
        return ERRORS[_CAUSE_NTT[self][1]]

    @property
    def permanent(self) -> bool:
        """Resending unchanged cannot succeed: the message is final at once."""
        return self.error.permanent

    @property
    def retryable(self) -> bool:
        """A temporary failure: todoke tries again within the validity period."""
        return self is not Cause.DELIVERED and not self.error.permanent


# Cause -> (NTT status name, NTT error name). The errors are chosen so that their seed
# ``permanent`` flag is the retry policy todoke wants; the test suite holds that invariant.
_CAUSE_NTT: Final[Mapping[Cause, tuple[str, str]]] = MappingProxyType(
    {
        Cause.DELIVERED: ("DELIVERED_TO_HANDSET", "NO_ERROR"),
        # MAP absentSubscriberSM (6) rather than absentSubscriber (27): this is the SMS one.
        Cause.ABSENT_SUBSCRIBER: ("UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER_SM"),
        Cause.HANDSET_BUSY: ("UNDELIVERABLE_NOT_DELIVERED", "EC_SUBSCRIBER_BUSY_FOR_MT_SMS"),
        # 32 covers both "memory full" and temporary handset trouble (seed: 利用不可、メモリ
        # 容量の問題、または一時的な通信の問題).
        Cause.HANDSET_ERROR: ("UNDELIVERABLE_NOT_DELIVERED", "EC_SM_DELIVERY_FAILURE"),
        # 4 "ネットワークの不具合またはオペレーターによって課された制限".
        Cause.NETWORK_CONGESTION: ("UNDELIVERABLE_REJECTED_OPERATOR", "EC_NNR_NETWORKCONGESTION"),
        Cause.OTHER_NETWORK_FAILURE: (
            "UNDELIVERABLE_NOT_DELIVERED",
            "EC_OR_REMOTENODENOTREACHABLE",
        ),
        Cause.CALL_BARRED: ("UNDELIVERABLE_NOT_DELIVERED", "EC_CALL_BARRED"),
        Cause.SYSTEM_ERROR: ("REJECTED_SYSTEM_ERROR", "EC_SYSTEM_FAILURE"),
        # 541 "送信制限に達しました ... TPS 制限を超えた"; 31 "メッセージは送信されていません".
        Cause.THROTTLED: ("UNDELIVERABLE_NOT_SENT", "EC_LIMIT_REACHED"),
        Cause.MAINTENANCE: ("UNDELIVERABLE_NOT_SENT", "EC_PA_MAINTENANCEACTIVITY"),
        Cause.UNKNOWN_SUBSCRIBER: ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNKNOWN_SUBSCRIBER"),
        # 573: the end user asked the carrier to block these senders: the Japanese SMS拒否設定.
        Cause.SMS_REFUSED: ("UNDELIVERABLE_REJECTED_OPERATOR", "EC_SC_BLOCKED_BY_END_USER"),
        Cause.PARTIAL_DELIVERY: ("UNDELIVERABLE_NOT_DELIVERED", "EC_FAILED_MESSAGE_DELIVERY"),
        Cause.DELIVERY_FAILED: ("UNDELIVERABLE_NOT_DELIVERED", "EC_FAILED_MESSAGE_DELIVERY"),
        Cause.REJECTED_BY_CARRIER: (
            "UNDELIVERABLE_REJECTED_OPERATOR",
            "EC_SMS_REJECTED_BY_MOBILE_OPERATOR",
        ),
        Cause.INVALID_SENDER: ("REJECTED_SOURCE", "EC_INVALID_SOURCE_ADDRESS"),
        # 592: "the number belongs to a network the account is not provisioned for".
        Cause.NO_ROUTE: ("REJECTED_ROUTE_NOT_AVAILABLE", "EC_ACCOUNT_NOT_PROVISIONED_FOR_SMS"),
        Cause.EXPIRED: ("EXPIRED_EXPIRED", "EC_VALIDITY_EXPIRED"),
        # 815 "sent to the carrier but not acknowledged by it"; permanent, like the policy.
        Cause.UNKNOWN: ("EXPIRED_DLR_UNKNOWN", "EC_MESSAGE_SUBMITTED_NOT_ACKED"),
        Cause.FLOODING: ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_FLOODING"),
        Cause.TEXT_FLOODING: ("REJECTED_FLOODING_FILTER", "EC_DESTINATION_TXT_FLOODING"),
        # 23 REJECTED_DUPLICATE_MESSAGE_ID is about a repeated message *id* (a clientTag, which
        # the API refuses outright); repeated content is a flooding-filter rejection with 5492.
        Cause.DUPLICATE: ("REJECTED_FLOODING_FILTER", "EC_DUPLICATE_MESSAGE"),
        Cause.BLOCKLISTED: (
            "REJECTED_DESTINATION_BLOCKLISTED",
            "EC_BLACKLISTED_DESTINATIONADDRESS",
        ),
        Cause.DND: ("REJECTED_DND", "EC_DEST_ADDRESS_BLACKLISTED"),
        # 603 "ユーザーのオプトアウト(MO:停止)によってブロック": opt-outs are kept in the
        # account's list.
        Cause.OPTED_OUT: ("REJECTED_DESTINATION_BLOCKLISTED", "EC_CONTENT_BLOCKED"),
        Cause.MESSAGE_TOO_LONG: ("REJECTED_MESSAGE_TOO_LONG", "EC_MSG_TEXT_TOO_LONG"),
        Cause.CANCELLED: ("CANCELLED", "EC_MESSAGE_CANCELED"),
    }
)


# --- the state machine ---------------------------------------------------------------------

# Which pending status may follow which. Re-entering ACCEPTED is a requeue (a retry, or a
# throttled submission put back); WAITING_DELIVERY -> WAITING_DELIVERY is an intermediate
# receipt (ENROUTE / ACCEPTD). Nothing goes back to SCHEDULED: a schedule is set at acceptance.
_PENDING_NEXT: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        SCHEDULED.name: frozenset({ACCEPTED.name, HELD.name}),
        ACCEPTED.name: frozenset({ACCEPTED.name, HELD.name, ENROUTE.name}),
        HELD.name: frozenset({ACCEPTED.name, HELD.name}),
        ENROUTE.name: frozenset({WAITING_DELIVERY.name, ACCEPTED.name, HELD.name}),
        WAITING_DELIVERY.name: frozenset({WAITING_DELIVERY.name, ACCEPTED.name, HELD.name}),
    }
)

# A scheduled message has never been submitted, so it can only end in a status that needs no
# carrier answer: refused by a guard at its time, cancelled, unsent, or expired.
_FINAL_FROM_SCHEDULED: Final = frozenset(
    {s.name for s in _STATUS_LIST if s.group_id == REJECTED_GROUP.id}
    | {CANCELLED.name, "UNDELIVERABLE_NOT_SENT", "EXPIRED_EXPIRED"}
)


def _resolve(status: Status | str) -> Status:
    if isinstance(status, Status):
        return status
    try:
        return STATUSES[status]
    except KeyError:
        raise ValueError(f"unknown status {status!r}") from None


def is_final(status: Status | str) -> bool:
    """Whether a message in this status is done: every group except PENDING.

    Final is final, without exception: a receipt that arrives after a final status (au's
    failure receipts can take ~20 minutes, seeds/002) is recorded on its attempt but does not
    change the message. So the "no receipt" deadline that ends in EXPIRED_DLR_UNKNOWN must
    leave a grace period after the validity period; in return a customer gets exactly one
    final status (one final webhook) and a day's billable count never changes afterwards.
    """
    return _resolve(status).final


def is_cancellable(status: Status | str) -> bool:
    """Whether a message in this status may still be cancelled (no carrier has seen it)."""
    return _resolve(status).name in CANCELLABLE


def can_transition(from_status: Status | str, to_status: Status | str) -> bool:
    """Whether a message may move from one status to another (names or ``Status``)."""
    src, dst = _resolve(from_status), _resolve(to_status)
    if src.final:
        return False
    if not dst.final:
        return dst.name in _PENDING_NEXT[src.name]
    if dst.name == CANCELLED.name:
        return src.name in CANCELLABLE
    if src.name == SCHEDULED.name:
        return dst.name in _FINAL_FROM_SCHEDULED
    # Any other final status may follow any other pending one: a receipt can overtake its
    # submit_sm_resp (ENROUTE -> DELIVERED), a timed-out submission requeued as ACCEPTED can
    # still be reported delivered, and a retried temporary failure ends as its cause's status.
    return True
