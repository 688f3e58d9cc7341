"""The set of live carrier connections of a process, as the dispatcher's ``ConnectorsPort``.

The pool owns one :class:`SmppConnector` per configured connector, starts and stops them as the
operator's configuration changes, and converts between SMPP records and the service layer's
(message ids normalised for correlation, receipts with their candidate ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, cast

import structlog

from todoke.carriers.smpp.connector import (
    InboundMessage,
    ReceiptEvent,
    SmppConfig,
    SmppConnector,
    Submission,
)
from todoke.carriers.smpp.receipt import message_id_candidates, normalize_message_id
from todoke.domain.routing import ConnectorConfig
from todoke.errors import TemporaryCarrierError
from todoke.services.dispatch import OutboundSubmission, PartResult
from todoke.services.ports import ReceiptIn

log = structlog.get_logger(__name__)

ReceiptSink = Callable[[list[ReceiptIn]], Awaitable[None]]
InboundSink = Callable[[InboundMessage], Awaitable[None]]


def smpp_config(c: ConnectorConfig) -> SmppConfig:
    opts = dict(c.options)
    return SmppConfig(
        name=c.name,
        host=c.host,
        port=c.port,
        system_id=c.system_id,
        password=c.password,
        system_type=c.system_type,
        window=c.window,
        tps=c.tps,
        gsm7_packed=bool(opts.get("gsm7_packed", False)),
        concat_ref16=bool(opts.get("concat_ref16", False)),
    )


def receipt_keys(message_id: str) -> tuple[str, ...]:
    """The normalised ids a receipt for the part acknowledged with ``message_id`` may quote.

    The inverse of matching a receipt to a stored part: a receipt that overtook its
    submit_sm_resp is kept as an orphan under ``normalize_message_id`` of its own id, which for
    an SMSC that answers in hex and reports in decimal (or the reverse) is not the part's key.
    The forms are symmetric, so the candidates of the part's id, normalised, include it.
    """
    return tuple(dict.fromkeys(normalize_message_id(c) for c in message_id_candidates(message_id)))


class ConnectorPool:
    """Live connectors by name; implements the dispatcher's ``ConnectorsPort``."""

    def __init__(self) -> None:
        self._connectors: dict[str, SmppConnector] = {}
        self._configs: dict[str, ConnectorConfig] = {}
        self._receipt_sink: ReceiptSink | None = None
        self._inbound_sink: InboundSink | None = None

    def bind(self, *, receipts: ReceiptSink, inbound: InboundSink) -> None:
        """Where receipts and inbound messages go (the dispatcher, once it exists)."""
        self._receipt_sink = receipts
        self._inbound_sink = inbound

    @property
    def names(self) -> list[str]:
        return sorted(self._connectors)

    def get(self, name: str) -> SmppConnector | None:
        return self._connectors.get(name)

    async def sync(self, configs: Iterable[ConnectorConfig]) -> None:
        """Start new or changed connectors, stop removed ones."""
        wanted = {c.name: c for c in configs}
        for name in list(self._connectors):
            if name not in wanted or wanted[name] != self._configs.get(name):
                await self._connectors.pop(name).stop()
                self._configs.pop(name, None)
                log.info("connector.stopped", connector=name)
        for name, config in wanted.items():
            if name in self._connectors:
                continue
            connector = SmppConnector(
                smpp_config(config), on_receipt=self._on_receipt, on_inbound=self._on_inbound
            )
            self._connectors[name] = connector
            self._configs[name] = config
            await connector.start()
            log.info("connector.started", connector=name, smpp=f"{config.host}:{config.port}")

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self._connectors.values()))
        self._connectors.clear()
        self._configs.clear()

    async def wait_ready(self, timeout: float) -> bool:
        results = await asyncio.gather(*(c.wait_ready(timeout) for c in self._connectors.values()))
        return all(results)

    # --- ConnectorsPort ----------------------------------------------------------------

    def is_ready(self, name: str) -> bool:
        connector = self._connectors.get(name)
        return connector is not None and connector.ready

    async def submit(self, name: str, submission: OutboundSubmission) -> list[PartResult]:
        connector = self._connectors.get(name)
        if connector is None:
            raise TemporaryCarrierError(f"connector {name} is not running", cause="system_error")
        outcomes = await connector.submit(
            Submission(
                key=submission.key,
                source=submission.source,
                destination=submission.destination,
                text=submission.text,
                encoding=cast(Literal["GSM7", "UCS2"], submission.encoding),
                validity_until_ms=submission.validity_until_ms,
            )
        )
        return [
            PartResult(
                seq=o.seq,
                total=o.total,
                smsc_id=normalize_message_id(o.message_id) if o.message_id else None,
                smsc_id_raw=o.message_id,
                command_status=o.command_status,
                receipt_keys=receipt_keys(o.message_id) if o.message_id else (),
            )
            for o in outcomes
        ]

    # --- from the connectors -----------------------------------------------------------

    async def _on_receipt(self, event: ReceiptEvent) -> None:
        if self._receipt_sink is None:
            raise RuntimeError("no receipt sink yet")  # the SMSC will redeliver it
        r = event.receipt
        await self._receipt_sink(
            [
                ReceiptIn(
                    connector=event.connector,
                    # Parts are stored under their normalised key: only the candidates'
                    # normalised forms can match (half the lookup parameters).
                    candidates=receipt_keys(r.message_id),
                    stat=r.stat,
                    err=r.err,
                    at=event.received_at_ms,
                    key=normalize_message_id(r.message_id),
                )
            ]
        )

    async def _on_inbound(self, message: InboundMessage) -> None:
        if self._inbound_sink is not None:
            await self._inbound_sink(message)
