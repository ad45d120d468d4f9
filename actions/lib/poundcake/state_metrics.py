"""Remediation metrics on the sensor's /metrics, from the datastore records.

Remediations run in st2's action runners, not in the sensor, so the sensor
reads the incident records every ``state_poll_seconds`` (one paged read of
each record prefix, never on the request path) and turns them into metrics:

- ``poundcake_remediations_executed_total{workflow,status}`` and
  ``poundcake_remediation_duration_seconds`` count each finished remediation
  once, when the sensor first sees it. Like any counter they start at zero
  when the sensor starts: remediations that finished before are not counted.
- ``poundcake_active_remediations``, ``poundcake_suppressed_incidents`` and
  ``poundcake_breakers_open`` are what the records say now.

The same poll deletes incidents resolved more than ``incident_ttl_seconds``
ago.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from prometheus_client import Counter, Gauge, Histogram

from poundcake.board import Board
from poundcake.queries import incidents, purge_resolved, resolves
from poundcake.recorder import IncidentRecorder
from poundcake.state_store import BREAKER_OPEN, StateStore
from poundcake.suppressions import stored_windows

# The poll keeps at most 1/POLL_DUTY of its time busy reading records.
POLL_DUTY = 10
_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class RemediationMetrics:
    def __init__(self, registry: Any) -> None:
        self.executed = Counter(
            "poundcake_remediations_executed",
            "Finished remediations, by workflow and outcome (counted when first seen).",
            ["workflow", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "poundcake_remediation_duration_seconds",
            "Duration of finished remediations.",
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.active = Gauge(
            "poundcake_active_remediations", "Incidents being remediated now.", registry=registry
        )
        self.suppressed = Gauge(
            "poundcake_suppressed_incidents",
            "Retained incidents suppressed by a maintenance window.",
            registry=registry,
        )
        self.breakers_open = Gauge(
            "poundcake_breakers_open",
            "Alertnames whose circuit breaker is open.",
            registry=registry,
        )
        self.poll_errors = Counter(
            "poundcake_state_poll_errors",
            "Failed reads of the datastore records.",
            registry=registry,
        )
        self.purged = Counter(
            "poundcake_incidents_purged",
            "Incidents deleted incident_ttl_seconds after they resolved.",
            registry=registry,
        )
        self.poll_seconds = Gauge(
            "poundcake_state_poll_seconds",
            "How long the last read of the records took (it grows with the stored incidents).",
            registry=registry,
        )
        self._seen: Optional[Dict[str, str]] = None  # tracking_id -> finished_at

    def refresh(
        self, store: StateStore, ttl: Optional[float] = None
    ) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
        """Read the records once, update every metric; return the incidents and
        the open breakers read (the board shows the same read)."""
        resolved = resolves(store)
        if ttl is not None:
            # Purged incidents drop out of the incident read below, so the
            # resolves read once serve both.
            self.purged.inc(purge_resolved(store, ttl, resolved))
        shown = incidents(store, resolved)
        first_poll = self._seen is None
        seen = {} if first_poll else self._seen
        current = {}
        for doc in shown:
            remediation = doc.get("remediation") or {}
            finished = remediation.get("finished_at")
            if not finished:
                continue
            current[doc["tracking_id"]] = finished
            if not first_poll and seen.get(doc["tracking_id"]) != finished:
                self.executed.labels(remediation.get("workflow", ""), remediation["outcome"]).inc()
                self.duration.observe(remediation.get("duration_seconds", 0))
        self._seen = current  # only retained records: memory follows the datastore
        self.active.set(sum(1 for d in shown if d["state"] == "remediating"))
        self.suppressed.set(sum(1 for d in shown if d["state"] == "suppressed"))
        breakers = store.records(BREAKER_OPEN)
        self.breakers_open.set(len(breakers))
        return shown, breakers


class StatePoller:
    """Calls :meth:`RemediationMetrics.refresh` every ``interval`` seconds and
    hands what it read to the incident board and the maintenance windows to
    the incident recorder."""

    def __init__(
        self,
        metrics: RemediationMetrics,
        store: StateStore,
        interval: float,
        ttl: float,
        log: Any,
        board: Optional[Board] = None,
        recorder: Optional[IncidentRecorder] = None,
    ) -> None:
        self._metrics = metrics
        self._board = board
        self._recorder = recorder
        self._store = store
        self._interval = interval
        self._ttl = ttl
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poundcake-state", daemon=True)

    def start(self) -> None:
        if self._interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll_once(self) -> None:
        shown, breakers = self._metrics.refresh(self._store, self._ttl)
        windows = stored_windows(self._store)
        if self._recorder is not None:
            self._recorder.set_suppressions(windows)
        if self._board is not None:
            now = self._store.clock()
            views = [w.view(now) for w in windows]
            self._board.update(shown, views, breakers, now)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception as exc:  # st2api down, a bad record: keep serving
                self._metrics.poll_errors.inc()
                self._log.warning(
                    "reading poundcake records failed: %s: %s", type(exc).__name__, exc
                )
            took = time.monotonic() - started
            self._metrics.poll_seconds.set(took)
            # Every read is an st2api call (and CPU st2 needs for remediation):
            # with many records stored, poll less often rather than always.
            self._stop.wait(max(self._interval, POLL_DUTY * took))
