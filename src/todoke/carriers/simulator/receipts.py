"""The deliver_sm PDUs the simulator sends: delivery receipts and inbound messages (MO).

Receipts follow SMPP 3.4 Appendix B::

    id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000
    text:<first 20 characters>

with dates in JST (10 digits, or 12 with seconds for profiles that say so) and, when the
profile has ``receipt_tlvs``, receipted_message_id, message_state and (on failure)
network_error_code. The stat:/err: pair is ``SIM_STAT`` / ``SIM_ERR`` of the shared status
maps, so ``classify_receipt`` turns it back into the same ``Cause``.

Frames are encoded once with sequence number 0; ``with_sequence`` patches the header when the
frame is (re)sent, so a resend costs no re-encoding.
"""

from __future__ import annotations

import struct
import time
from typing import Final

from todoke.carriers.simulator.profiles import IdStyle
from todoke.carriers.smpp.pdu import DeliverSm, Tlv, TlvTag, encode
from todoke.carriers.smpp.receipt import ESM_DELIVERY_RECEIPT, MESSAGE_STATE_STATS
from todoke.carriers.smpp.segments import ESM_UDHI, encode_parts, gsm7_encode_septets
from todoke.domain.status import Cause
from todoke.domain.status_maps import SIM_ERR, SIM_STAT

_STATE_OF_STAT: Final = {stat: state for state, stat in MESSAGE_STATE_STATS.items()}
_JST_OFFSET: Final = 9 * 3600
_SEQ: Final = struct.Struct(">I")
NETWORK_TYPE_GSM: Final = 3  # network_error_code network type (SMPP 3.4, 5.3.2.31)
TON_INTERNATIONAL: Final = 1
NPI_ISDN: Final = 1


def format_ids(n: int, style: IdStyle) -> tuple[str, str]:
    """The id of message part ``n`` as submit_sm_resp gives it and as the receipt quotes it."""
    if style == "decimal":
        text = str(n)
        return text, text
    if style == "hex":
        text = f"{n:x}"
        return text, text
    # The pitfall of several real SMSCs: upper-case hex in the response, zero-padded decimal
    # in the receipt (message_id_candidates resolves it).
    return f"{n:X}", f"{n:020d}"


class JstClock:
    """Receipt dates in JST, formatted once per second (receipts come in bursts)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], str] = {}

    def stamp(self, epoch: float, digits: int) -> str:
        """``YYMMDDhhmm`` (10 digits) or ``YYMMDDhhmmss`` (12) for a POSIX time, in JST."""
        key = (int(epoch), digits)
        text = self._cache.get(key)
        if text is None:
            if len(self._cache) > 256:
                self._cache.clear()
            fmt = "%y%m%d%H%M%S" if digits == 12 else "%y%m%d%H%M"
            text = time.strftime(fmt, time.gmtime(key[0] + _JST_OFFSET))
            self._cache[key] = text
        return text


def receipt_text_sample(text: str) -> str:
    """The ``text:`` field: the first 20 characters, non-ASCII shown as '?' (the receipt is
    sent in the default alphabet, where Japanese cannot be written)."""
    head = text[:20]
    if head.isascii() and head.isprintable():
        return head
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in head)


def build_receipt(
    *,
    resp_id: str,
    receipt_id: str,
    handset: str,
    sender: str,
    cause: Cause,
    submit_date: str,
    done_date: str,
    text: str,
    tlvs: bool,
) -> bytes:
    """The encoded deliver_sm (sequence 0) reporting ``cause`` for one part.

    ``handset`` (the part's destination) is the receipt's source and ``sender`` its
    destination, as SMSCs address receipts.
    """
    stat = SIM_STAT[cause]
    err = SIM_ERR[cause]
    delivered = "001" if cause is Cause.DELIVERED else "000"
    body = (
        f"id:{receipt_id} sub:001 dlvrd:{delivered} submit date:{submit_date} "
        f"done date:{done_date} stat:{stat} err:{err} text:{receipt_text_sample(text)}"
    )
    extra: tuple[Tlv, ...] = ()
    if tlvs:
        extra = (
            Tlv.of_str(TlvTag.RECEIPTED_MESSAGE_ID, resp_id),
            Tlv.of_int(TlvTag.MESSAGE_STATE, _STATE_OF_STAT[stat]),
        )
        if cause is not Cause.DELIVERED:
            extra += (Tlv.network_error_code(NETWORK_TYPE_GSM, int(err)),)
    return encode(
        DeliverSm(
            source_addr_ton=TON_INTERNATIONAL,
            source_addr_npi=NPI_ISDN,
            source_addr=handset,
            dest_addr_ton=_ton(sender),
            dest_addr_npi=_npi(sender),
            destination_addr=sender,
            esm_class=ESM_DELIVERY_RECEIPT,
            short_message=body.encode("ascii"),
            tlvs=extra,
        )
    )


def build_mo(*, source: str, destination: str, text: str, ref: int) -> list[bytes]:
    """The encoded deliver_sm parts (sequence 0) of an inbound message; GSM-7 when the text
    fits the default alphabet, else UCS-2; concatenated with an 8-bit reference when long."""
    try:
        gsm7_encode_septets(text)
    except ValueError:
        parts = encode_parts(text, encoding="UCS2", ref=ref & 0xFF)
    else:
        parts = encode_parts(text, encoding="GSM7", ref=ref & 0xFF)
    return [
        encode(
            DeliverSm(
                source_addr_ton=TON_INTERNATIONAL,
                source_addr_npi=NPI_ISDN,
                source_addr=source,
                dest_addr_ton=_ton(destination),
                dest_addr_npi=_npi(destination),
                destination_addr=destination,
                esm_class=ESM_UDHI if part.esm_class_udhi else 0,
                data_coding=part.data_coding,
                short_message=part.short_message,
            )
        )
        for part in parts
    ]


def with_sequence(frame: bytes, sequence: int) -> bytes:
    """``frame`` with its header's sequence_number replaced."""
    return frame[:12] + _SEQ.pack(sequence) + frame[16:]


def _ton(address: str) -> int:
    # A full international number is TON 1; a sender code (short code) is TON 0 (unknown).
    return TON_INTERNATIONAL if address.isdigit() and len(address) >= 10 else 0


def _npi(address: str) -> int:
    return NPI_ISDN if address.isdigit() and len(address) >= 10 else 0
