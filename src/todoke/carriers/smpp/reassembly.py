"""Reassembly of concatenated inbound (MO) messages, in memory.

Parts are acknowledged to the SMSC as they arrive and held here until the last one comes; only
the part that completes a message waits for ``on_inbound`` before its deliver_sm_resp, and when
that fails the parts are kept so that the SMSC's redelivery of the last part completes the
message again.

Loss window: the parts held here are in memory only. If the process stops between the first and
the last part of a message, the parts already acknowledged are gone (the SMSC will not send them
again) and the rest arrives at a process that cannot complete it; after ``timeout`` it is handed
on incomplete. MO traffic to business sender codes is rare and short, so the window is small; a
persistent part store would close it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from todoke.carriers.smpp.pdu import Tlv, TlvTag, find_tlv
from todoke.carriers.smpp.segments import ConcatInfo


class PartKey(NamedTuple):
    """Parts with the same key belong to one message."""

    source: str
    destination: str
    ref: int
    total: int


@dataclass(slots=True)
class PartialMessage:
    """The parts of one concatenated message received so far."""

    key: PartKey
    started: float
    parts: dict[int, str] = field(default_factory=dict)
    delivering: bool = False  # a task is handing the complete message on right now

    @property
    def complete(self) -> bool:
        """Every part from 1 to ``total`` is here."""
        return len(self.parts) == self.key.total

    @property
    def text(self) -> str:
        """The parts in order; missing ones are left out (only an expired message has any)."""
        return "".join(self.parts[seq] for seq in sorted(self.parts))


def sar_concat_info(tlvs: tuple[Tlv, ...]) -> ConcatInfo | None:
    """Concatenation from the sar_* TLVs (SMPP 3.4, 5.3.2.22-24), which some SMSCs use instead
    of a UDH; ``None`` when they are absent or inconsistent."""
    ref = find_tlv(tlvs, TlvTag.SAR_MSG_REF_NUM)
    total = find_tlv(tlvs, TlvTag.SAR_TOTAL_SEGMENTS)
    seq = find_tlv(tlvs, TlvTag.SAR_SEGMENT_SEQNUM)
    if ref is None or total is None or seq is None:
        return None
    info = ConcatInfo(ref.as_int() or 0, total.as_int() or 0, seq.as_int() or 0)
    return info if 1 <= info.seq <= info.total else None


class Reassembler:
    """Concatenated messages being reassembled, oldest first."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._messages: dict[PartKey, PartialMessage] = {}

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, key: PartKey, seq: int, text: str, now: float) -> PartialMessage | None:
        """Store one part; return the message when this part completes it.

        A part that arrives again (a redelivery) replaces the earlier copy. ``None`` while parts
        are missing, and while another task is already handing the complete message on.
        """
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = PartialMessage(key, now)
        message.parts[seq] = text
        if not message.complete or message.delivering:
            return None
        message.delivering = True
        return message

    def delivered(self, message: PartialMessage) -> None:
        """The complete message was handed on: forget it."""
        if self._messages.get(message.key) is message:
            del self._messages[message.key]

    def failed(self, message: PartialMessage) -> None:
        """Handing on failed: keep the parts for the SMSC's redelivery of the last one."""
        message.delivering = False

    def expired(self, now: float) -> list[PartialMessage]:
        """Remove and return the messages whose first part came more than ``timeout`` ago."""
        out: list[PartialMessage] = []
        for key, message in list(self._messages.items()):
            if now - message.started <= self.timeout:
                break  # insertion order is arrival order of first parts
            if not message.delivering:
                out.append(message)
                del self._messages[key]
        return out
