"""The delivery engine's decisions: what happens to a due message, a submission, a receipt.

The worker loop (``workers/dispatch.py``) only claims, calls these and spawns tasks; every
business rule (validity, maintenance windows, routing and failover, retries, the status a cause
ends in) is decided here, from the pure rules in ``domain/``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from todoke.domain import status
from todoke.domain.carrier import Carrier
from todoke.domain.ids import time_ordered_id
from todoke.domain.message import Message
from todoke.domain.routing import (
    RoutingSnapshot,
    RoutingTable,
    WindowEffect,
    active_window,
    pick_connector,
    resolve_carrier,
    retry_delay_ms,
)
from todoke.domain.status import Cause
from todoke.domain.status_maps import classify_receipt, classify_smpp_error
from todoke.errors import CarrierError, ServiceUnavailable
from todoke.services.messages import now_ms
from todoke.services.ports import (
    AttemptStart,
    AttemptView,
    PartAck,
    ReceiptDecision,
    ReceiptIn,
    SubmitRecord,
    Transition,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundSubmission:
    """One message for a connector to split into parts and submit."""

    key: str  # the attempt id
    source: str
    destination: str  # E.164
    text: str
    encoding: str  # GSM7 | UCS2
    validity_until_ms: int | None


@dataclass(frozen=True, slots=True)
class PartResult:
    """The SMSC's answer to one part (``command_status`` 0 = accepted)."""

    seq: int
    total: int
    smsc_id: str | None  # normalised for correlation
    smsc_id_raw: str | None
    command_status: int
    receipt_keys: tuple[str, ...] = ()  # see PartAck.receipt_keys


class ConnectorsPort(Protocol):
    """The carrier connections, as the dispatcher uses them."""

    def is_ready(self, name: str) -> bool: ...

    async def submit(self, name: str, submission: OutboundSubmission) -> list[PartResult]: ...


class DeliveryStorePort(Protocol):
    async def claim(self, owner: str, *, now: int, limit: int, lease_ms: int) -> list[Message]: ...

    async def ported_carriers(self, numbers: Sequence[str]) -> dict[str, str]: ...

    async def apply(self, owner: str, transitions: Sequence[Transition]) -> None: ...

    async def begin_attempts(
        self, owner: str, starts: Sequence[AttemptStart], transitions: Sequence[Transition]
    ) -> None: ...

    async def record_submit(
        self, owner: str, record: SubmitRecord, decide: ReceiptDecision
    ) -> None: ...

    async def apply_receipts(
        self, receipts: Sequence[ReceiptIn], decide: ReceiptDecision
    ) -> None: ...

    async def purge_orphans(self, *, before: int) -> int: ...

    async def release_held(self, *, now: int) -> int: ...


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    lease_ms: int = 120_000
    receipt_grace_ms: int = 3_600_000  # how long after the validity period a receipt may come
    retry_base_ms: int = 30_000  # handset and network causes
    reconnect_retry_ms: int = 2_000  # the connection failed: try again soon
    no_connector_retry_ms: int = 1_000
    # A receipt kept for a part not stored yet waits this long at least, then it is dropped:
    # its part will never be stored (the sender died before recording it, and the message
    # was sent again under another id).
    orphan_ttl_ms: int = 600_000


@dataclass(frozen=True, slots=True)
class SendJob:
    message: Message
    attempt: AttemptStart


def transition(
    m: Message,
    st: status.Status,
    now: int,
    *,
    cause: Cause | None = None,
    **kwargs: object,
) -> Transition:
    """A transition of ``m`` to ``st``; a final status sets ``done_at`` and clears the queue."""
    return Transition(
        message_id=m.id,
        account_id=m.account_id,
        status=st.name,
        status_group=st.group_id,
        at=now,
        cause=cause.value if cause else None,
        error_code=cause.error.name if cause and cause is not Cause.DELIVERED else None,
        final=st.final,
        **kwargs,  # type: ignore[arg-type]
    )


class Dispatcher:
    """Decides and records what happens to each message on its way to a carrier."""

    def __init__(
        self,
        store: DeliveryStorePort,
        connectors: ConnectorsPort,
        *,
        owner: str,
        policy: DispatchPolicy | None = None,
    ) -> None:
        self._store = store
        self._connectors = connectors
        self.owner = owner
        self.policy = policy or DispatchPolicy()
        self._snapshot = RoutingSnapshot((), (), ())
        self._table = RoutingTable(())
        self._routed = False

    def update_routing(self, snapshot: RoutingSnapshot) -> bool:
        """Route by ``snapshot`` from now on; true when its maintenance windows changed."""
        changed = self._routed and snapshot.windows != self._snapshot.windows
        self._routed = True
        self._snapshot = snapshot
        self._table = RoutingTable(snapshot.routes)
        return changed

    async def release_held(self) -> int:
        """Look again at every message held for maintenance (the windows changed).

        Cancelling or moving a window releases its messages at once (``RoutingStore``), but a
        dispatcher whose snapshot still had the window could claim them in the next second
        and hold them again until the old end. Each dispatcher releases them once more when
        it sees the change, so the last one to see it decides with the new calendar.
        """
        return await self._store.release_held(now=now_ms())

    # --- claim and plan -----------------------------------------------------------------

    async def claim(self, limit: int) -> list[SendJob]:
        """Claim due messages, settle those that need no carrier, start attempts for the rest."""
        now = now_ms()
        claimed = await self._store.claim(
            self.owner, now=now, limit=limit, lease_ms=self.policy.lease_ms
        )
        if not claimed:
            return []
        ported = await self._store.ported_carriers(
            [m.to for m in claimed if not m.carrier_explicit]
        )
        settled: list[Transition] = []
        jobs: list[SendJob] = []
        begins: list[Transition] = []
        for m in claimed:
            carrier = resolve_carrier(
                m.carrier if m.carrier_explicit else None, ported.get(m.to), m.carrier
            )
            decision = self._plan(m, carrier, now)
            if isinstance(decision, Transition):
                settled.append(decision)
                continue
            jobs.append(SendJob(m, decision))
            begins.append(
                transition(
                    m,
                    status.ENROUTE,
                    now,
                    due_at=now + self.policy.lease_ms,
                    keep_lease=True,
                    attempt=decision.number,
                    attempts=decision.number,
                    carrier=carrier,
                    detail={"connector": decision.connector},
                )
            )
        await self._store.apply(self.owner, settled)
        if jobs:
            await self._store.begin_attempts(self.owner, [j.attempt for j in jobs], begins)
        return jobs

    def _plan(self, m: Message, carrier: str | None, now: int) -> Transition | AttemptStart:
        if m.status == status.WAITING_DELIVERY.name:
            # Its due time is the receipt deadline: no receipt came. It may have arrived, so
            # it is not resent.
            return transition(m, Cause.UNKNOWN.status, now, cause=Cause.UNKNOWN)
        if m.validity_until <= now:
            return transition(m, Cause.EXPIRED.status, now, cause=Cause.EXPIRED)
        candidates = self._table.connectors_for(m.account_id, carrier)
        window = active_window(self._snapshot.windows, carrier, now)
        if window is not None:
            if window.effect is WindowEffect.FALLBACK:
                candidates = (
                    (window.fallback_connector,) if window.fallback_connector else candidates[1:]
                )
            else:  # hold, and refuse (which refuses new sends; queued ones wait)
                return transition(
                    m,
                    status.HELD,
                    now,
                    due_at=window.ends_at,
                    cause=Cause.MAINTENANCE,
                    carrier=carrier,
                    detail={"window": window.id, "until": window.ends_at},
                )
        if not candidates:
            return transition(m, Cause.NO_ROUTE.status, now, cause=Cause.NO_ROUTE, carrier=carrier)
        connector = pick_connector(
            candidates, {n: self._connectors.is_ready(n) for n in candidates}
        )
        if connector is None:
            # Every connector of the route is down: wait, without counting an attempt.
            return transition(
                m,
                status.ACCEPTED,
                now,
                due_at=now + self.policy.no_connector_retry_ms,
                carrier=carrier,
                event=False,
            )
        return AttemptStart(
            id=time_ordered_id(now),
            message_id=m.id,
            account_id=m.account_id,
            number=m.attempts + 1,
            connector=connector,
            carrier=carrier,
            parts=m.parts,
            at=now,
        )

    # --- submit ------------------------------------------------------------------------

    async def send(self, job: SendJob) -> None:
        """Submit one claimed message and record the outcome (never raises)."""
        m, attempt = job.message, job.attempt
        submission = OutboundSubmission(
            key=attempt.id,
            source=m.sender_code or "",
            destination=m.to,
            text=m.text,
            encoding=m.encoding,
            validity_until_ms=m.validity_until,
        )
        try:
            results = await self._connectors.submit(attempt.connector, submission)
        except CarrierError as exc:
            record = self._after_error(m, attempt, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a connector must not lose the message: retry it
            log.exception("dispatch.submit_crashed", connector=attempt.connector)
            record = self._after_error(
                m, attempt, CarrierError("connector failed", cause=Cause.SYSTEM_ERROR.value)
            )
        else:
            record = self._after_submit(m, attempt, results)
        await self._record(record)

    async def _record(self, record: SubmitRecord) -> None:
        """Store the outcome of a submission. While the database is unreachable the outcome
        is kept and stored again and again, for up to half the lease: the SMSC has the
        message, and an outcome given up on means the message is sent a second time once its
        lease runs out. Storing twice is harmless (the store skips an attempt it recorded)."""
        delay = 0.1
        give_up = time.monotonic() + self.policy.lease_ms / 2000
        while True:
            try:
                await self._store.record_submit(self.owner, record, self.decide_receipt)
                return
            except ServiceUnavailable:
                if time.monotonic() + delay > give_up:
                    log.error("dispatch.record_failed", attempt=record.attempt_id, error="down")
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:
                # The lease runs out and the message is claimed again: a duplicate at worst.
                log.exception("dispatch.record_failed", attempt=record.attempt_id)
                return

    def _after_submit(
        self, m: Message, attempt: AttemptStart, results: Sequence[PartResult]
    ) -> SubmitRecord:
        now = now_ms()
        acks = tuple(
            PartAck(r.seq, r.smsc_id, r.smsc_id_raw or r.smsc_id, r.receipt_keys)
            for r in results
            if r.command_status == 0 and r.smsc_id
        )
        failed = next((r for r in results if r.command_status != 0), None)
        if failed is None and len(acks) == m.parts:
            t = transition(
                m,
                status.WAITING_DELIVERY,
                now,
                due_at=m.validity_until + self.policy.receipt_grace_ms,
                sent=True,
                attempt=attempt.number,
                detail={"parts": len(acks)},
            )
            return SubmitRecord(attempt.id, m.id, attempt.connector, "submitted", None, acks, t)
        cause = classify_smpp_error(failed.command_status) if failed else Cause.SYSTEM_ERROR
        detail: dict[str, object] = {"commandStatus": failed.command_status if failed else None}
        t = self._failure(m, attempt.number, cause, now, detail=detail)
        return SubmitRecord(attempt.id, m.id, attempt.connector, "failed", cause.value, acks, t)

    def _after_error(self, m: Message, attempt: AttemptStart, exc: CarrierError) -> SubmitRecord:
        now = now_ms()
        try:
            cause = Cause(exc.cause)
        except ValueError:
            cause = Cause.SYSTEM_ERROR
        t = self._failure(m, attempt.number, cause, now, detail={"error": exc.message[:200]})
        # The SMSC may or may not have the message: the attempt's outcome is unknown.
        state = "failed" if exc.permanent else "unknown"
        return SubmitRecord(attempt.id, m.id, attempt.connector, state, cause.value, (), t)

    def _failure(
        self, m: Message, attempt_no: int, cause: Cause, now: int, *, detail: dict[str, object]
    ) -> Transition:
        """Retry a temporary cause within the validity period; end a permanent one."""
        if not cause.retryable:
            return transition(m, cause.status, now, cause=cause, attempt=attempt_no, detail=detail)
        base = (
            self.policy.reconnect_retry_ms
            if cause in (Cause.SYSTEM_ERROR, Cause.THROTTLED, Cause.MAINTENANCE)
            else self.policy.retry_base_ms
        )
        due = now + retry_delay_ms(attempt_no, base_ms=base)
        if due >= m.validity_until:
            return transition(
                m,
                Cause.EXPIRED.status,
                now,
                cause=Cause.EXPIRED,
                attempt=attempt_no,
                detail={**detail, "lastCause": cause.value},
            )
        return transition(
            m, status.ACCEPTED, now, cause=cause, due_at=due, attempt=attempt_no, detail=detail
        )

    # --- receipts ----------------------------------------------------------------------

    async def purge_orphans(self) -> int:
        """Drop receipts that waited for their part longer than any submission can take."""
        ttl = max(self.policy.orphan_ttl_ms, 2 * self.policy.lease_ms)
        return await self._store.purge_orphans(before=now_ms() - ttl)

    async def on_receipts(self, receipts: Sequence[ReceiptIn]) -> None:
        """Store receipts durably (the connector acknowledges them after this returns)."""
        await self._store.apply_receipts(receipts, self.decide_receipt)

    def decide_receipt(self, m: Message, attempt: AttemptView, now: int) -> Transition | None:
        """The message's next state once every part of its current attempt has a receipt."""
        states = attempt.part_states
        if len(states) < attempt.parts or any(s.state == "submitted" for s in states):
            return None  # parts still on their way
        delivered = sum(1 for s in states if s.state == "delivered")
        if delivered == attempt.parts:
            return transition(
                m,
                status.DELIVERED,
                now,
                cause=Cause.DELIVERED,
                attempt=attempt.number,
                delivered_parts=delivered,
                billable_parts=delivered,
            )
        first = next(s for s in states if s.state == "failed")
        carrier = _carrier(attempt.carrier)
        cause = (
            classify_receipt(first.stat or "UNDELIV", first.err, carrier) or Cause.DELIVERY_FAILED
        )
        detail: dict[str, object] = {"stat": first.stat, "err": first.err}
        if delivered:
            # docomo 一部受信: part of a long message arrived; a resend would repeat it.
            return transition(
                m,
                Cause.PARTIAL_DELIVERY.status,
                now,
                cause=Cause.PARTIAL_DELIVERY,
                attempt=attempt.number,
                delivered_parts=delivered,
                billable_parts=0,
                detail=detail,
            )
        return self._failure(m, attempt.number, cause, now, detail=detail)


def _carrier(value: str | None) -> Carrier | None:
    try:
        return Carrier(value) if value else None
    except ValueError:
        return None
