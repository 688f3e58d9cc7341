"""A test client of the 絶対リーチ! façade that checks every answer against the document:
HTTP 200, a responseCode of the operation's table with its message, and the 200 schema."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Tenant
from tests.zettai_schema import response_codes, validate

PATHS = {
    "mt": ("/p5/api/mt.json", "post"),
    "check": ("/p5/api/checkreservation.json", "get"),
    "cancel": ("/p5/api/cancelreservation.json", "get"),
    "cancelall": ("/p5/api/cancelreservationall.json", "get"),
    "status": ("/p5/api/status.json", "get"),
    "shorten": ("/p1/api/shortenurl.json", "post"),
    "template": ("/p5/api/template.json", "get"),
    "cleaning": ("/p5/api/numbercleaning.json", "get"),
    "count": ("/p5/api/separatedsuccesscount.json", "get"),
}

# Which operations take smsCode.
WITH_SMS_CODE = {"mt", "check"}


def credentials(who: Tenant, op: str) -> dict[str, str]:
    out = {"token": who.token, "clientId": str(who.client_id)}
    if op in WITH_SMS_CODE:
        out["smsCode"] = who.sms_code
    return out


class ZettaiClient:
    def __init__(self, http: httpx.AsyncClient, who: Tenant) -> None:
        self.http = http
        self.who = who

    async def raw(self, op: str, params: dict[str, Any]) -> httpx.Response:
        path, method = PATHS[op]
        if method == "post":
            return await self.http.post(path, data=params)
        return await self.http.get(path, params=params)

    async def call(self, op: str, /, *, auth: bool = True, **params: Any) -> dict[str, Any]:
        """Call ``op`` (credentials of the tenant added unless given) and check the answer."""
        body = {**(credentials(self.who, op) if auth else {}), **params}
        body = {k: v for k, v in body.items() if v is not None}
        r = await self.raw(op, body)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        answer: dict[str, Any] = r.json()
        path, method = PATHS[op]
        table = response_codes(path, method)
        code = answer["responseCode"]
        assert code in table, (op, answer)
        pattern = re.escape(table[code]).replace(re.escape("{項目名}"), r"[A-Za-z]+")
        if code == 0:
            pattern = r"Success\.?"
        assert re.fullmatch(pattern, answer["responseMessage"]), (table[code], answer)
        validate(path, method, answer, error=code != 0)
        return answer

    async def expect(self, op: str, code: int, text: str, /, **params: Any) -> dict[str, Any]:
        answer = await self.call(op, **params)
        assert (answer["responseCode"], answer["responseMessage"]) == (code, text), answer
        return answer
