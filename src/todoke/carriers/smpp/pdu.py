"""SMPP 3.4 PDUs: typed records and a pure, fast binary codec.

PDUs are wire records, not domain objects: the session turns a ``SubmitSmResp`` into an attempt
update and a ``DeliverSm`` into a receipt or an inbound message; nothing outside
``carriers/smpp`` sees these classes.

* ``encode(pdu) -> bytes`` and ``decode(frame) -> Pdu`` handle one complete PDU, header included.
* ``split_frames(buffer)`` / ``PduReader`` cut complete frames out of a TCP stream.
* Every decoding failure is a ``PduError`` carrying the ``command_status`` to answer with and,
  when the header was readable, the ``command_id`` and ``sequence_number`` to answer to.

Each family's dataclass field order is its wire order; one table-driven loop, compiled to
precompiled ``struct.Struct`` runs, encodes and decodes every family.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import Field, dataclass, field, fields
from operator import attrgetter
from typing import Any, ClassVar, Final

from todoke.carriers.smpp.codes import _INT_TLV_SIZES
from todoke.carriers.smpp.codes import RESPONSE_BIT as RESPONSE_BIT
from todoke.carriers.smpp.codes import BindKind as BindKind
from todoke.carriers.smpp.codes import CommandId as CommandId
from todoke.carriers.smpp.codes import CommandStatus as CommandStatus
from todoke.carriers.smpp.codes import TlvTag as TlvTag

MAX_PDU_SIZE: Final = 64 * 1024
"""Largest command_length accepted by default; a larger one means a broken or hostile peer."""
HEADER_SIZE: Final = 16
MAX_SHORT_MESSAGE: Final = 254  # sm_length range of SMPP 3.4, 5.2.22; longer text goes in TLVs

_HEADER = struct.Struct(">IIII")
_U32 = struct.Struct(">I")
_TLV_HEAD = struct.Struct(">HH")


_S = CommandStatus  # short alias for the tables below


class PduError(ValueError):
    """A PDU that cannot be decoded (or encoded).

    ``status`` is the command_status to answer with (in a generic_nack, or in the matching
    ``_resp`` when the command is known). ``command_id`` and ``sequence_number`` are set when the
    header could be read. A framing error from ``split_frames`` means the stream cannot be
    resynchronised: the session must close the connection.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = _S.ESME_RSYSERR,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter. Unknown tags are kept as they came, never dropped."""

    tag: int
    value: bytes

    @classmethod
    def of_int(cls, tag: int, value: int, size: int | None = None) -> Tlv:
        """An unsigned big-endian integer TLV; ``size`` defaults to the tag's spec size."""
        n = size if size is not None else _INT_TLV_SIZES.get(tag)
        if n is None:
            raise ValueError(f"size needed for TLV tag 0x{tag:04X}")
        try:
            return cls(tag, value.to_bytes(n, "big"))
        except OverflowError:
            raise ValueError(f"{value} does not fit {n} octets") from None

    @classmethod
    def of_str(cls, tag: int, text: str) -> Tlv:
        """A C-octet-string TLV (receipted_message_id, additional_status_info_text)."""
        return cls(tag, text.encode("latin-1") + b"\0")

    @classmethod
    def network_error_code(cls, network_type: int, error_code: int) -> Tlv:
        """network_error_code: 1 octet network type (3 = GSM), 2 octets error code."""
        return cls(TlvTag.NETWORK_ERROR_CODE, bytes((network_type,)) + error_code.to_bytes(2))

    def as_int(self) -> int | None:
        """The value as an unsigned big-endian integer; ``None`` when empty."""
        return int.from_bytes(self.value, "big") if self.value else None

    def as_str(self) -> str:
        """The value as a C-octet string, read leniently.

        Some SMSCs send receipted_message_id without its NUL, or pad it with several.
        """
        return self.value.split(b"\0", 1)[0].decode("latin-1")


def find_tlv(tlvs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first TLV with ``tag``, or ``None``."""
    for tlv in tlvs:
        if tlv.tag == tag:
            return tlv
    return None


# --- PDU records ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pdu:
    """Base of every PDU: the header fields other than command_length and command_id."""

    _command_id: ClassVar[int]
    sequence_number: int = field(default=0, kw_only=True)
    command_status: int = field(default=0, kw_only=True)

    @property
    def command_id(self) -> int:
        """The command_id this record is sent with."""
        return self._command_id


@dataclass(frozen=True, slots=True)
class BindRequest(Pdu):
    """bind_receiver, bind_transmitter or bind_transceiver (``kind`` picks the command_id)."""

    kind: BindKind
    system_id: str = ""
    password: str = field(default="", repr=False)  # never in a log line
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    @property
    def command_id(self) -> int:
        """The bind request command_id for ``kind``."""
        return int(self.kind)


@dataclass(frozen=True, slots=True)
class BindResponse(Pdu):
    """bind_*_resp; ``tlvs`` may carry sc_interface_version."""

    kind: BindKind
    system_id: str = ""
    tlvs: tuple[Tlv, ...] = ()

    @property
    def command_id(self) -> int:
        """The bind response command_id for ``kind``."""
        return int(self.kind) | RESPONSE_BIT


@dataclass(frozen=True, slots=True)
class _ShortMessagePdu(Pdu):
    """The mandatory body shared by submit_sm and deliver_sm (SMPP 3.4, 4.4.1 and 4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitSm(_ShortMessagePdu):
    """submit_sm: one message part from us to the SMSC."""

    _command_id = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True)
class DeliverSm(_ShortMessagePdu):
    """deliver_sm: an inbound message or a delivery receipt (see ``esm_class``)."""

    _command_id = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True)
class DataSm(Pdu):
    """data_sm (SMPP 3.4, 4.7.1): no short_message; the text travels in message_payload."""

    _command_id = CommandId.DATA_SM
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class _MessageIdResp(Pdu):
    """A response carrying a message_id.

    SMPP 3.4 defines no TLVs here, but SMPP 5.0 SMSCs append some (additional_status_info_text,
    delivery_failure_reason); they are kept, because rejecting the PDU would lose the message id.
    """

    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitSmResp(_MessageIdResp):
    """submit_sm_resp: ``message_id`` is the SMSC's id, later quoted by receipts."""

    _command_id = CommandId.SUBMIT_SM_RESP


@dataclass(frozen=True, slots=True)
class DeliverSmResp(_MessageIdResp):
    """deliver_sm_resp; ``message_id`` is unused and left empty."""

    _command_id = CommandId.DELIVER_SM_RESP


@dataclass(frozen=True, slots=True)
class DataSmResp(_MessageIdResp):
    """data_sm_resp."""

    _command_id = CommandId.DATA_SM_RESP


@dataclass(frozen=True, slots=True)
class QuerySm(Pdu):
    """query_sm: ask the SMSC for the state of a submitted message."""

    _command_id = CommandId.QUERY_SM
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, slots=True)
class QuerySmResp(Pdu):
    """query_sm_resp; ``message_state`` uses the same values as the message_state TLV."""

    _command_id = CommandId.QUERY_SM_RESP
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class EnquireLink(Pdu):
    """enquire_link: keep-alive."""

    _command_id = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True)
class EnquireLinkResp(Pdu):
    """enquire_link_resp."""

    _command_id = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True)
class Unbind(Pdu):
    """unbind."""

    _command_id = CommandId.UNBIND


@dataclass(frozen=True, slots=True)
class UnbindResp(Pdu):
    """unbind_resp."""

    _command_id = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True)
class GenericNack(Pdu):
    """generic_nack: the answer to a PDU that could not be understood."""

    _command_id = CommandId.GENERIC_NACK


# --- codec -----------------------------------------------------------------------------------
# The dataclass field order IS the wire order: ``int`` fields are single octets, ``str`` fields
# C-octet strings (sized below), ``bytes`` is sm_length + short_message and ``tlvs`` the tail.
# Each family compiles once into steps; runs of octets become one precompiled Struct.

# C-octet strings: spec size with the NUL, and the status that answers a malformed one.
_CSTRINGS: Final[dict[str, tuple[int, int]]] = {
    "system_id": (16, _S.ESME_RINVSYSID),
    "password": (9, _S.ESME_RINVPASWD),
    "system_type": (13, _S.ESME_RINVSYSTYP),
    "address_range": (41, _S.ESME_RBINDFAIL),
    "service_type": (6, _S.ESME_RINVSERTYP),
    "source_addr": (21, _S.ESME_RINVSRCADR),
    "destination_addr": (21, _S.ESME_RINVDSTADR),
    "schedule_delivery_time": (17, _S.ESME_RINVSCHED),
    "validity_period": (17, _S.ESME_RINVEXPIRY),
    "message_id": (65, _S.ESME_RINVMSGID),
    "final_date": (17, _S.ESME_RQUERYFAIL),
}
# data_sm allows 65-octet addresses (SMPP 3.4, 4.7.1); submit_sm and deliver_sm 21.
_WIDE_ADDRESSES: Final = {DataSm}
# SMPP 3.4 (4.1.2, 4.4.2, ...): "the body is not returned if command_status is non-zero".
_OPTIONAL_BODY: Final = {BindResponse, SubmitSmResp, DeliverSmResp, DataSmResp}
# outbind, cancel_sm, replace_sm, submit_multi and alert_notification are not decoded: todoke
# never sends them, and an unsupported command is answered generic_nack ESME_RINVCMDID.
_FAMILIES: Final = (
    *(BindRequest, BindResponse, SubmitSm, DeliverSm, DataSm, SubmitSmResp, DeliverSmResp),
    *(DataSmResp, QuerySm, QuerySmResp, EnquireLink, EnquireLinkResp, Unbind, UnbindResp),
    GenericNack,
)

_CSTR, _INTS, _SM, _TLVS = range(4)
# (op, getter, size or Struct, status, field name); an _INTS getter returns a tuple.
_Step = tuple[int, Callable[[Any], Any], Any, int, str]


class _Codec:
    __slots__ = ("cls", "defaults", "get_body", "optional_body", "prefix", "steps")

    def __init__(self, cls: type[Pdu], prefix: tuple[Any, ...] = ()) -> None:
        body = [f for f in fields(cls) if not f.kw_only and f.name != "kind"]
        self.cls = cls
        self.prefix = prefix
        self.steps = _compile(cls, body)
        self.optional_body = cls in _OPTIONAL_BODY
        self.defaults = tuple(f.default for f in body)
        # Only the optional-body responses use it, and they all have two fields or more.
        self.get_body = attrgetter(*(f.name for f in body)) if len(body) > 1 else None


def _compile(cls: type[Pdu], body: list[Field[Any]]) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    run: list[str] = []
    for f in (*body, None):
        if f is not None and f.type == "int":
            run.append(f.name)
            continue
        if run:
            get = attrgetter(*run) if len(run) > 1 else _one(run[0])
            steps.append((_INTS, get, struct.Struct(">" + "B" * len(run)), _S.ESME_RSYSERR, ""))
            run = []
        if f is None:
            break
        get = attrgetter(f.name)
        if f.type == "str":
            size, status = _CSTRINGS[f.name]
            wide = cls in _WIDE_ADDRESSES and f.name in ("source_addr", "destination_addr")
            steps.append((_CSTR, get, 65 if wide else size, status, f.name))
        elif f.type == "bytes":
            steps.append((_SM, get, MAX_SHORT_MESSAGE, _S.ESME_RINVMSGLEN, f.name))
        elif f.name == "tlvs":
            steps.append((_TLVS, get, None, _S.ESME_RINVOPTPARSTREAM, f.name))
        else:  # pragma: no cover - guards a new family's field types at import
            raise TypeError(f"{cls.__name__}.{f.name}: no wire form for {f.type}")
    return tuple(steps)


def _one(name: str) -> Callable[[Any], tuple[Any]]:  # pragma: no cover - no lone octet today
    get = attrgetter(name)
    return lambda pdu: (get(pdu),)


_BY_TYPE: Final[dict[type[Pdu], _Codec]] = {}
_BY_ID: Final[dict[int, _Codec]] = {}
for _cls in _FAMILIES:
    if _cls is BindRequest or _cls is BindResponse:
        _resp_bit = RESPONSE_BIT if _cls is BindResponse else 0
        for _kind in BindKind:
            _BY_TYPE[_cls] = _BY_ID[_kind | _resp_bit] = _Codec(_cls, (_kind,))
    else:
        _BY_TYPE[_cls] = _BY_ID[_cls._command_id] = _Codec(_cls)


def encode(pdu: Pdu, *, max_size: int = MAX_PDU_SIZE) -> bytes:
    """The wire bytes of ``pdu``, header included; ``PduError`` for a field out of range."""
    codec = _BY_TYPE.get(type(pdu))
    if codec is None:
        raise PduError(f"cannot encode {type(pdu).__name__}")
    out: list[bytes] = []
    omit = codec.optional_body and pdu.command_status != 0 and _is_default(pdu, codec)
    try:
        if not omit:
            _encode_body(pdu, codec.steps, out)
        body = b"".join(out)
        length = HEADER_SIZE + len(body)
        head = _HEADER.pack(length, pdu.command_id, pdu.command_status, pdu.sequence_number)
    except (struct.error, OverflowError, TypeError, AttributeError) as e:
        raise PduError(f"{type(pdu).__name__}: {e}") from None
    if length > max_size:
        raise PduError(f"PDU of {length} bytes exceeds {max_size}", status=_S.ESME_RINVCMDLEN)
    return head + body


def _is_default(pdu: Pdu, codec: _Codec) -> bool:
    return codec.get_body is not None and bool(codec.get_body(pdu) == codec.defaults)


def _encode_body(pdu: Pdu, steps: tuple[_Step, ...], out: list[bytes]) -> None:
    for op, get, arg, status, name in steps:
        if op == _INTS:
            out.append(arg.pack(*get(pdu)))
        elif op == _CSTR:
            try:
                raw = get(pdu).encode("latin-1")
            except UnicodeEncodeError:
                raise PduError(f"{name} is not latin-1", status=status) from None
            if len(raw) >= arg or b"\0" in raw:
                raise PduError(f"{name} longer than {arg - 1} or holding NUL", status=status)
            out += (raw, b"\0")
        elif op == _SM:
            sm = get(pdu)
            if len(sm) > arg:
                raise PduError(f"{name} over {arg} octets: use message_payload", status=status)
            out += (bytes((len(sm),)), bytes(sm))
        else:
            for tlv in get(pdu):
                out += (_TLV_HEAD.pack(tlv.tag, len(tlv.value)), bytes(tlv.value))


def decode(frame: bytes | bytearray | memoryview, *, max_size: int = MAX_PDU_SIZE) -> Pdu:
    """The PDU in ``frame``, which must be exactly one frame, header included.

    Raises only ``PduError``, whatever the bytes.
    """
    data = frame if isinstance(frame, bytes) else bytes(frame)
    n = len(data)
    if n < HEADER_SIZE:
        raise PduError(f"{n} bytes is shorter than a header", status=_S.ESME_RINVCMDLEN)
    length, cid, status, seq = _HEADER.unpack_from(data)
    try:
        if length != n or length > max_size:
            raise PduError(f"command_length {length}, frame {n}", status=_S.ESME_RINVCMDLEN)
        codec = _BY_ID.get(cid)
        if codec is None:
            raise PduError(f"unknown command_id 0x{cid:08X}", status=_S.ESME_RINVCMDID)
        if codec.optional_body and n == HEADER_SIZE:
            values: list[Any] = list(codec.defaults)
        else:
            values = _decode_body(data, codec.steps)
    except PduError as e:
        e.command_id, e.sequence_number = cid, seq
        raise
    except (IndexError, struct.error):
        raise PduError(
            "body shorter than its fields",
            status=_S.ESME_RINVCMDLEN,
            command_id=cid,
            sequence_number=seq,
        ) from None
    return codec.cls(*codec.prefix, *values, sequence_number=seq, command_status=status)


def _decode_body(data: bytes, steps: tuple[_Step, ...]) -> list[Any]:
    values: list[Any] = []
    pos = HEADER_SIZE
    end = len(data)
    for op, _get, arg, status, name in steps:
        if op == _INTS:
            values.extend(arg.unpack_from(data, pos))
            pos += arg.size
        elif op == _CSTR:
            nul = data.find(b"\0", pos, pos + arg)
            if nul < 0:
                # Running off the end is a truncated PDU; otherwise the field is too long.
                bad = _S.ESME_RINVCMDLEN if pos + arg > end else status
                raise PduError(f"{name}: no NUL within {arg} octets", status=bad)
            values.append(data[pos:nul].decode("latin-1"))
            pos = nul + 1
        elif op == _SM:
            # sm_length 255 is one over the spec; accepted, as being lenient costs nothing here.
            sm_end = pos + 1 + data[pos]
            if sm_end > end:
                raise PduError("sm_length runs past the PDU", status=status)
            values.append(data[pos + 1 : sm_end])
            pos = sm_end
        else:
            values.append(_decode_tlvs(data, pos))
            pos = end
    if pos != end:
        raise PduError(f"{end - pos} octets after the last field", status=_S.ESME_RINVCMDLEN)
    return values


def _decode_tlvs(data: bytes, pos: int) -> tuple[Tlv, ...]:
    tlvs: list[Tlv] = []
    end = len(data)
    while pos < end:
        if pos + 4 > end:
            raise PduError("truncated TLV header", status=_S.ESME_RINVOPTPARSTREAM)
        tag, size = _TLV_HEAD.unpack_from(data, pos)
        pos += 4
        if pos + size > end:
            raise PduError(f"TLV 0x{tag:04X} runs past the PDU", status=_S.ESME_RINVPARLEN)
        tlvs.append(Tlv(tag, data[pos : pos + size]))
        pos += size
    return tuple(tlvs)


# --- framing ---------------------------------------------------------------------------------


def split_frames(buffer: bytearray, *, max_size: int = MAX_PDU_SIZE) -> list[bytes]:
    """Remove every complete frame from the front of ``buffer`` and return them in order.

    An impossible command_length (< 16 or > ``max_size``) raises ``PduError`` (status
    ESME_RINVCMDLEN): framing is lost and the connection must be closed. Frames complete before
    the bad one are returned first; the next call raises.
    """
    frames: list[bytes] = []
    pos = 0
    size = len(buffer)
    while size - pos >= 4:
        (length,) = _U32.unpack_from(buffer, pos)
        if length < HEADER_SIZE or length > max_size:
            if frames:
                break
            cid = seq = None
            if size - pos >= HEADER_SIZE:
                _, cid, _, seq = _HEADER.unpack_from(buffer, pos)
            raise PduError(
                f"impossible command_length {length}",
                status=_S.ESME_RINVCMDLEN,
                command_id=cid,
                sequence_number=seq,
            )
        if size - pos < length:
            break
        frames.append(bytes(buffer[pos : pos + length]))
        pos += length
    if pos:
        del buffer[:pos]
    return frames


class PduReader:
    """Accumulates stream bytes and hands out complete frames (decode them one by one, so a
    ``PduError`` for one frame can be answered with generic_nack while the others proceed)."""

    __slots__ = ("_buffer", "max_size")

    def __init__(self, *, max_size: int = MAX_PDU_SIZE) -> None:
        self._buffer = bytearray()
        self.max_size = max_size

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the frames now complete (``PduError`` if framing is lost)."""
        self._buffer += data
        return split_frames(self._buffer, max_size=self.max_size)

    @property
    def buffered(self) -> int:
        """Octets held back waiting for the rest of a frame."""
        return len(self._buffer)
