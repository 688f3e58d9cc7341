"""The SMPP connector: one bound transceiver link to an SMSC, as the dispatcher sees it.

``SmppConnector`` keeps one connection bound in the background (connect, bind_transceiver,
reconnect with exponential back-off), submits messages part by part inside the window and the
send rate, and hands delivery receipts and inbound (MO) messages to the callbacks it was given.
Every failure leaves this module as a ``todoke.errors`` type:

* ``submit`` returns one ``PartOutcome`` per part sent; a non-zero ``command_status`` is the
  SMSC's refusal, for the dispatcher to classify (``classify_smpp_error``). Throttling answers
  (0x58, 0x14) never show: the part is resubmitted after the connector slows down.
* ``TemporaryCarrierError`` (cause ``system_error``): not bound within ``response_timeout``, or
  the connection was lost (or timed out) while a part awaited its submit_sm_resp. The SMSC may
  have accepted such a part, so a retry may deliver it twice: a duplicate risk to record.
* ``PermanentCarrierError``: the message cannot be put in submit_sm at all (text outside
  GSM-7, more than 255 parts, an address too long); cause from ``classify_smpp_error``.

A receipt is acknowledged only after ``on_receipt`` returned (persist before acknowledging: a
crash makes the SMSC redeliver); if it raises, the answer is ESME_RX_T_APPN so the SMSC retries.
Receipts may therefore come twice, and may come before ``submit`` has returned the message id
they name (the SMSC can send the receipt right behind the submit_sm_resp).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from todoke.carriers.smpp.inbound import InboundMessage, InboundRouter, ReceiptEvent
from todoke.carriers.smpp.outbound import (
    THROTTLING,
    PartOutcome,
    Submission,
    SubmitEncoder,
    outcome,
    refused,
)
from todoke.carriers.smpp.pdu import (
    BindKind,
    BindRequest,
    BindResponse,
    CommandStatus,
    Pdu,
    PduError,
    SubmitSmResp,
    Unbind,
    encode,
)
from todoke.carriers.smpp.session import SmppSession
from todoke.carriers.smpp.throttle import SendRate
from todoke.domain.status import Cause
from todoke.errors import TemporaryCarrierError

__all__ = [
    "ConnectorStats",
    "InboundMessage",
    "PartOutcome",
    "ReceiptEvent",
    "SmppConfig",
    "SmppConnector",
    "Submission",
]

_S = CommandStatus
_CONFIG_ERRORS: Final = frozenset({_S.ESME_RINVPASWD, _S.ESME_RINVSYSID})
_STABLE: Final = 5.0  # seconds bound after which a lost link reconnects without back-off
_UNBIND_WAIT: Final = 2.0  # seconds stop() waits for unbind_resp
_rng = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class SmppConfig:
    """One SMSC account. ``tps=None`` is unlimited; ``window`` is per connection.

    ``source_ton``/``source_npi`` ``None`` decide per sender code: alphanumeric 5/0, ``+``
    and digits 1/1 (international), other digits 0/1 (unknown TON: short codes and national
    numbers as the carrier assigned them). ``throttle_pause`` is how long sending stops after a
    throttling answer, ``throttle_give_up`` how long one part is resubmitted before ``submit``
    gives up; ``mo_reassembly_timeout`` how long the parts of an MO wait for the rest;
    ``max_inbound`` how many deliver_sm are handled at once.
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str = field(repr=False)  # never in a log line
    system_type: str = ""
    window: int = 10
    tps: float | None = None
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    reconnect_min: float = 0.2
    reconnect_max: float = 30.0
    gsm7_packed: bool = False
    concat_ref16: bool = False
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int = 1
    dest_npi: int = 1
    registered_delivery: int = 1
    throttle_pause: float = 0.2
    throttle_give_up: float = 60.0
    mo_reassembly_timeout: float = 60.0
    max_inbound: int = 256

    def __post_init__(self) -> None:
        if self.window < 1 or self.max_inbound < 1:
            raise ValueError("window and max_inbound must be at least 1")
        if self.tps is not None and self.tps <= 0:
            raise ValueError("tps must be positive (None for unlimited)")
        timings = (self.response_timeout, self.enquire_link_interval, self.reconnect_min)
        if min(*timings, self.throttle_give_up, self.mo_reassembly_timeout) <= 0:
            raise ValueError("timeouts and intervals must be positive")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must not be below reconnect_min")


@dataclass(slots=True)
class ConnectorStats:
    """Counters since start. ``submitted`` counts submit_sm sent (resubmissions included),
    ``acked`` ESME_ROK answers, ``errors`` parts refused or left without an answer,
    ``throttled`` throttling answers, ``reconnects`` links lost after a bind, ``in_flight`` the
    parts awaiting submit_sm_resp now."""

    submitted: int = 0
    acked: int = 0
    errors: int = 0
    throttled: int = 0
    reconnects: int = 0
    receipts: int = 0
    inbound: int = 0
    in_flight: int = 0


class _BindRefused(Exception):
    """The SMSC answered the bind with an error (internal: never leaves this module)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused with 0x{status:08X}")
        self.status = status


class SmppConnector:
    """An SMPP 3.4 transceiver client (see the module docstring)."""

    def __init__(
        self,
        config: SmppConfig,
        *,
        on_receipt: Callable[[ReceiptEvent], Awaitable[None]],
        on_inbound: Callable[[InboundMessage], Awaitable[None]],
    ) -> None:
        self.name = config.name
        self._config = config
        self._log = structlog.get_logger(__name__).bind(connector=config.name)
        bind = BindRequest(
            BindKind.TRANSCEIVER,
            system_id=config.system_id,
            password=config.password,
            system_type=config.system_type,
        )
        try:
            self._bind_frame = encode(bind)
        except PduError as e:  # system_id over 15 characters, password over 8, ...
            raise ValueError(f"connector {config.name}: invalid bind parameters: {e}") from None
        self._stats = ConnectorStats()
        self._rate = SendRate(config.tps, pause=config.throttle_pause)
        self._encoder = SubmitEncoder(config)
        self._inbound = InboundRouter(
            config, on_receipt=on_receipt, on_inbound=on_inbound, log=self._log
        )
        self._session: SmppSession | None = None
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Bound and usable."""
        session = self._session
        return session is not None and session.bound and not session.closed

    @property
    def stats(self) -> ConnectorStats:
        """A snapshot of the counters."""
        session = self._session
        return dataclasses.replace(
            self._stats,
            receipts=self._inbound.receipts,
            inbound=self._inbound.inbound,
            in_flight=session.in_flight if session is not None and not session.closed else 0,
        )

    async def start(self) -> None:
        """Start connecting and binding in the background; returns at once."""
        if self._runner is None:
            self._stopping = False
            self._runner = asyncio.get_running_loop().create_task(self._run())
            self._inbound.start()

    # The dispatcher's API names the parameter; asyncio.timeout is what it uses inside.
    async def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the connector to be bound."""
        try:
            async with asyncio.timeout(timeout):
                while not self.ready:
                    await self._ready.wait()
                    if not self.ready:
                        await asyncio.sleep(0.01)  # flapping: the event lags the session
        except TimeoutError:
            pass
        return self.ready

    async def stop(self) -> None:
        """Finish what is in flight (bounded), unbind, close, and stop every task."""
        self._stopping = True
        self._ready.clear()
        session = self._session
        if session is not None and not session.closed:
            deadline = asyncio.get_running_loop().time() + self._config.response_timeout
            while (session.in_flight or self._inbound.busy) and not session.closed:
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.01)
            session.bound = False
            try:
                async with asyncio.timeout(min(self._config.response_timeout, _UNBIND_WAIT)):
                    await session.request(encode(Unbind()))
                    session.close("stopped")
                    await session.wait_closed()
            except (TimeoutError, TemporaryCarrierError):
                pass
            session.abort("stopped")
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await self._inbound.stop()
        self._log.info("smpp.stopped", **self._counters())

    def _counters(self) -> dict[str, int]:
        return dataclasses.asdict(self.stats)

    async def _run(self) -> None:
        cfg = self._config
        loop = asyncio.get_running_loop()
        delay = cfg.reconnect_min
        while not self._stopping:
            try:
                session = await self._connect()
            except _BindRefused as e:
                if e.status in _CONFIG_ERRORS:
                    delay = cfg.reconnect_max  # wrong credentials will not fix themselves soon
            except (OSError, TimeoutError, TemporaryCarrierError) as e:
                self._log.warning("smpp.connect_failed", error=str(e), retry_in=round(delay, 2))
            except Exception:  # a bug must not end the reconnect loop for good
                self._log.exception("smpp.connect_failed", retry_in=round(delay, 2))
            else:
                bound_at = loop.time()
                self._session = session
                self._ready.set()
                self._log.info("smpp.bound", host=cfg.host, port=cfg.port, window=cfg.window)
                try:
                    reason = await session.wait_closed()
                finally:
                    self._ready.clear()
                    if self._stopping:  # stop() came while binding: it could not unbind this
                        session.abort("stopped")
                if self._stopping:
                    return
                self._stats.reconnects += 1
                uptime = loop.time() - bound_at
                self._log.warning("smpp.disconnected", reason=reason, uptime=round(uptime, 1))
                if uptime >= _STABLE:
                    delay = cfg.reconnect_min
            await asyncio.sleep(delay * _rng.uniform(0.8, 1.2))  # jitter: links do not herd
            delay = min(delay * 2, cfg.reconnect_max)

    async def _connect(self) -> SmppSession:
        cfg = self._config
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(cfg.response_timeout):
            _, session = await loop.create_connection(self._new_session, cfg.host, cfg.port)
        try:
            resp = await session.request(self._bind_frame)  # the session times it out
        except BaseException:
            session.abort("bind interrupted")
            raise
        if resp is None:
            raise TemporaryCarrierError(
                f"connection lost during bind: {await session.wait_closed()}",
                cause=Cause.SYSTEM_ERROR,
            )
        if not isinstance(resp, BindResponse) or resp.command_status != _S.ESME_ROK:
            session.abort("bind refused")
            status = resp.command_status or _S.ESME_RBINDFAIL
            configuration = status in _CONFIG_ERRORS
            log = self._log.error if configuration else self._log.warning
            log("smpp.bind_failed", status=status, configuration_error=configuration)
            raise _BindRefused(status)
        session.bound = True
        return session

    def _new_session(self) -> SmppSession:
        cfg = self._config
        return SmppSession(
            name=cfg.name,
            window=cfg.window,
            response_timeout=cfg.response_timeout,
            enquire_link_interval=cfg.enquire_link_interval,
            on_inbound=self._inbound.on_pdu,
            log=self._log,
        )

    # --- submitting ---------------------------------------------------------------------------

    async def submit(self, sub: Submission) -> list[PartOutcome]:
        """Submit every part of ``sub`` in order (pipelined inside the window).

        Stops sending at the first part refused with a non-throttling status and returns the
        outcomes of the parts sent, in order (parts already pipelined behind a refused one are
        included, so their message ids can be stored for their receipts). Raises
        ``TemporaryCarrierError`` when not bound or when a part's answer was lost, and
        ``PermanentCarrierError`` when the message cannot be encoded.
        """
        frames = self._encoder.frames(sub)
        total = len(frames)
        if total == 1:
            fut = await self._send(frames[0])
            assert fut is not None  # no ``unless``
            return [outcome(1, 1, await self._answer(frames[0], fut))]
        futures: list[asyncio.Future[Pdu | None]] = []

        def stop_sending() -> bool:
            return any(f.done() and refused(f.result()) for f in futures)

        for frame in frames:
            fut = await self._send(frame, unless=stop_sending)
            if fut is None:
                break
            futures.append(fut)
        return [
            outcome(seq, total, await self._answer(frames[seq - 1], fut))
            for seq, fut in enumerate(futures, 1)
        ]

    async def _send(
        self, frame: bytes, unless: Callable[[], bool] | None = None
    ) -> asyncio.Future[Pdu | None] | None:
        await self._rate.acquire()
        session = self._session
        if session is None or not session.bound or session.closed:
            session = await self._bound_session()
        fut = await session.send(frame, windowed=True, unless=unless)
        if fut is not None:
            self._stats.submitted += 1
        return fut

    async def _answer(self, frame: bytes, fut: asyncio.Future[Pdu | None]) -> Pdu:
        """The final answer to one part, resubmitting it while the SMSC throttles (for up to
        ``throttle_give_up`` seconds: then TemporaryCarrierError with cause ``throttled``)."""
        give_up = asyncio.get_running_loop().time() + self._config.throttle_give_up
        while True:
            resp = await fut
            if resp is None:
                self._stats.errors += 1
                raise TemporaryCarrierError(
                    f"connector {self.name}: connection lost before submit_sm_resp "
                    "(the part may have been accepted)",
                    cause=Cause.SYSTEM_ERROR,
                )
            if resp.command_status not in THROTTLING:
                if resp.command_status == _S.ESME_ROK and isinstance(resp, SubmitSmResp):
                    self._stats.acked += 1
                else:
                    self._stats.errors += 1
                return resp
            self._stats.throttled += 1
            if self._rate.throttled():
                self._log.warning(
                    "smpp.throttled", status=resp.command_status, rate=_round(self._rate.rate)
                )
            if asyncio.get_running_loop().time() > give_up:
                raise TemporaryCarrierError(
                    f"connector {self.name}: still throttled after "
                    f"{self._config.throttle_give_up:g} s",
                    cause=Cause.THROTTLED,
                )
            resent = await self._send(frame)
            assert resent is not None  # no ``unless``
            fut = resent

    async def _bound_session(self) -> SmppSession:
        if not self._stopping and self._runner is not None:
            await self.wait_ready(self._config.response_timeout)
        session = self._session
        if session is None or not session.bound or session.closed or self._stopping:
            raise TemporaryCarrierError(
                f"connector {self.name} not bound", cause=Cause.SYSTEM_ERROR
            )
        return session


def _round(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 1)
