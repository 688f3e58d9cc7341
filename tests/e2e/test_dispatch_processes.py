"""``TODOKE_DISPATCH_PROCESSES``: ``todoke serve`` delivers through supervised child workers.

A real ``todoke serve`` process with one ``todoke worker`` child (which runs the built-in
simulator, as ``todoke worker`` does with no connector configured): a message sent to the
serve's API is delivered by the child; a child killed with SIGKILL is started again and the
next message is delivered too; stopping the serve stops its children.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, reset_postgres
from tests.e2e.server import ServerProcess


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _final_status(c: httpx.AsyncClient, headers: dict[str, str], to: str) -> str:
    r = await c.post(
        "/v1/messages", json={"to": to, "text": f"子プロセスから {to}"}, headers=headers
    )
    assert r.status_code == 202, r.text
    mid = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = (await c.get(f"/v1/messages/{mid}", headers=headers)).json()["status"]
        if status["groupId"] != 1:
            return str(status["name"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"message {mid} not final within 60 s")


async def _a_child(pid: int, *, other_than: int = 0) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = [k for k in _children(pid) if k != other_than]
        if kids:
            return kids[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no worker child of {pid}")


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_serve_delivers_through_a_supervised_worker_child(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'todoke.db'}"
    else:
        await asyncio.to_thread(reset_postgres, PG_URL)
        url = PG_URL
    server = await asyncio.to_thread(
        ServerProcess,
        url,
        tmp_path,
        TODOKE_DISPATCH_PROCESSES="1",
        TODOKE_SIMULATOR_TIME_FACTOR="0.001",
        TODOKE_DISPATCH_LEASE_SECONDS="5",
    )
    try:
        assert "1 `todoke worker` child process" in server.output()
        headers = {"Authorization": f"Bearer {server.banner_token()}"}
        child = await _a_child(server.proc.pid)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as c:
            assert await _final_status(c, headers, "090-1234-9900") == "DELIVERED_TO_HANDSET"
            os.kill(child, signal.SIGKILL)
            replacement = await _a_child(server.proc.pid, other_than=child)
            assert await _final_status(c, headers, "090-5678-9900") == "DELIVERED_TO_HANDSET"
            metrics = (await c.get("/metrics")).text
            # The serve itself does not dispatch: its child does.
            assert re.search(r"^todoke_dispatch_running 0(\.0)?$", metrics, re.MULTILINE)
    finally:
        await asyncio.to_thread(server.stop)
    assert server.proc.returncode is not None
    await asyncio.sleep(0.5)
    assert not _running(replacement)  # stopped with its serve
