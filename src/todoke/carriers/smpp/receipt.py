"""Delivery receipts: reading them from deliver_sm and matching them to submitted parts.

A receipt names the SMSC's message id (from submit_sm_resp) and a final or intermediate state.
SMSCs say this in two ways, often both: the SMPP 3.4 TLVs (receipted_message_id, message_state,
network_error_code) and the Appendix B text in short_message::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
    err:E text:...

The TLVs are exact, so they win; the text fills in what they lack. Correlation to the stored
attempt goes through ``normalize_message_id`` and ``message_id_candidates``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from todoke.carriers.smpp.pdu import DataSm, DeliverSm, TlvTag, find_tlv

ESM_TYPE_MASK: Final = 0x3C  # esm_class bits 2-5: message type (SMPP 3.4, 5.2.12)
ESM_DELIVERY_RECEIPT: Final = 0x04
ESM_INTERMEDIATE_NOTIFICATION: Final = 0x20

# message_state TLV and query_sm_resp values (SMPP 3.4, 5.2.28; 9 SKIPPED is SMPP 5.0) as the
# stat words of the Appendix B text.
MESSAGE_STATE_STATS: Final = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
    9: "SKIPPED",
}
# Some SMSCs spell the stat words out ("stat:DELIVERED"); read them as the 7-letter forms.
_STAT_SYNONYMS: Final = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "ACCEPTED": "ACCEPTD",
    "REJECTED": "REJECTD",
    "EXPIRD": "EXPIRED",
    "DELETD": "DELETED",
}

# A key starts the text or follows whitespace; "submit date" comes as "submit_date" and
# "submitdate" too, and keys in any case ("ID:", "Stat:", "Text:").
_KEY = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:", re.I
)
_KEY_FILLER = re.compile(r"[\s_]")
# The layout of SMPP 3.4 Appendix B exactly as most SMSCs write it: parsed in one match, the
# key scan above being the fallback for every variant. Same values as the scan gives.
_CANONICAL = re.compile(
    r"id:(\S+) sub:(\S*) dlvrd:(\S*) submit date:(\S*) done date:(\S*) stat:(\S*) err:(\S*)"
    r"(?: text:(.*))?\Z",
    re.S,
)
_CANONICAL_KEYS = ("id", "sub", "dlvrd", "submitdate", "donedate", "stat", "err")
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of an Appendix B receipt text. Dates are naive unless a ``tz`` was given."""

    message_id: str
    sub: int | None
    dlvrd: int | None
    submit_date: datetime | None
    done_date: datetime | None
    stat: str
    err: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt as the session hands it on: carrier id, state word and error.

    ``stat`` is a 7-letter word (DELIVRD, UNDELIV, ...; ``MESSAGE_STATE_STATS``); ``err`` is the
    SMSC's error code as text; ``network_type`` is set when it came from network_error_code
    (3 = GSM). ``intermediate`` marks an intermediate notification, which is never final.
    """

    message_id: str
    stat: str
    err: str | None = None
    done_date: datetime | None = None
    submit_date: datetime | None = None
    dlvrd: int | None = None
    sub: int | None = None
    network_type: int | None = None
    intermediate: bool = False


def parse_receipt_text(text: str, *, tz: tzinfo | None = None) -> ReceiptText | None:
    """The receipt fields in ``text``, or ``None`` when it has no ``id`` and ``stat``.

    Lenient about the real-world variants: any key case, extra spaces, missing fields, dates of
    10 (YYMMDDhhmm), 12 (…ss) or 14 (YYYYMMDDhhmmss) digits. ``text:`` runs to the end. Dates are
    SMSC local time: pass the carrier's ``tz`` to get aware datetimes.
    """
    canonical = _CANONICAL.match(text)
    if canonical is not None:
        values = dict(zip(_CANONICAL_KEYS, canonical.groups()[:7], strict=True))
        body = canonical.group(8)
    else:
        values, body = _scan(text)
    message_id = values.get("id", "").strip("\0")
    stat = normalize_stat(values.get("stat", ""))
    if not message_id or not stat:
        return None
    return ReceiptText(
        message_id=message_id,
        sub=_int(values.get("sub")),
        dlvrd=_int(values.get("dlvrd")),
        submit_date=_date(values.get("submitdate"), tz),
        done_date=_date(values.get("donedate"), tz),
        stat=stat,
        err=values.get("err") or None,
        text=body,
    )


def _scan(text: str) -> tuple[dict[str, str], str | None]:
    """Every ``key:value`` of a receipt text in any variant, and the text after ``text:``."""
    values: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, m in enumerate(matches):
        key = _KEY_FILLER.sub("", m.group(1).lower())
        if key == "text":
            return values, text[m.end() :]
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        words = text[m.end() : end].split()
        values.setdefault(key, words[0] if words else "")
    return values, None


def normalize_stat(word: str) -> str:
    """The 7-letter stat word for ``word`` (upper-cased; spelled-out synonyms mapped)."""
    word = word.strip().upper()
    return _STAT_SYNONYMS.get(word, word)


def _int(value: str | None) -> int | None:
    return int(value) if value and _DIGITS.fullmatch(value) and len(value) <= 9 else None


def _date(value: str | None, tz: tzinfo | None) -> datetime | None:
    if not value or not _DIGITS.fullmatch(value) or len(value) not in (10, 12, 14):
        return None
    if len(value) == 14:
        year, rest = int(value[:4]), value[4:]
    else:
        year, rest = 2000 + int(value[:2]), value[2:]
    month, day, hour, minute = (int(rest[i : i + 2]) for i in (0, 2, 4, 6))
    second = int(rest[8:10]) if len(rest) == 10 else 0
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:  # month 13 and the like: keep the receipt, lose the date
        return None


def receipt_from_deliver_sm(
    pdu: DeliverSm | DataSm, *, tz: tzinfo | None = None, sniff: bool = False
) -> Receipt | None:
    """The receipt carried by ``pdu``, or ``None`` when it is an ordinary inbound message.

    A receipt is marked by esm_class (0x04 SMSC delivery receipt, 0x20 intermediate
    notification). ``sniff=True`` also accepts unmarked PDUs that carry receipted_message_id or
    a receipt text, for SMSCs that send receipts with esm_class 0. A receipt without any
    message id cannot be correlated and gives ``None`` too.
    """
    kind = pdu.esm_class & ESM_TYPE_MASK
    marked = kind in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION)
    if not marked and not sniff:
        return None
    tlv_id = find_tlv(pdu.tlvs, TlvTag.RECEIPTED_MESSAGE_ID)
    parsed = parse_receipt_text(_text(pdu), tz=tz)
    if not marked and tlv_id is None and parsed is None:
        return None
    message_id = tlv_id.as_str().strip() if tlv_id else ""
    if not message_id and parsed is not None:
        message_id = parsed.message_id
    if not message_id:
        return None
    state = find_tlv(pdu.tlvs, TlvTag.MESSAGE_STATE)
    stat = MESSAGE_STATE_STATS.get(state.as_int() or 0) if state else None
    err = parsed.err if parsed else None
    network_type = None
    net = find_tlv(pdu.tlvs, TlvTag.NETWORK_ERROR_CODE)
    if net is not None and len(net.value) == 3:
        network_type = net.value[0]
        err = f"{int.from_bytes(net.value[1:], 'big'):03d}"
    return Receipt(
        message_id=message_id,
        stat=stat or (parsed.stat if parsed else "UNKNOWN"),
        err=err,
        done_date=parsed.done_date if parsed else None,
        submit_date=parsed.submit_date if parsed else None,
        dlvrd=parsed.dlvrd if parsed else None,
        sub=parsed.sub if parsed else None,
        network_type=network_type,
        intermediate=kind == ESM_INTERMEDIATE_NOTIFICATION,
    )


def _text(pdu: DeliverSm | DataSm) -> str:
    raw = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    if not raw:  # data_sm, and deliver_sm from SMSCs that use message_payload
        payload = find_tlv(pdu.tlvs, TlvTag.MESSAGE_PAYLOAD)
        raw = payload.value if payload else b""
    if pdu.data_coding == 0x08:  # a few SMSCs send the receipt text in UCS-2
        return raw.decode("utf-16-be", errors="replace")
    # Latin-1, not GSM-7, even for data_coding 0: receipt texts are ASCII, and GSM-7 would
    # turn the '_' of "submit_date" into '§'.
    return raw.decode("latin-1")


# --- correlation -------------------------------------------------------------------------------


def normalize_message_id(mid: str) -> str:
    """The correlation key of an SMSC message id: store it next to the id as given.

    Strategy: keep the submit_sm_resp id exactly as given (it is what query_sm, cancel_sm and
    support staff quote) and store ``normalize_message_id(id)`` in an indexed column; match a
    receipt with ``key IN message_id_candidates(receipt_id)`` (an exact, indexed lookup), scoped
    to the connector. The key trims whitespace and NULs (some SMSCs pad ids) and, for ids that
    are hexadecimal or decimal numbers, drops leading zeros and upper-cases, so that "00001a2b"
    and "1A2B" are one key; other ids keep their case.
    """
    mid = mid.strip().strip("\0").strip()
    if _HEX.fullmatch(mid):
        return mid.lstrip("0").upper() or "0"
    return mid


def message_id_candidates(receipt_id: str) -> tuple[str, ...]:
    """The ids under which the part that ``receipt_id`` reports may be stored, best first.

    SMSCs disagree with themselves: some answer submit_sm_resp in hex and quote the id in
    receipts in decimal, or the reverse, with or without zero padding (resp "1A2B", receipt
    "0000006699"). The candidates are: the id as given, in upper and lower case, without
    leading zeros, its decimal value written in hex and its hex value written in decimal. They
    include ``normalize_message_id`` of each form, so a lookup on the stored key is exact; the
    raw forms also match rows whose key column holds the id as given. When several rows match,
    prefer the one matching the earliest candidate.
    """
    rid = receipt_id.strip().strip("\0").strip()
    forms = [rid, rid.upper(), rid.lower()]
    # 40 characters bounds the int() conversions (decimal ids longer than 4300 digits raise).
    if _HEX.fullmatch(rid) and len(rid) <= 40:
        bare = rid.lstrip("0") or "0"
        forms += (bare.upper(), bare.lower())
        if _DIGITS.fullmatch(rid):
            as_hex = format(int(rid), "X")
            forms += (as_hex, as_hex.lower())
        forms.append(str(int(rid, 16)))
    return tuple(dict.fromkeys(f for f in forms if f))
