"""``POST /v1/messages`` answered in front of Litestar (``api/v1/fast_send.py``).

Two things hold: the answers are those of the Litestar handler, request for request (two
runtimes on two databases, one served by the full application, one by Litestar alone, sent
the same sequence of requests); and the fast path answers the common case itself and hands
everything else to Litestar with the request as it came (an ASGI app that records what
reaches it stands in for Litestar).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings
from todoke.api.v1.fast_send import FastSend
from todoke.app import Runtime, create_app

_VOLATILE = {"id", "createdAt", "updatedAt", "validUntil"}
_TOMORROW = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")

# (description, headers beyond the bearer token, body); {token} is the runtime's own token.
_CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("minimal", {}, json.dumps({"to": "090-1234-5678", "text": "認証コード 1234"}).encode()),
    (
        "every field",
        {},
        json.dumps(
            {
                "to": "+81 80 1111 2222",
                "text": "明日 10:00 のご予約",
                "from": "11111",
                "clientTag": "order-1",
                "groupTag": "reminders",
                "scheduleAt": _TOMORROW,
                "validityPeriod": 3600,
                "carrier": "docomo",
                "webhookUrl": "https://example.com/hook",
            },
            ensure_ascii=False,
        ).encode(),
    ),
    ("clientTag reused", {}, b'{"to":"09011112222","text":"x","clientTag":"order-1"}'),
    ("lenient integer", {}, b'{"to":"09011113333","text":"x","validityPeriod":"600"}'),
    ("validity out of range", {}, b'{"to":"09011114444","text":"x","validityPeriod":10}'),
    ("unknown sender code", {}, b'{"to":"09011115555","text":"x","from":"99999"}'),
    ("not a mobile number", {}, b'{"to":"0312345678","text":"x"}'),
    ("unknown field", {}, b'{"to":"09011116666","text":"x","colour":"red"}'),
    ("wrong type", {}, b'{"to":9011116666,"text":"x"}'),
    ("not JSON", {}, b'{"to": '),
    ("empty body", {}, b""),
    ("JSON null", {}, b"null"),
    ("text too long", {}, json.dumps({"to": "09011117777", "text": "a" * 5001}).encode()),
    ("template missing", {}, b'{"to":"09011118888","templateId":"nope"}'),
    ("no token", {"Authorization": ""}, b'{"to":"09011119999","text":"x"}'),
    ("wrong token", {"Authorization": "Bearer " + "x" * 32}, b'{"to":"09011119999","text":"x"}'),
    ("basic auth", {"Authorization": "Basic dXNlcjpwdw=="}, b'{"to":"09011119999","text":"x"}'),
    ("idempotent", {"Idempotency-Key": "k-1"}, b'{"to":"09022221111","text":"once"}'),
    ("idempotent replay", {"Idempotency-Key": "k-1"}, b'{"to":"09022221111","text":"once"}'),
    ("key reused", {"Idempotency-Key": "k-1"}, b'{"to":"09022221111","text":"other"}'),
    ("key too long", {"Idempotency-Key": "k" * 256}, b'{"to":"09022222222","text":"x"}'),
    ("too large", {}, b'{"to":"09022223333","text":"' + b"a" * 9000 + b'"}'),
]


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: ("…" if k in _VOLATILE else v) for k, v in body.items()}
    return response.status_code, headers, body


async def _answers(rt: Runtime, app: Any) -> list[tuple[int, dict[str, str], Any]]:
    issued = await rt.services.accounts.create("tenant", sms_code="11111")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for _, extra, body in _CASES:
            headers = {"Authorization": f"Bearer {issued.token}", **extra}
            if not headers["Authorization"]:
                del headers["Authorization"]
            r = await c.post("/v1/messages", content=body, headers=headers)
            answers.append(_comparable(r))
    return answers


@pytest.fixture
async def two_runtimes(tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    runtimes = []
    for name in ("fast", "litestar"):
        # A body limit small enough for the "too large" case; rate limits on, so that the
        # per-IP hook runs on both paths.
        settings = make_settings(
            f"sqlite:///{tmp_path / name}.db", max_body_bytes=8192, ip_rate_limit=1000
        )
        rt = Runtime(settings)
        await rt.start()
        runtimes.append(rt)
    try:
        yield runtimes[0], runtimes[1]
    finally:
        for rt in runtimes:
            await rt.stop()


async def test_the_fast_path_answers_as_litestar_does(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    fast_rt, litestar_rt = two_runtimes
    full = create_app(fast_rt.settings, fast_rt)
    bare = create_app(litestar_rt.settings, litestar_rt).app  # Litestar alone
    fast = await _answers(fast_rt, full)
    plain = await _answers(litestar_rt, bare)
    for (name, _, _), got, expected in zip(_CASES, fast, plain, strict=True):
        assert got == expected, name
    answers = {name: answer for (name, _, _), answer in zip(_CASES, fast, strict=True)}
    # The cases cover what they claim to.
    assert answers["minimal"][0] == answers["every field"][0] == 202
    assert answers["clientTag reused"][0] == 409
    assert answers["lenient integer"][0] == 202
    assert answers["wrong token"][0] == 401
    assert answers["key reused"][0] == 422
    assert answers["too large"][0] == 413
    assert answers["idempotent replay"][0] == 202
    assert answers["idempotent replay"][1].get("idempotent-replayed") == "true"


class _Recorder:
    """Stands in for Litestar: records each request it gets (with its whole body)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, token: str, chunks: list[bytes], path: str = "/v1/messages") -> int:
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
    }
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def test_what_the_fast_path_answers_and_what_it_hands_on(runtime: Runtime) -> None:
    issued = await runtime.services.accounts.create("tenant", sms_code="11111")
    recorder = _Recorder()
    app = FastSend(recorder, runtime.services, max_body_bytes=4096)
    token = issued.token

    # Answered here, also when the body comes in pieces.
    assert await _call(app, token, [b'{"to":"09012345678","text":"hi"}']) == 202
    assert await _call(app, token, [b'{"to":"0901', b'2345679","te', b'xt":"hi"}']) == 202
    # A domain refusal after admission is answered here too.
    assert await _call(app, token, [b'{"to":"0312345678","text":"hi"}']) == 400
    assert recorder.bodies == []

    # Handed on whole: a lenient body, a bad token, an oversized body, another path.
    lenient = [b'{"to":"09012345678",', b'"text":"hi","validityPeriod":"600"}']
    assert await _call(app, token, lenient) == 299
    assert await _call(app, "x" * 32, [b'{"to":"09012345678","text":"hi"}']) == 299
    big = [b'{"to":"09012345678","text":"', b"a" * 5000, b'"}']
    assert await _call(app, token, big) == 299
    assert await _call(app, token, [b'{"messages":[]}'], "/v1/messages/batch") == 299
    assert recorder.bodies == [
        b"".join(lenient),
        b'{"to":"09012345678","text":"hi"}',
        b"".join(big),
        b'{"messages":[]}',
    ]
    stored = await runtime.services.messages.find(issued.account, _all())
    assert len(stored) == 2  # the two answered 202 here; nothing stored twice


def _all() -> Any:
    from todoke.domain.message import MessageFilter

    return MessageFilter(limit=100)
