"""The 絶対リーチ! façade end to end: mt.json → dispatcher → SMPP → simulator → receipt →
status.json (1, then 2 or 3 with its detailedStatusId) → the DLR push document, POSTed to a
loopback HTTP receiver as the outbox will send it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import Tenant
from tests.integration.zettai_client import ZettaiClient
from todoke.api.compat.zettai_reach import DLR_TIMEOUT_SECONDS, dlr_payload, format_dlr, should_push
from todoke.app import Runtime, create_app
from todoke.domain.message import MessageFilter

DELIVER = "09012349900"
UNKNOWN_NUMBER = "09012349903"  # 欠番: permanent


@pytest.fixture
async def zr(engine: Runtime) -> AsyncIterator[ZettaiClient]:
    issued = await engine.services.accounts.create("zettai", sms_code="44444")
    app = create_app(engine.settings, engine)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield ZettaiClient(http, Tenant(issued.account.id, "44444", issued.token))


async def wait_status(
    zr: ZettaiClient, tag: str, *, not_: str, timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        item: dict[str, Any] = (await zr.call("status", clientTag=tag))["status"][0]
        if item["statusId"] != not_ or time.monotonic() > deadline:
            return item
        await asyncio.sleep(0.05)


class Receiver:
    """A loopback HTTP server that records form posts (the customer's DLR endpoint)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/dlr"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.bodies.append((headers, body))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_send_status_and_dlr(zr: ZettaiClient, engine: Runtime) -> None:
    await zr.expect(
        "mt", 0, "Success.", message="認証コード 1234", phoneNumber=DELIVER, clientTag="ok-1"
    )
    await zr.expect(
        "mt",
        0,
        "Success.",
        message="x",
        phoneNumber=UNKNOWN_NUMBER,
        clientTag="ko-1",
        carrierId="103",
    )
    first = (await zr.call("status", clientTag="ok-1"))["status"][0]
    assert first["statusId"] in ("1", "2")  # 配信中 until the receipt is stored

    delivered = await wait_status(zr, "ok-1", not_="1")
    assert delivered["statusId"] == "2", delivered
    assert delivered["separatedSuccessCount"] == 1
    assert delivered["carrierId"] in ("101", "103", "105", "106")
    failed = await wait_status(zr, "ko-1", not_="1")
    assert (failed["statusId"], failed["carrierId"], failed["carrierName"]) == (
        "3",
        "103",
        "Docomo",
    )
    assert failed["detailedStatusId"] == "31732"  # docomo module 31 + 732 欠番
    assert failed["separatedSuccessCount"] == 0

    # The DLR push of both, as the outbox sends it (json= form field), to a real receiver.
    await engine.services.zettai.update(zr.who.client_id, dlr_url="http://x", dlr_format="json")
    account = await engine.services.accounts.get(zr.who.client_id)
    found = await engine.services.messages.find(account, MessageFilter())
    settings = await engine.services.zettai.get(zr.who.client_id)
    pushed = [m for m in found if should_push(m, settings.dlr_url)]
    assert {m.client_tag for m in pushed} == {"ok-1", "ko-1"}
    receiver = Receiver()
    url = await receiver.start()
    try:
        for m in pushed:
            headers, body, _ = format_dlr(dlr_payload([m]), settings)
            async with httpx.AsyncClient(timeout=DLR_TIMEOUT_SECONDS) as http:
                r = await http.post(url, content=body, headers=headers)
            assert r.status_code == 200
    finally:
        await receiver.stop()
    received = {}
    for headers, body in receiver.bodies:
        assert headers["content-type"].startswith("application/x-www-form-urlencoded")
        doc = json.loads(parse_qs(body.decode("ascii"))["json"][0])
        item = doc["eventNotifications"][0]
        received[item["clientTag"]] = item
    assert received["ok-1"]["statusId"] == "2" and received["ok-1"]["separatedSuccessCount"] == 1
    assert received["ko-1"]["detailedStatusId"] == 31732
    assert received["ok-1"]["clientId"] == str(zr.who.client_id)

    # The month's count includes nothing of today (only up to the previous day).
    from datetime import datetime, timedelta, timezone

    month = datetime.now(timezone(timedelta(hours=9))).strftime("%Y%m")
    assert (await zr.call("count", month=month))["separatedSuccessCount"] == []
