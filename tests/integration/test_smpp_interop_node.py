"""The SMPP connector against an independent implementation: an SMSC on the npm ``smpp`` package.

``tests/interop/smsc.js`` answers with hex or decimal message ids, throttles every Nth submit,
sends a receipt per accepted part (quoting hex ids in decimal) and drops every client socket on
request. The connector must keep every message: each submission returns outcomes (the test
retries ``TemporaryCarrierError`` as the dispatcher would) and each id it returned gets a
receipt that correlates with it.

Skipped when ``node`` or ``tests/interop/node_modules`` is missing (``npm ci --prefix
tests/interop`` installs it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from todoke.carriers.smpp.connector import (
    InboundMessage,
    PartOutcome,
    ReceiptEvent,
    SmppConfig,
    SmppConnector,
    Submission,
)
from todoke.carriers.smpp.receipt import message_id_candidates, normalize_message_id
from todoke.errors import TemporaryCarrierError

from .smsc_stub import eventually

INTEROP = Path(__file__).resolve().parents[1] / "interop"
NODE = shutil.which("node")
if NODE is None:
    pytest.skip(
        "node is not installed: no independent SMSC to test against", allow_module_level=True
    )
if not (INTEROP / "node_modules" / "smpp").is_dir():
    pytest.skip(
        "tests/interop/node_modules is missing: run `npm ci --prefix tests/interop`",
        allow_module_level=True,
    )

WINDOW = 20
MESSAGES = 300


class NodeSmsc:
    """The node SMSC as a subprocess: commands on stdin, answers on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port

    @classmethod
    async def start(cls, *args: str) -> NodeSmsc:
        assert NODE is not None
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(INTEROP / "smsc.js"),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        word, port = line.decode().split()
        assert word == "listening"
        return cls(proc, int(port))

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{line}\n".encode())
        await self.proc.stdin.drain()

    async def stats(self) -> dict[str, int]:
        assert self.proc.stdout is not None
        await self.command("stats")
        line = await asyncio.wait_for(self.proc.stdout.readline(), 5)
        word, payload = line.decode().split(" ", 1)
        assert word == "stats"
        result: dict[str, int] = json.loads(payload)
        return result

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        assert self.proc.stdout is not None
        await self.proc.stdout.read()


@pytest.fixture(
    params=[
        pytest.param(("hex", "7", False), id="hex-ids-decimal-receipts"),
        pytest.param(("dec", "5", True), id="decimal-ids-receipt-tlv"),
    ]
)
async def node_smsc(request: pytest.FixtureRequest) -> AsyncIterator[NodeSmsc]:
    id_format, throttle_every, tlv = request.param
    args = ["--id-format", id_format, "--throttle-every", throttle_every, "--resp-delay", "1"]
    smsc = await NodeSmsc.start(*args, *(["--receipt-tlv"] if tlv else []))
    try:
        yield smsc
    finally:
        await smsc.stop()


def _submission(i: int) -> Submission:
    destination = f"+8190{i:08d}"
    if i % 10 == 0:  # a 2-part GSM-7 message
        return Submission(f"m{i}", "12345", destination, f"long {i} " + "x" * 200, "GSM7")
    if i % 3 == 0:
        return Submission(f"m{i}", "12345", destination, f"届け {i} のテスト", "UCS2")
    return Submission(f"m{i}", "12345", destination, f"message {i}", "GSM7")


async def test_interop_with_npm_smpp_smsc(node_smsc: NodeSmsc) -> None:
    receipts: list[ReceiptEvent] = []
    inbound: list[InboundMessage] = []

    async def on_receipt(event: ReceiptEvent) -> None:
        receipts.append(event)

    async def on_inbound(message: InboundMessage) -> None:
        inbound.append(message)

    cfg = SmppConfig(
        name="node",
        host="127.0.0.1",
        port=node_smsc.port,
        system_id="todoke",
        password="secret",
        window=WINDOW,
        response_timeout=3.0,
        reconnect_min=0.05,
        reconnect_max=0.5,
        throttle_pause=0.02,
    )
    connector = SmppConnector(cfg, on_receipt=on_receipt, on_inbound=on_inbound)
    await connector.start()
    retries = 0

    async def submit(sub: Submission) -> list[PartOutcome]:
        nonlocal retries
        for _ in range(20):
            try:
                return await connector.submit(sub)
            except TemporaryCarrierError:
                retries += 1  # the dispatcher's retry (a duplicate risk for in-flight parts)
                await connector.wait_ready(5.0)
        raise AssertionError(f"{sub.key} never went through")

    try:
        assert await connector.wait_ready(5.0)
        load = asyncio.gather(*(submit(_submission(i)) for i in range(MESSAGES)))
        await eventually(lambda: connector.stats.acked >= MESSAGES // 3, timeout=10)
        await node_smsc.command("disconnect")
        results = await asyncio.wait_for(load, 30)

        ids: dict[str, str] = {}  # correlation key -> message id as given
        for i, outcomes in enumerate(results):
            assert [o.seq for o in outcomes] == list(range(1, outcomes[0].total + 1))
            assert outcomes[0].total == (2 if i % 10 == 0 else 1)
            for o in outcomes:
                assert o.command_status == 0 and o.message_id
                ids[normalize_message_id(o.message_id)] = o.message_id
        assert len(ids) == sum(len(outcomes) for outcomes in results)

        def unmatched() -> set[str]:
            seen = {
                key
                for event in receipts
                for key in message_id_candidates(event.receipt.message_id)
                if key in ids
            }
            return set(ids) - seen

        await eventually(lambda: not unmatched(), timeout=10)
        # Receipts for parts whose submit_sm_resp was lost in the disconnect match no id;
        # there can be no more of them than the window held.
        orphans = [
            event
            for event in receipts
            if not any(key in ids for key in message_id_candidates(event.receipt.message_id))
        ]
        assert len(orphans) <= WINDOW
        assert all(event.receipt.stat == "DELIVRD" for event in receipts)

        await node_smsc.command("mo")
        await eventually(lambda: bool(inbound))
        [mo] = inbound
        assert (mo.source, mo.destination, mo.text) == (
            "+819011112222",
            "12345",
            "インターオペラビリティ確認",
        )

        stats = connector.stats
    finally:
        await connector.stop()
    smsc: dict[str, Any] = await node_smsc.stats()

    assert smsc["invalid"] == 0
    assert smsc["max_outstanding"] <= WINDOW
    assert smsc["udh_parts"] >= 2 * (MESSAGES // 10)
    assert smsc["throttled"] > 0 and stats.throttled > 0
    assert stats.reconnects >= 1 and smsc["binds"] >= 2
    assert retries > 0  # parts were in flight when the SMSC dropped the link
    assert smsc["mo_acked"] == 2
    assert smsc["unbinds"] == 1
