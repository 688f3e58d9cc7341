"""``/v1/batches``: a bulk upload (the MediaSMS CSV send) with its progress."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath

from todoke.api.auth import AccountDep, services_of
from todoke.api.v1.schemas import iso
from todoke.errors import ServiceUnavailable
from todoke.services.batches import Batch


class BatchCountsOut(msgspec.Struct, rename="camel"):
    """Messages of the batch by status group (CANCELLED apart from UNDELIVERABLE)."""

    pending: int = 0
    delivered: int = 0
    undeliverable: int = 0
    expired: int = 0
    rejected: int = 0
    cancelled: int = 0


class BatchOut(msgspec.Struct, rename="camel", omit_defaults=True):
    id: str
    source: str
    state: str  # loading | ready | failed | abandoned
    rows: int  # data rows in the file
    accepted: int  # stored as messages
    refused: int  # refused rows (validation or storing)
    finished: int  # messages in a final status
    done: bool  # nothing left to happen
    counts: BatchCountsOut
    created_at: str
    updated_at: str
    filename: str | None = None
    ready_at: str | None = None


def batch_out(batch: Batch) -> BatchOut:
    c = batch.counts
    return BatchOut(
        id=batch.id,
        source=batch.source,
        state=batch.state,
        rows=batch.rows,
        accepted=batch.accepted,
        refused=batch.rejected,
        finished=batch.finished,
        done=batch.done,
        counts=BatchCountsOut(
            pending=c.get("PENDING", 0),
            delivered=c.get("DELIVERED", 0),
            undeliverable=c.get("UNDELIVERABLE", 0),
            expired=c.get("EXPIRED", 0),
            rejected=c.get("REJECTED", 0),
            cancelled=c.get("CANCELLED", 0),
        ),
        created_at=iso(batch.created_at) or "",
        updated_at=iso(batch.updated_at) or "",
        filename=batch.filename,
        ready_at=iso(batch.ready_at),
    )


class BatchesController(Controller):
    path = "/v1/batches"
    tags = ["batches"]

    @get("/{batch_id:str}", summary="A bulk upload with its counts")
    async def get_batch(
        self, request: Request[Any, Any, Any], account: AccountDep, batch_id: FromPath[str]
    ) -> BatchOut:
        batches = services_of(request).batches
        if batches is None:  # pragma: no cover - create_app always builds it
            raise ServiceUnavailable("batches are not available")
        return batch_out(await batches.get(account, batch_id))
