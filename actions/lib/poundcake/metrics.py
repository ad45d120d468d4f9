"""Prometheus metrics served by the sensor on ``/metrics``.

Each sensor process owns one registry, so tests and several instances in one
interpreter never collide on the global default registry.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_SIZE_BUCKETS = (1e3, 4e3, 16e3, 64e3, 256e3, 1e6, 4e6, 16e6)
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SensorMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict = {}
        reg = self.registry
        self.requests = Counter(
            "poundcake_webhook_requests",
            "Webhook HTTP requests by response status code.",
            ["code"],
            registry=reg,
        )
        self.alerts_received = Counter(
            "poundcake_alerts_received",
            "Alerts received in valid deliveries, by alert status.",
            ["status"],
            registry=reg,
        )
        self.dispatched = Counter(
            "poundcake_triggers_dispatched",
            "Trigger instances handed to st2, by trigger.",
            ["trigger"],
            registry=reg,
        )
        self.dispatch_failures = Counter(
            "poundcake_dispatch_failures",
            "Dispatches that raised (each counted once, however late), by trigger.",
            ["trigger"],
            registry=reg,
        )
        self.deadline_misses = Counter(
            "poundcake_dispatch_deadline_misses",
            "Dispatches still running when their request answered 503 at the deadline.",
            ["trigger"],
            registry=reg,
        )
        self.duplicates = Counter(
            "poundcake_duplicates_suppressed",
            "Re-sent alerts or groups not dispatched again, by trigger.",
            ["trigger"],
            registry=reg,
        )
        self.request_duration = Histogram(
            "poundcake_webhook_request_duration_seconds",
            "Time from request start to response, webhook path only.",
            buckets=_DURATION_BUCKETS,
            registry=reg,
        )
        self.payload_bytes = Histogram(
            "poundcake_webhook_payload_bytes",
            "Webhook request body sizes.",
            buckets=_SIZE_BUCKETS,
            registry=reg,
        )
        self.records_written = Counter(
            "poundcake_records_written",
            "Incidents no rule remediates, recorded by the sensor.",
            registry=reg,
        )
        self.record_failures = Counter(
            "poundcake_record_failures",
            "Failed writes of such records (st2api unreachable, ...).",
            registry=reg,
        )
        self.records_dropped = Counter(
            "poundcake_records_dropped",
            "Such records not written because the record queue was full.",
            registry=reg,
        )
        self.record_queue = Gauge(
            "poundcake_record_queue",
            "Alerts waiting for the sensor to record them.",
            registry=reg,
        )
        self.index_pending = Gauge(
            "poundcake_index_pending",
            "Index entries (incidents, deliveries) waiting for the next flush.",
            registry=reg,
        )
        self.index_failures = Counter(
            "poundcake_index_write_failures",
            "Failed writes of index keys (kept for the next flush).",
            registry=reg,
        )
        self.index_dropped = Counter(
            "poundcake_index_dropped",
            "Index entries dropped: max pending reached while st2api failed the writes.",
            registry=reg,
        )
        self.ready = Gauge(
            "poundcake_ready",
            "1 while /ready answers 200, 0 once the sensor is stopping.",
            registry=reg,
        )

    def child(self, metric: Any, label: str) -> Any:
        """``metric.labels(label)``, cached: these are hit on every request or dispatch."""
        key = (id(metric), label)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(label)
        return found

    def watch_dedup(self, memory: DedupMemory) -> None:
        """Serve the duplicate memory's size and evictions, read at scrape time."""
        self.registry.register(_DedupCollector(memory))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class DedupMemory(Protocol):
    """What :meth:`SensorMetrics.watch_dedup` reads (a ``DedupCache``)."""

    evictions: int

    def __len__(self) -> int: ...


class _DedupCollector:
    """Reads the memory when Prometheus scrapes, so requests never write these."""

    def __init__(self, memory: DedupMemory) -> None:
        self._memory = memory

    def describe(self) -> List[Metric]:
        return self._families(None, None)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(len(self._memory), self._memory.evictions))

    @staticmethod
    def _families(entries: Any, evictions: Any) -> List[Metric]:
        return [
            GaugeMetricFamily(
                "poundcake_dedup_entries",
                "Keys held in the duplicate-suppression memory.",
                value=entries,
            ),
            CounterMetricFamily(
                "poundcake_dedup_evictions",
                "Keys dropped from the duplicate-suppression memory because it was full.",
                value=evictions,
            ),
        ]
