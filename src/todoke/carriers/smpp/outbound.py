"""Outbound messages on the wire: a ``Submission`` becomes submit_sm frames, answers outcomes.

Each part is encoded once, with sequence_number 0; the session patches in a fresh sequence
number for every send, so a part resubmitted after throttling costs no re-encoding.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

from todoke.carriers.smpp.pdu import CommandStatus, Pdu, PduError, SubmitSm, SubmitSmResp, encode
from todoke.carriers.smpp.segments import ESM_UDHI, encode_parts
from todoke.domain.status_maps import classify_smpp_error
from todoke.errors import PermanentCarrierError, TemporaryCarrierError

if TYPE_CHECKING:
    from todoke.carriers.smpp.connector import SmppConfig

_S = CommandStatus
# "Slow down", not "failed" (SMPP 3.4, 5.1.3): the connector resubmits after backing off.
THROTTLING: Final = frozenset({_S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL})


@dataclass(frozen=True, slots=True)
class Submission:
    """One message to submit. ``destination`` is E.164 with '+'; ``key`` is for logs only."""

    key: str
    source: str
    destination: str
    text: str
    encoding: Literal["GSM7", "UCS2"]
    validity_until_ms: int | None = None  # epoch ms; sent as an absolute UTC validity_period


@dataclass(frozen=True, slots=True)
class PartOutcome:
    """The SMSC's answer to one part: ``message_id`` exactly as given (None on error)."""

    seq: int
    total: int
    message_id: str | None
    command_status: int


class SubmitEncoder:
    """Builds the submit_sm frames of submissions for one connector.

    The concatenation reference is a rolling 8-bit (or 16-bit) counter per connector, started
    at random so that a restart does not reuse the references of the messages just sent.
    """

    def __init__(self, config: SmppConfig) -> None:
        self._config = config
        self._ref_mask = 0xFFFF if config.concat_ref16 else 0xFF
        self._ref = secrets.randbelow(self._ref_mask + 1)

    def frames(self, sub: Submission) -> list[bytes]:
        """The submit_sm frames of ``sub``, one per part, in order.

        ``PermanentCarrierError`` when ``sub`` cannot be put in submit_sm (text outside GSM-7,
        over 255 parts, an address too long), with the cause of the matching SMPP status.
        """
        cfg = self._config
        self._ref = (self._ref + 1) & self._ref_mask
        try:
            parts = encode_parts(
                sub.text,
                encoding=sub.encoding,
                ref=self._ref,
                packed=cfg.gsm7_packed,
                ref16=cfg.concat_ref16,
            )
        except ValueError as e:
            too_long = "parts exceed" in str(e)  # encode_parts' words for over 255 parts
            status = _S.ESME_RINVMSGLEN if too_long else _S.ESME_RINVDCS
            raise PermanentCarrierError(str(e), cause=classify_smpp_error(status)) from None
        source_ton, source_npi, source = self._source_address(sub.source)
        validity = validity_period(sub.validity_until_ms)
        try:
            return [
                encode(
                    SubmitSm(
                        source_addr_ton=source_ton,
                        source_addr_npi=source_npi,
                        source_addr=source,
                        dest_addr_ton=cfg.dest_ton,
                        dest_addr_npi=cfg.dest_npi,
                        destination_addr=sub.destination.removeprefix("+"),
                        esm_class=ESM_UDHI if part.esm_class_udhi else 0,
                        validity_period=validity,
                        registered_delivery=cfg.registered_delivery,
                        data_coding=part.data_coding,
                        short_message=part.short_message,
                    )
                )
                for part in parts
            ]
        except PduError as e:  # an address too long for its field, ...
            cause = classify_smpp_error(e.status)
            error = PermanentCarrierError if cause.permanent else TemporaryCarrierError
            raise error(f"cannot encode submit_sm: {e}", cause=cause) from None

    def _source_address(self, source: str) -> tuple[int, int, str]:
        """(TON, NPI, address) of a sender code; see ``SmppConfig``."""
        cfg = self._config
        digits = source.removeprefix("+")
        numeric = digits.isascii() and digits.isdigit()
        if cfg.source_ton is not None:
            npi = cfg.source_npi if cfg.source_npi is not None else (1 if numeric else 0)
            return cfg.source_ton, npi, digits if numeric else source
        if numeric and source.startswith("+"):
            return 1, 1, digits
        if numeric:
            return 0, 1, source
        return 5, 0, source  # alphanumeric sender id


def refused(resp: Pdu | None) -> bool:
    """An answer that ends the sending of a message's remaining parts (``None``: lost)."""
    return resp is None or (resp.command_status != 0 and resp.command_status not in THROTTLING)


def outcome(seq: int, total: int, resp: Pdu) -> PartOutcome:
    """The outcome of part ``seq`` from its final answer."""
    status = resp.command_status
    if isinstance(resp, SubmitSmResp):
        return PartOutcome(seq, total, resp.message_id if status == 0 else None, status)
    # generic_nack (or a peer's wrong response type): a refusal whatever its status says
    return PartOutcome(seq, total, None, status or _S.ESME_RSYSERR)


def validity_period(until_ms: int | None) -> str:
    """SMPP absolute time (3.4, 7.1.1) in UTC: YYMMDDhhmmss, tenths, quarter hours 00, '+'."""
    if until_ms is None:
        return ""
    return _validity_tenths(until_ms // 100)


@functools.lru_cache(maxsize=256)
def _validity_tenths(tenths: int) -> str:
    # Messages accepted together share their validity to the tenth: formatted once.
    t = datetime.fromtimestamp(tenths / 10, tz=UTC)
    return f"{t:%y%m%d%H%M%S}{tenths % 10}00+"
