"""The delivery engine end to end: /v1 → dispatcher → SMPP → simulator → receipt → status.

Real database, real loopback SMPP between our connector and the built-in simulator. Outcomes
are forced by the destination's last four digits (the simulator's suffix table).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import Tenant
from todoke.app import Runtime
from todoke.domain.routing import MaintenanceWindow, WindowEffect
from todoke.services.messages import now_ms
from todoke.store.routing import RoutingStore
from todoke.store.tables import attempts, messages

DELIVER = "090-1234-9900"  # always delivered
ABSENT = "090-1234-9901"  # 圏外: temporary, retried
UNKNOWN_NUMBER = "090-1234-9903"  # permanent
PARTIAL = "090-1234-9906"  # docomo 一部受信 of a long message
ABSENT_ONCE = "090-1234-9909"  # first attempt absent, then delivered
NO_RECEIPT = "090-1234-9908"


@pytest.fixture
async def sender(engine: Runtime) -> Tenant:
    issued = await engine.services.accounts.create("sender", sms_code="33333")
    return Tenant(issued.account.id, "33333", issued.token)


async def send(api: httpx.AsyncClient, who: Tenant, **body: Any) -> dict[str, Any]:
    r = await api.post("/v1/messages", json=body, headers=who.headers)
    assert r.status_code == 202, r.text
    result: dict[str, Any] = r.json()
    return result


async def wait_final(
    api: httpx.AsyncClient, who: Tenant, mid: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await api.get(f"/v1/messages/{mid}", headers=who.headers)).json()
        if body["status"]["groupId"] != 1 or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.05)


async def history(api: httpx.AsyncClient, who: Tenant, mid: str) -> list[str]:
    r = await api.get(f"/v1/messages/{mid}/events", headers=who.headers)
    return [e["status"]["name"] for e in r.json()["events"]]


async def test_message_is_delivered_with_history(api: httpx.AsyncClient, sender: Tenant) -> None:
    sent = await send(api, sender, to=DELIVER, text="認証コードは 123456 です")
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET", final
    assert final["deliveredParts"] == final["billableParts"] == 1
    assert final["attempts"] == 1
    assert final["sentAt"] and final["doneAt"]
    assert await history(api, sender, sent["id"]) == [
        "PENDING_ACCEPTED",
        "PENDING_ENROUTE",
        "PENDING_WAITING_DELIVERY",
        "DELIVERED_TO_HANDSET",
    ]


async def test_long_japanese_message_goes_in_ucs2_parts(
    api: httpx.AsyncClient, sender: Tenant
) -> None:
    text = ("お知らせ：明日の予約は午前十時です。" * 30)[:400]
    sent = await send(api, sender, to=DELIVER, text=text)
    assert sent["encoding"] == "UCS2" and sent["parts"] == 6
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert final["deliveredParts"] == 6


async def test_permanent_failure_is_final_without_retry(
    api: httpx.AsyncClient, sender: Tenant
) -> None:
    sent = await send(api, sender, to=UNKNOWN_NUMBER, text="x")
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["groupName"] in ("UNDELIVERABLE", "REJECTED"), final
    assert final["error"]["permanent"] is True
    assert final["attempts"] == 1
    assert final["billableParts"] == 0


async def test_temporary_failure_is_retried(api: httpx.AsyncClient, sender: Tenant) -> None:
    sent = await send(api, sender, to=ABSENT_ONCE, text="retry me")
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET", final
    assert final["attempts"] == 2
    names = await history(api, sender, sent["id"])
    assert names.count("PENDING_ENROUTE") == 2
    assert "PENDING_ACCEPTED" in names[1:]  # requeued after the failure


async def test_retries_end_at_validity(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    sent = await send(api, sender, to=ABSENT, text="never reachable", validityPeriod=60)
    # Let the first attempt fail, then bring the end of validity close instead of waiting 60 s.
    deadline = time.monotonic() + 20
    while True:
        body = (await api.get(f"/v1/messages/{sent['id']}", headers=sender.headers)).json()
        if (body["attempts"] >= 1 and "error" in body) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    async with engine.db.engine.begin() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.id == sent["id"])
            .values(validity_until=now_ms() + 1500)
        )
    final = await wait_final(api, sender, sent["id"], timeout=30)
    assert final["status"]["groupName"] == "EXPIRED", final
    assert final["attempts"] >= 2


async def test_docomo_partial_delivery(api: httpx.AsyncClient, sender: Tenant) -> None:
    sent = await send(api, sender, to=PARTIAL, text="あ" * 200, carrier="docomo")
    final = await wait_final(api, sender, sent["id"])
    assert final["error"]["name"], final
    assert 0 < final["deliveredParts"] < final["parts"]
    assert final["billableParts"] == 0


async def wait_status(
    api: httpx.AsyncClient, who: Tenant, mid: str, name: str, timeout: float = 20
) -> dict[str, Any]:
    """Poll until the message has status ``name`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await api.get(f"/v1/messages/{mid}", headers=who.headers)).json()
        if body["status"]["name"] == name:
            return body
        assert time.monotonic() < deadline, f"still {body['status']['name']}, not {name}"
        await asyncio.sleep(0.05)


async def test_scheduled_message_waits(api: httpx.AsyncClient, sender: Tenant) -> None:
    at = time.time() + 3
    from datetime import datetime, timedelta, timezone

    when = datetime.fromtimestamp(at, timezone(timedelta(hours=9))).isoformat()
    sent = await send(api, sender, to=DELIVER, text="later", scheduleAt=when)
    assert sent["status"]["name"] == "PENDING_SCHEDULED"
    await asyncio.sleep(0.5)
    early = (await api.get(f"/v1/messages/{sent['id']}", headers=sender.headers)).json()
    assert early["status"]["name"] == "PENDING_SCHEDULED"
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert final["sentAt"] >= sent["scheduleAt"]


async def test_expired_before_sending(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    sent = await send(api, sender, to=DELIVER, text="too late", scheduleAt=_jst_in(3600))
    async with engine.db.engine.begin() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.id == sent["id"])
            .values(due_at=now_ms() - 1, validity_until=now_ms() - 1)
        )
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["groupName"] == "EXPIRED"
    assert final["attempts"] == 0


async def test_maintenance_hold_then_release_in_order(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    store = RoutingStore(engine.db)
    now = now_ms()
    window = await store.add_window(
        MaintenanceWindow(0, "docomo", "sms", now - 1000, now + 3_600_000, WindowEffect.HOLD),
        now=now,
    )
    await engine.delivery.worker.refresh()  # type: ignore[union-attr]
    ids = [
        (await send(api, sender, to=DELIVER, text=f"held {i}", carrier="docomo"))["id"]
        for i in range(3)
    ]
    for i in ids:
        await wait_status(api, sender, i, "PENDING_HELD_MAINTENANCE")
    # The window is moved to end now: what it held goes out, in order.
    await store.change_window(window.id, starts_at=now - 1000, ends_at=now_ms(), now=now_ms())
    await engine.delivery.worker.refresh()  # type: ignore[union-attr]
    finals = [await wait_final(api, sender, i) for i in ids]
    assert {m["status"]["name"] for m in finals} == {"DELIVERED_TO_HANDSET"}
    sent_times = [m["sentAt"] for m in finals]
    assert sent_times == sorted(sent_times)


async def test_maintenance_cancelled_releases(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    store = RoutingStore(engine.db)
    now = now_ms()
    window = await store.add_window(
        MaintenanceWindow(0, "au", "sms", now - 1000, now + 3_600_000, WindowEffect.HOLD), now=now
    )
    await engine.delivery.worker.refresh()  # type: ignore[union-attr]
    sent = await send(api, sender, to=DELIVER, text="held", carrier="au")
    await wait_status(api, sender, sent["id"], "PENDING_HELD_MAINTENANCE")
    await store.cancel_window(window.id, now=now_ms())
    await engine.delivery.worker.refresh()  # type: ignore[union-attr]
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET"


async def test_maintenance_refuse_answers_503(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    now = now_ms()
    await RoutingStore(engine.db).add_window(
        MaintenanceWindow(0, "softbank", "sms", now - 1000, now + 60_000, WindowEffect.REFUSE),
        now=now,
    )
    await asyncio.sleep(2.1)  # the accept path's calendar cache
    r = await api.post(
        "/v1/messages",
        json={"to": DELIVER, "text": "x", "carrier": "softbank"},
        headers=sender.headers,
    )
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "maintenance"
    ok = await api.post(
        "/v1/messages",
        json={"to": DELIVER, "text": "x", "carrier": "docomo"},
        headers=sender.headers,
    )
    assert ok.status_code == 202


async def test_failover_to_second_connector(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    """A route whose primary connector cannot bind sends through its fallback."""
    from todoke.domain.routing import ConnectorConfig

    assert engine.delivery and engine.delivery.simulator
    host, port = engine.delivery._simulator_address  # type: ignore[misc]
    store = RoutingStore(engine.db)
    now = now_ms()
    await store.add_connector(ConnectorConfig("dead", "127.0.0.1", 1, "x", "y"), now=now)
    await store.add_connector(ConnectorConfig("live", host, port, "rakuten", "sim"), now=now)
    await store.set_route(account_id=None, carrier="all", connector_names=["dead", "live"], now=now)
    await engine.delivery.worker.refresh()
    await engine.delivery.pool.get("live").wait_ready(5)  # type: ignore[union-attr]
    sent = await send(api, sender, to=DELIVER, text="via fallback")
    final = await wait_final(api, sender, sent["id"])
    assert final["status"]["name"] == "DELIVERED_TO_HANDSET"
    async with engine.db.connect() as conn:
        used = (
            (
                await conn.execute(
                    sa.select(attempts.c.connector).where(attempts.c.message_id == sent["id"])
                )
            )
            .scalars()
            .all()
        )
    assert used == ["live"]


async def test_many_messages_all_reach_a_final_status(
    api: httpx.AsyncClient, sender: Tenant
) -> None:
    batch = [{"to": f"080{i:04d}9900", "text": f"batch {i}"} for i in range(300)]
    r = await api.post("/v1/messages/batch", json={"messages": batch}, headers=sender.headers)
    assert r.json()["accepted"] == 300
    ids = [x["id"] for x in r.json()["results"]]
    finals = [await wait_final(api, sender, i) for i in ids]
    assert {m["status"]["name"] for m in finals} == {"DELIVERED_TO_HANDSET"}


def _jst_in(seconds: float) -> str:
    from datetime import datetime, timedelta, timezone

    return datetime.fromtimestamp(time.time() + seconds, timezone(timedelta(hours=9))).isoformat()


async def test_maintenance_fallback_uses_the_windows_connector(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    """A ``fallback`` window sends its carrier's messages through its fallback connector."""
    from todoke.domain.routing import ConnectorConfig

    assert engine.delivery
    host, port = engine.delivery._simulator_address  # type: ignore[misc]
    store = RoutingStore(engine.db)
    now = now_ms()
    # Configured connectors replace the implicit simulator ones (as on a real installation).
    await store.add_connector(ConnectorConfig("main", host, port, "docomo", "sim"), now=now)
    await store.add_connector(ConnectorConfig("alt", host, port, "rakuten", "sim"), now=now)
    await store.set_route(account_id=None, carrier="all", connector_names=["main"], now=now)
    await store.add_window(
        MaintenanceWindow(
            0,
            "docomo",
            "sms",
            now - 1000,
            now + 60_000,
            WindowEffect.FALLBACK,
            fallback_connector="alt",
        ),
        now=now,
    )
    await engine.delivery.worker.refresh()
    for name in ("main", "alt"):
        await engine.delivery.pool.get(name).wait_ready(5)  # type: ignore[union-attr]
    during = await send(api, sender, to=DELIVER, text="via the window's fallback", carrier="docomo")
    other = await send(api, sender, to=DELIVER, text="au is not in maintenance", carrier="au")
    for sent in (during, other):
        final = await wait_final(api, sender, sent["id"])
        assert final["status"]["name"] == "DELIVERED_TO_HANDSET"
    async with engine.db.connect() as conn:
        used = dict(
            (
                await conn.execute(
                    sa.select(attempts.c.message_id, attempts.c.connector).where(
                        attempts.c.message_id.in_([during["id"], other["id"]])
                    )
                )
            ).all()
        )
    assert used == {during["id"]: "alt", other["id"]: "main"}


async def test_metrics_report_queue_and_connectors(
    engine: Runtime, api: httpx.AsyncClient, sender: Tenant
) -> None:
    """``GET /metrics`` is Prometheus text with the queue and each connector's counters."""
    from prometheus_client.parser import text_string_to_metric_families

    sent = await send(api, sender, to=DELIVER, text="counted", carrier="softbank")
    await wait_final(api, sender, sent["id"])
    later = await send(api, sender, to=DELIVER, text="later", scheduleAt=_jst_in(3600))
    assert later["status"]["name"] == "PENDING_SCHEDULED"

    r = await api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    assert samples[("todoke_queue_messages", (("state", "waiting"),))] == 1
    assert samples[("todoke_queue_messages", (("state", "leased"),))] == 0
    assert samples[("todoke_connector_up", (("name", "sim-softbank"),))] == 1
    assert samples[("todoke_connector_acked_total", (("name", "sim-softbank"),))] == 1
    assert samples[("todoke_connector_receipts_total", (("name", "sim-softbank"),))] == 1
    assert samples[("todoke_connector_submitted_total", (("name", "sim-docomo"),))] == 0
    assert samples[("todoke_dispatch_running", ())] == 1
    assert ("process_resident_memory_bytes", ()) in samples
