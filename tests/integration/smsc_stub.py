"""A small SMSC for the connector's tests: ``asyncio.start_server`` and todoke's own PDU codec.

It is scripted through attributes (refuse binds, throttle every Nth submit, delay or withhold
answers, close the link after N submits) and records what it saw, so that a test can check the
connector's behaviour on the wire: the largest number of submits outstanding at once, the order
of events, the answers to its deliver_sm. The interop test uses an independent SMSC instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from todoke.carriers.smpp.pdu import (
    RESPONSE_BIT,
    BindRequest,
    BindResponse,
    CommandStatus,
    DeliverSm,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
)

S = CommandStatus


async def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``check()`` holds: the state polled belongs to a peer or a connector, which
    offer no event to wait on."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polling, see the docstring
            await asyncio.sleep(0.002)


@dataclass
class _Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    bound: bool = False
    waiting: dict[int, asyncio.Future[Pdu]] = field(default_factory=dict)

    def send(self, pdu: Pdu) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(pdu))


class StubSmsc:
    """An SMSC on 127.0.0.1 that answers bind_transceiver, submit_sm and enquire_link."""

    def __init__(self) -> None:
        self.password = "secret"
        self.refuse_binds = 0  # refuse this many binds first ...
        self.refuse_status: int = S.ESME_RBINDFAIL  # ... with this status
        self.throttle_every = 0  # answer every Nth submit_sm ESME_RTHROTTLED
        self.resp_delay = 0.0  # seconds before each submit_sm_resp
        self.withhold = False  # never answer submit_sm (a stuck SMSC)
        self.close_after: int | None = None  # drop every link after this many submits
        self.status_for: Callable[[SubmitSm], int] = lambda _pdu: int(S.ESME_ROK)
        self.port = 0
        self.binds = 0
        self.submits: list[SubmitSm] = []  # every submit_sm received, resubmissions too
        self.accepted: dict[str, SubmitSm] = {}  # message id -> submit_sm answered ESME_ROK
        self.outstanding = 0
        self.max_outstanding = 0
        self.enquire_links = 0
        self.unbinds = 0
        self.nacks: list[int] = []  # command_status of each generic_nack received
        self.events: list[str] = []
        self.links: list[_Link] = []
        self._ids = itertools.count(0x1A2B0)
        self._seq = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.close_links()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # A connection accepted just before the close gets its handler only now: let it run,
        # then close it too (Python 3.11's Server.close leaves accepted connections open).
        await asyncio.sleep(0.05)
        await self.close_links()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- scripting ----------------------------------------------------------------------------

    @property
    def bound(self) -> list[_Link]:
        return [link for link in self.links if link.bound and not link.writer.is_closing()]

    async def close_links(self) -> None:
        links, self.links = self.links, []
        for link in links:
            link.writer.close()
        for link in links:
            with contextlib.suppress(OSError):
                await link.writer.wait_closed()

    def write_raw(self, data: bytes) -> None:
        for link in self.bound:
            link.writer.write(data)

    async def request(self, pdu: Pdu, timeout: float = 3.0) -> Pdu:
        """Send ``pdu`` (deliver_sm, enquire_link, unbind) on the bound link; its answer."""
        link = self.bound[0]
        seq = next(self._seq)
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        link.waiting[seq] = fut
        pdu = _with_seq(pdu, seq)
        link.send(pdu)
        async with asyncio.timeout(timeout):
            return await fut

    # --- serving ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(reader, writer)
        self.links.append(link)
        frames = PduReader()
        try:
            while data := await reader.read(65536):
                for frame in frames.feed(data):
                    try:
                        pdu = decode(frame)
                    except PduError as e:
                        link.send(
                            GenericNack(
                                sequence_number=e.sequence_number or 0, command_status=e.status
                            )
                        )
                        continue
                    self._handle(link, pdu)
        except (ConnectionError, PduError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _handle(self, link: _Link, pdu: Pdu) -> None:
        if pdu.command_id & RESPONSE_BIT:
            if isinstance(pdu, GenericNack):
                self.nacks.append(pdu.command_status)
            fut = link.waiting.pop(pdu.sequence_number, None)
            if fut is not None and not fut.done():
                self.events.append(f"resp:{pdu.command_status}")
                fut.set_result(pdu)
        elif isinstance(pdu, BindRequest):
            self.binds += 1
            status: int = S.ESME_ROK
            if self.refuse_binds > 0:
                self.refuse_binds -= 1
                status = self.refuse_status
            elif pdu.password != self.password:
                status = S.ESME_RINVPASWD
            link.bound = status == S.ESME_ROK
            link.send(
                BindResponse(
                    pdu.kind, "stub", sequence_number=pdu.sequence_number, command_status=status
                )
            )
        elif isinstance(pdu, SubmitSm):
            self._submit(link, pdu)
        elif isinstance(pdu, EnquireLink):
            self.enquire_links += 1
            link.send(EnquireLinkResp(sequence_number=pdu.sequence_number))
        elif isinstance(pdu, Unbind):
            self.unbinds += 1
            link.send(UnbindResp(sequence_number=pdu.sequence_number))
            link.bound = False
        else:
            link.send(
                GenericNack(sequence_number=pdu.sequence_number, command_status=S.ESME_RINVCMDID)
            )

    def _submit(self, link: _Link, pdu: SubmitSm) -> None:
        self.submits.append(pdu)
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        n = len(self.submits)
        if self.close_after is not None and n >= self.close_after:
            self.close_after = None
            self._spawn(self.close_links())
            return
        if self.withhold:
            return
        if self.throttle_every and n % self.throttle_every == 0:
            status: int = S.ESME_RTHROTTLED
        else:
            status = int(self.status_for(pdu))
        message_id = format(next(self._ids), "X") if status == S.ESME_ROK else ""
        resp = SubmitSmResp(message_id, sequence_number=pdu.sequence_number, command_status=status)

        def answer() -> None:
            self.outstanding -= 1
            if message_id:
                self.accepted[message_id] = pdu
            link.send(resp)

        if self.resp_delay:
            asyncio.get_running_loop().call_later(self.resp_delay, answer)
        else:
            answer()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _with_seq(pdu: Pdu, seq: int) -> Pdu:
    return dataclasses.replace(pdu, sequence_number=seq)


def receipt_pdu(message_id: str, stat: str = "DELIVRD") -> DeliverSm:
    text = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2401011200 done date:2401011201"
        f" stat:{stat} err:000 text:hello"
    )
    return DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="819012345678",
        destination_addr="12345",
        esm_class=0x04,
        short_message=text.encode("latin-1"),
    )
