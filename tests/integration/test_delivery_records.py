"""Recording submissions and receipts on real databases: early receipts in every id dialect,
idempotent recording, a late record that must not overtake a newer attempt.

The connectors port is the network edge: a fake SMSC answers each submission with the message
id a real SMSC of the dialect under test would give, converted as the connector pool converts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.carriers.pool import receipt_keys
from todoke.carriers.smpp.receipt import normalize_message_id
from todoke.domain.routing import Route, RoutingSnapshot
from todoke.services.dispatch import (
    Dispatcher,
    DispatchPolicy,
    OutboundSubmission,
    PartResult,
)
from todoke.services.messages import now_ms
from todoke.services.ports import ReceiptIn
from todoke.store.delivery import DeliveryStore
from todoke.store.tables import attempt_parts, attempts, message_events, orphan_receipts

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

CONNECTOR = "smsc-a"


class SmscAnswers:
    """The connectors port: ready, and answering with the next scripted message id."""

    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)
        self.submitted: list[OutboundSubmission] = []

    def is_ready(self, name: str) -> bool:
        return name == CONNECTOR

    async def submit(self, name: str, submission: OutboundSubmission) -> list[PartResult]:
        self.submitted.append(submission)
        raw = self.ids.pop(0)
        return [PartResult(1, 1, normalize_message_id(raw), raw, 0, receipt_keys(raw))]


def dispatcher(runtime: Runtime, smsc: SmscAnswers, lease_ms: int = 60_000) -> Dispatcher:
    d = Dispatcher(
        DeliveryStore(runtime.db, runtime.writer),
        smsc,
        owner="test-worker",
        policy=DispatchPolicy(lease_ms=lease_ms),
    )
    d.update_routing(RoutingSnapshot((), (Route(None, "all", (CONNECTOR,)),), ()))
    return d


def receipt(receipt_id: str, stat: str = "DELIVRD") -> ReceiptIn:
    """A receipt as the connector pool hands it on."""
    return ReceiptIn(
        CONNECTOR,
        receipt_keys(receipt_id),
        stat,
        "000",
        now_ms(),
        key=normalize_message_id(receipt_id),
    )


async def send(
    client: httpx.AsyncClient, tenant: Tenant, text: str, to: str = "090-1234-5678"
) -> str:
    r = await client.post("/v1/messages", json={"to": to, "text": text}, headers=tenant.headers)
    assert r.status_code == 202, r.text
    mid: str = r.json()["id"]
    return mid


async def status_of(client: httpx.AsyncClient, tenant: Tenant, mid: str) -> dict[str, Any]:
    r = await client.get(f"/v1/messages/{mid}", headers=tenant.headers)
    body: dict[str, Any] = r.json()
    return body


async def count(runtime: Runtime, table: sa.Table, *where: Any) -> int:
    async with runtime.db.connect() as conn:
        value = await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    return int(value or 0)


@pytest.mark.parametrize(
    ("resp_id", "receipt_id"),
    [
        ("660f18a63b7dc", "660f18a63b7dc"),  # lower-case hex in both (au in the simulator)
        ("1A2B", "0000006699"),  # hex answer, zero-padded decimal receipt
        ("6699", "1a2b"),  # decimal answer, hex receipt
        ("000123", "123"),  # padded answer, bare receipt
    ],
)
async def test_receipt_before_its_submit_is_recorded_still_delivers(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant, resp_id: str, receipt_id: str
) -> None:
    mid = await send(client, tenant, "early receipt")
    d = dispatcher(runtime, SmscAnswers(resp_id))
    (job,) = await d.claim(10)
    # The SMSC's receipt overtakes its submit_sm_resp: nothing to match it to yet.
    await d.on_receipts([receipt(receipt_id)])
    assert await count(runtime, orphan_receipts) == 1
    await d.send(job)
    body = await status_of(client, tenant, mid)
    assert body["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert await count(runtime, orphan_receipts) == 0


async def test_many_receipts_in_one_commit(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # One number each: the flooding filter allows 20 messages per number and hour.
    ids = [await send(client, tenant, f"batch {i}", to=f"090{i:04d}5678") for i in range(40)]
    smsc_ids = [f"{7000 + i}" for i in range(40)]
    d = dispatcher(runtime, SmscAnswers(*smsc_ids))
    jobs = await d.claim(100)
    assert len(jobs) == 40
    await asyncio.gather(*(d.send(j) for j in jobs))
    # One receipt per connector callback, all at once: grouped into few transactions.
    await asyncio.gather(*(d.on_receipts([receipt(s)]) for s in smsc_ids))
    names = {(await status_of(client, tenant, m))["status"]["name"] for m in ids}
    assert names == {"DELIVERED_TO_HANDSET"}


async def test_recording_a_submission_twice_changes_nothing(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    mid = await send(client, tenant, "recorded twice")
    d = dispatcher(runtime, SmscAnswers("9001", "9001"))
    (job,) = await d.claim(10)
    await d.send(job)
    events = await count(runtime, message_events, message_events.c.message_id == mid)
    # The same outcome stored again (a retry whose first commit went through unanswered).
    await d.send(job)
    assert await count(runtime, attempt_parts, attempt_parts.c.message_id == mid) == 1
    assert await count(runtime, message_events, message_events.c.message_id == mid) == events
    await d.on_receipts([receipt("9001")])
    assert (await status_of(client, tenant, mid))["status"]["name"] == "DELIVERED_TO_HANDSET"


async def test_a_late_record_never_overtakes_the_newer_attempt(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    mid = await send(client, tenant, "late record")
    smsc = SmscAnswers("8001", "8002")
    d = dispatcher(runtime, smsc, lease_ms=1)
    (first,) = await d.claim(10)
    await asyncio.sleep(0.01)  # the lease runs out: another worker claims it again
    (second,) = await d.claim(10)
    assert second.attempt.number == 2
    await d.send(first)  # the first worker's outcome, stored late
    assert (await status_of(client, tenant, mid))["status"]["name"] == "PENDING_ENROUTE"
    async with runtime.db.connect() as conn:
        state = await conn.scalar(
            sa.select(attempts.c.state).where(attempts.c.id == first.attempt.id)
        )
    assert state == "unknown"  # a recorded duplicate risk
    await d.send(second)
    await d.on_receipts([receipt("8001"), receipt("8002")])
    body = await status_of(client, tenant, mid)
    assert body["status"]["name"] == "DELIVERED_TO_HANDSET"
    # Both copies reached the SMSC; the late one kept its parts for correlation.
    assert len(smsc.submitted) == 2
    assert await count(runtime, attempt_parts, attempt_parts.c.message_id == mid) == 2


async def test_stale_orphan_receipts_are_purged(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    d = dispatcher(runtime, SmscAnswers())
    # A receipt whose part was never stored (its sender died before recording it) ...
    old = receipt("5555")
    stale = ReceiptIn(old.connector, old.candidates, old.stat, old.err, old.at - 3_600_000, old.key)
    await d.on_receipts([stale, receipt("5556")])
    assert await count(runtime, orphan_receipts) == 2
    assert await d.purge_orphans() == 1  # ... goes; a recent one still waits for its part
    assert await count(runtime, orphan_receipts) == 1


async def test_part_and_its_early_receipt_stored_by_two_processes_meet(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Two writers (two processes on one PostgreSQL): the receipt's transaction is still open
    when the submission is recorded in another. The recorder waits for it and finds it."""
    from todoke.domain import status
    from todoke.services.dispatch import transition
    from todoke.services.ports import PartAck, SubmitRecord
    from todoke.store.delivery import _apply_receipts, _submit_handler

    if runtime.db.dialect != "postgresql":
        pytest.skip("one writer at a time on SQLite: the race needs two")
    mid = await send(client, tenant, "two processes")
    d = dispatcher(runtime, SmscAnswers())
    (job,) = await d.claim(10)
    now = now_ms()
    record = SubmitRecord(
        job.attempt.id,
        mid,
        CONNECTOR,
        "submitted",
        None,
        (PartAck(1, "4242", "4242", receipt_keys("4242")),),
        transition(job.message, status.WAITING_DELIVERY, now, due_at=now + 60_000, sent=True),
    )
    engine = runtime.db.engine
    async with engine.connect() as receiver, engine.connect() as recorder:
        receiving = await receiver.begin()
        await _apply_receipts(receiver, [receipt("4242")], d.decide_receipt)  # an orphan
        recording = await recorder.begin()
        task = asyncio.create_task(_submit_handler(recorder, [("w", record, d.decide_receipt)]))
        await asyncio.sleep(0.2)  # let the recorder reach the receipt's key
        await receiving.commit()
        await task
        await recording.commit()
    assert (await status_of(client, tenant, mid))["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert await count(runtime, orphan_receipts) == 0


async def test_a_message_held_by_a_stale_calendar_is_released_when_it_changes(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    from todoke.domain.routing import MaintenanceWindow, WindowEffect

    now = now_ms()
    routes = (Route(None, "all", (CONNECTOR,)),)
    window = MaintenanceWindow(1, "docomo", "sms", now - 1000, now + 3_600_000, WindowEffect.HOLD)
    d = dispatcher(runtime, SmscAnswers("7777"))
    d.update_routing(RoutingSnapshot((), routes, (window,)))
    r = await client.post(
        "/v1/messages",
        json={"to": "090-1234-5678", "text": "held", "carrier": "docomo"},
        headers=tenant.headers,
    )
    mid = r.json()["id"]
    # The window was cancelled, but this dispatcher's calendar still has it: held again.
    assert await d.claim(10) == []
    assert (await status_of(client, tenant, mid))["status"]["name"] == "PENDING_HELD_MAINTENANCE"
    # Its next refresh sees the change and looks at the held messages again.
    assert d.update_routing(RoutingSnapshot((), routes, ())) is True
    assert await d.release_held() == 1
    (job,) = await d.claim(10)
    await d.send(job)
    assert (await status_of(client, tenant, mid))["status"]["name"] == "PENDING_WAITING_DELIVERY"
    assert d.update_routing(RoutingSnapshot((), routes, ())) is False  # no change, no release
