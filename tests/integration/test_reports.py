"""CSV exports (UTF-8, UTF-8 with BOM, Shift_JIS) and the new /v1/messages filters."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import tracemalloc
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import Tenant
from todoke.app import Runtime, create_app
from todoke.domain.ids import time_ordered_id
from todoke.services.messages import now_ms
from todoke.services.reports import CSV_COLUMNS
from todoke.store.tables import messages

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

JST = timezone(timedelta(hours=9))


def message_row(account_id: int, at: int, i: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": time_ordered_id(at),
        "account_id": account_id,
        "sender_code": "11111",
        "to_number": f"+8190{i % 100_000_000:08d}",
        "text": f"お知らせ {i}",
        "encoding": "UCS2",
        "parts": 1 + i % 3,
        "characters": 10,
        "carrier": ["docomo", "au", "softbank", "rakuten"][i % 4],
        "carrier_explicit": False,
        "client_tag": f"タグ-{i}",
        "group_tag": "キャンペーン",
        "webhook_url": None,
        "schedule_at": None,
        "validity_until": at + 48 * 3600 * 1000,
        "status": "DELIVERED_TO_HANDSET",
        "status_group": 3,
        "cause": "delivered",
        "error_code": None,
        "attempts": 1,
        "delivered_parts": 1 + i % 3,
        "billable_parts": 1 + i % 3,
        "created_at": at,
        "updated_at": at + 1000,
        "sent_at": at + 500,
        "done_at": at + 1000,
    }
    row.update(extra)
    return row


async def insert(rt: Runtime, rows: list[dict[str, Any]]) -> None:
    async with rt.db.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(messages.insert(), rows[i : i + 5000])


async def test_csv_columns_and_encodings(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    at = now_ms() - 3600_000
    rows = [
        message_row(tenant.client_id, at, 1),
        message_row(
            tenant.client_id,
            at + 1,
            2,
            status="UNDELIVERABLE_NOT_DELIVERED",
            status_group=2,
            cause="absent_subscriber",
            error_code="EC_ABSENT_SUBSCRIBER_SM",
            billable_parts=0,
            delivered_parts=0,
            client_tag="=HYPERLINK(1)",
            carrier="au",
            to_number="+812012345678",
        ),
        message_row(other_tenant.client_id, at, 3),
    ]
    await insert(runtime, rows)
    day = datetime.fromtimestamp(at / 1000, JST).date().isoformat()
    base = f"/v1/reports/messages.csv?from={day}&to={day}"
    r = await client.get(base, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert not r.content.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 3  # the other account's message is not there
    first = dict(zip(CSV_COLUMNS, table[1], strict=True))
    assert first["to"] == "090-0000-0001"
    assert first["clientTag"] == "タグ-1" and first["groupTag"] == "キャンペーン"
    assert first["status"] == "DELIVERED_TO_HANDSET" and first["mediaSmsStatus"] == "送信済"
    assert first["billableParts"] == "2" and first["createdAt"].startswith(day)
    second = dict(zip(CSV_COLUMNS, table[2], strict=True))
    assert second["to"] == "020-1234-5678"
    assert second["error"] == "EC_ABSENT_SUBSCRIBER_SM" and second["errorId"] == "6"
    assert second["detailCode"] == "11833"  # 絶対リーチ! detailedStatusId: au 圏外
    assert second["clientTag"] == "'=HYPERLINK(1)"  # not a formula in Excel

    bom = await client.get(base + "&encoding=utf-8-bom", headers=tenant.headers)
    assert bom.content.startswith(codecs.BOM_UTF8)
    assert bom.content[3:] == r.content
    sjis = await client.get(base + "&encoding=shift_jis", headers=tenant.headers)
    assert "Shift_JIS" in sjis.headers["content-type"]
    assert sjis.content.decode("cp932") == r.content.decode("utf-8")

    for query, field in [
        ("from=2026-13-01&to=2026-11-02", "from"),
        (f"from={day}&to={day}&encoding=latin-1", "encoding"),
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("to=2026-11-01", None),
    ]:
        bad = await client.get(f"/v1/reports/messages.csv?{query}", headers=tenant.headers)
        assert bad.status_code == 400, (query, bad.text)
        if field:
            assert bad.json()["error"]["field"] == field


async def test_message_list_filters_final_and_sent_range(
    runtime: Runtime, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    at = now_ms() - 7200_000
    await insert(
        runtime,
        [
            message_row(tenant.client_id, at, 1),
            message_row(
                tenant.client_id, at + 5, 2, status="PENDING_WAITING_DELIVERY", status_group=1
            ),
            message_row(
                tenant.client_id,
                at + 10,
                3,
                sent_at=None,
                status="PENDING_ACCEPTED",
                status_group=1,
            ),
        ],
    )

    async def tags(query: dict[str, str]) -> list[str]:
        r = await client.get("/v1/messages", params=query, headers=tenant.headers)
        assert r.status_code == 200, r.text
        return sorted(m["clientTag"] for m in r.json()["messages"])

    assert await tags({"final": "true"}) == ["タグ-1"]
    assert await tags({"final": "false"}) == ["タグ-2", "タグ-3"]
    sent_from = datetime.fromtimestamp((at + 503) / 1000, JST).isoformat()
    assert await tags({"sentFrom": sent_from}) == ["タグ-2"]
    sent_to = datetime.fromtimestamp((at + 503) / 1000, JST).isoformat()
    assert await tags({"sentTo": sent_to}) == ["タグ-1"]


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[str]:
    """The app on a real loopback socket (the ASGI test transport buffers whole bodies)."""
    config = uvicorn.Config(
        create_app(runtime.settings, runtime),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn's Server.started is a flag
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.mark.timeout(600)
async def test_csv_export_streams_in_bounded_memory(
    runtime: Runtime, served: str, tenant: Tenant
) -> None:
    start = now_ms() - 24 * 3600_000
    n, chunk = 24_000, 4_000
    for k in range(0, n, chunk):
        await insert(
            runtime, [message_row(tenant.client_id, start + i, i) for i in range(k, k + chunk)]
        )
    begin = datetime.fromtimestamp(start / 1000, JST).isoformat()
    end = datetime.fromtimestamp((start + n + 1) / 1000, JST).isoformat()

    # Memory, measured where the rows are read and encoded (UTF-8 with BOM): exporting eight
    # times the rows must not take more memory at its peak (the rows are streamed).
    reports = runtime.services.reports
    assert reports is not None

    async def export(rows: int) -> tuple[int, int]:
        assert reports is not None
        tracemalloc.start()
        chunks = await reports.export_csv(
            tenant.client_id, start=start, end=start + rows, encoding="utf-8-bom"
        )
        total = lines = 0
        async for chunk in chunks:
            total += len(chunk)
            lines += chunk.count(b"\r\n")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert lines == rows + 1
        return peak, total

    await export(100)  # warm-up: compiled statements and caches are not the export's memory
    small_peak, small_total = await export(n // 8)
    peak, total = await export(n)
    assert total > 7 * small_total
    assert peak < 1.5 * small_peak + 256 * 1024, (small_peak, peak, small_total, total)

    # Over a real socket, in Shift_JIS: many chunks, every row, the last one intact.
    async with httpx.AsyncClient(base_url=served, timeout=600) as http:
        params = {"from": begin, "to": end, "encoding": "shift_jis"}
        received = count = lines = 0
        tail = b""
        async with http.stream(
            "GET", "/v1/reports/messages.csv", params=params, headers=tenant.headers
        ) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_bytes():
                received += len(chunk)
                count += 1
                lines += chunk.count(b"\r\n")
                tail = (tail + chunk)[-400:]
    assert lines == n + 1 and count > 20
    assert f"タグ-{n - 1}".encode("cp932") in tail
