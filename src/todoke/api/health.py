"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import Request, get


@get("/healthz", tags=["operations"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", tags=["operations"], summary="Readiness: the database answers")
async def readyz(request: Request[Any, Any, Any]) -> dict[str, str]:
    db = request.app.state["db"]
    await db.ping()  # ServiceUnavailable -> 503
    return {"status": "ready", "database": db.dialect}
