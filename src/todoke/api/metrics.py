"""Prometheus metrics at ``GET /metrics``: queue depth, connector counters, the process.

Values are read when Prometheus scrapes (nothing on the hot paths counts for it): the queue
from the database (one indexed query on ``due_at``), the connectors from their own counters,
the process (RSS, CPU, open files) from ``/proc``. The answer holds no message content and no
account data; operators who expose the port beyond loopback should still restrict the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from todoke import __version__


@dataclass(frozen=True, slots=True)
class ConnectorSample:
    """One SMPP connector's state and counters since it started."""

    name: str
    up: bool
    submitted: int
    acked: int
    errors: int
    throttled: int
    reconnects: int
    receipts: int
    inbound: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class MetricsSample:
    """What one scrape reports. ``queue`` maps a queue state to its number of messages."""

    queue: Mapping[str, int]
    connectors: Sequence[ConnectorSample] = ()
    delivery: bool = False


MetricsSource = Callable[[], Awaitable[MetricsSample]]

_COUNTERS = (
    ("submitted", "submit_sm sent, resubmissions included"),
    ("acked", "submit_sm answered ESME_ROK"),
    ("errors", "parts refused or left without an answer"),
    ("throttled", "throttling answers (0x58, 0x14)"),
    ("reconnects", "links lost after a bind"),
    ("receipts", "delivery receipts received"),
    ("inbound", "inbound (MO) messages received"),
)


class _SampleCollector(Collector):
    def __init__(self, sample: MetricsSample) -> None:
        self._sample = sample

    def collect(self) -> Iterator[Any]:
        s = self._sample
        yield InfoMetricFamily("todoke_build", "todoke version", value={"version": __version__})
        queue = GaugeMetricFamily(
            "todoke_queue_messages",
            "Messages waiting for dispatch: due (claimable now), leased (being sent), "
            "waiting (scheduled, held or backing off before a retry)",
            labels=["state"],
        )
        for state, count in sorted(s.queue.items()):
            queue.add_metric([state], count)
        yield queue
        yield GaugeMetricFamily(
            "todoke_dispatch_running", "1 when this process runs dispatch workers", s.delivery
        )
        up = GaugeMetricFamily("todoke_connector_up", "1 when bound and usable", labels=["name"])
        in_flight = GaugeMetricFamily(
            "todoke_connector_in_flight", "parts awaiting submit_sm_resp", labels=["name"]
        )
        counters = {
            field: CounterMetricFamily(f"todoke_connector_{field}", doc, labels=["name"])
            for field, doc in _COUNTERS
        }
        for c in s.connectors:
            up.add_metric([c.name], 1 if c.up else 0)
            in_flight.add_metric([c.name], c.in_flight)
            for field, family in counters.items():
                family.add_metric([c.name], getattr(c, field))
        yield up
        yield in_flight
        yield from counters.values()


def render(sample: MetricsSample) -> bytes:
    """The Prometheus text exposition of one sample, with the process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SampleCollector(sample))
    ProcessCollector(registry=registry)
    return generate_latest(registry)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    source: MetricsSource = request.app.state["metrics"]
    return Response(render(await source()), media_type=CONTENT_TYPE_LATEST)
