"""Incidents that no rule remediates, recorded by the sensor itself, in batches.

An alert that did not opt in (``labels.auto_remediate != "true"``, see
:func:`poundcake.triggers.opted_in`) still gets into st2 as a trigger instance
(its delivery's ``poundcake.alerts_recorded``) and into the datastore as a
record, but starts no execution: st2 schedules executions in arrival order
and each costs it real time. After its delivery is dispatched (never slowing
a dispatch; the 200 to Alertmanager never waits for it), the alert joins a
bounded queue (``max_queue`` alerts). ``hold`` seconds later one writer
takes what is due (and what comes due within a second), decides each
(``recorded``, or ``suppressed`` by a maintenance window), and stores them
as events in as few batch keys as the size bound allows
(:mod:`poundcake.noise`): one write for a thousand alerts, where it was a
read and a write each. The hold keeps even those writes out of the first
seconds of a remediation that arrived with them (st2 makes every datastore
write a ``core.st2.key_value_pair.*`` trigger instance). Then the batches'
index entries are written (:meth:`poundcake.index.IndexWriter.add_noise`),
and the events go to the sensor's
:class:`~poundcake.incident_view.IncidentView`, so the state poll never reads
them back.

A batch is written once and never read-modified-written, so nothing here
races another writer, a resolve included: readers replay the events in order.
When st2 stops the sensor (SIGTERM: a restart, a pack upgrade) the writer
stops holding and writes what is queued until st2's SIGKILL is near. What a
crash (or that deadline) costs: the alerts still queued (normally those of
the last ``hold`` seconds). Their trigger instances are in st2 already (``st2
trigger-instance list --trigger=poundcake.alerts_recorded``); only the
datastore record is missing, until a re-send of the alert (the restarted
sensor has forgotten it was sent) records it.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import uuid
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple

from poundcake import noise
from poundcake.incident_view import IncidentView
from poundcake.incidents import decide, observe
from poundcake.index import IndexWriter
from poundcake.lifecycle_config import Retention
from poundcake.state_store import StateStore, hour
from poundcake.suppressions import Suppression

# Deliveries that come due within this long of the first are written with it.
BATCH_SECONDS = 1.0
# A batch st2api refused is tried again after these pauses (a restarting
# st2api): a re-send of its alerts would be a duplicate, never recorded.
RETRY_SECONDS = (1.0, 3.0, 10.0)


class IncidentRecorder:
    def __init__(
        self,
        store: StateStore,
        log: Any,
        unresolved_ttl: int,
        resolved_ttl: int,
        metrics: Any,
        incidents: IncidentView,
        index: Optional[IndexWriter] = None,
        max_queue: int = 100_000,
        hold: float = 15.0,
        writer: str = "",
        retry_seconds: Tuple[float, ...] = RETRY_SECONDS,
    ) -> None:
        self._store = store
        self._retry_seconds = retry_seconds
        self._log = log
        # A batch holds open incidents' events and the resolves that close them.
        self._ttl = Retention(unresolved_ttl, resolved_ttl).longest or None
        self._view = incidents
        self._index = index
        self._metrics = metrics
        self._hold = hold
        self._max_queue = max_queue
        self._writer = writer or uuid.uuid4().hex[:8]
        self._seq = itertools.count()
        self._suppressions: List[Suppression] = []
        self._cond = threading.Condition()
        self._queue: Deque[Tuple[float, List[Mapping[str, Any]]]] = collections.deque()
        self._pending = 0  # alerts queued or being written
        self._flushing = threading.Event()  # set: the sensor is stopping, no more holding
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="poundcake-recorder", daemon=True)

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        """Start the writer (a green thread under st2's eventlet patching)."""
        self._thread.start()

    def flush(self) -> None:
        """Stop holding: write what is queued, and what comes, at once."""
        self._flushing.set()
        with self._cond:
            self._cond.notify_all()

    def stop(self, deadline: float) -> int:
        """Write what is queued until ``deadline`` (``time.monotonic()``), then
        stop the writer; return how many alerts were left unrecorded (logged)."""
        with self._cond:
            self._stopping = True
        self.flush()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        left = self._pending
        if left:
            self._log.warning(
                "stopping with %d incident(s) not recorded (their trigger instances are in "
                "st2; a re-send of a still-firing alert records it)",
                left,
            )
        return left

    def submit(self, payloads: List[Mapping[str, Any]]) -> bool:
        """Queue one delivery's alert payloads for recording; False (counted,
        logged) when the queue has no room for them."""
        with self._cond:
            if self._pending + len(payloads) > self._max_queue:
                full = True
            else:
                full = False
                self._pending += len(payloads)
                self._queue.append((time.monotonic() + self._hold, list(payloads)))
                self._cond.notify()
        if full:
            self._metrics.records_dropped.inc(len(payloads))
            self._log.warning(
                "record queue full: %d incident(s) of request %s not recorded (their trigger "
                "instances are in st2)",
                len(payloads),
                payloads[0]["request_id"],
            )
            return False
        self._metrics.record_queue.set(self._pending)
        return True

    def set_suppressions(self, windows: List[Suppression]) -> None:
        """The maintenance windows the state poll read last (decide() records them)."""
        self._suppressions = windows

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                due = self._queue[0][0]
            self._flushing.wait(max(0.0, due - time.monotonic()))
            taken: List[Mapping[str, Any]] = []
            with self._cond:
                while self._queue and (
                    self._flushing.is_set() or self._queue[0][0] <= due + BATCH_SECONDS
                ):
                    taken.extend(self._queue.popleft()[1])
            try:
                self.record(taken)
            except Exception as exc:  # a bug must not stop the writer: count and keep serving
                self._metrics.record_failures.inc(len(taken))
                self._log.warning("recording %d incident(s) failed: %s", len(taken), exc)
            finally:
                with self._cond:
                    self._pending -= len(taken)
                self._metrics.record_queue.set(self._pending)

    def record(self, payloads: List[Mapping[str, Any]]) -> int:
        """Record deliveries of alerts no rule remediates; return how many
        were written (a batch st2api refused is counted and logged)."""
        now = self._store.clock()
        events = [self._event(p, now) for p in payloads]
        written = 0
        for doc in noise.batches(events):
            key = noise.batch_key(hour(now), self._writer, next(self._seq))
            error = self._put(key, doc)
            if error:  # st2api down for good: keep serving
                self._metrics.record_failures.inc(len(doc["events"]))
                self._log.error(
                    "recording %d incident(s) in %s failed after %d tries: %s (their "
                    "poundcake.alerts_recorded trigger instances are in st2; get_alert and "
                    "list_alerts will not show them)",
                    len(doc["events"]),
                    key,
                    len(self._retry_seconds) + 1,
                    error,
                )
                continue
            written += len(doc["events"])
            self._metrics.records_written.inc(len(doc["events"]))
            if self._index is not None:
                self._index.add_noise(key, doc["events"])
            self._view.take_events(doc["events"])
        if written and self._index is not None:
            self._index.flush()  # queryable now, not at the next 15 s flush
        return written

    def _put(self, key: str, doc: Dict[str, Any]) -> str:
        """Store one batch, trying again after each of ``retry_seconds``; ""
        once stored, else the last error."""
        error = ""
        for pause in (0.0,) + tuple(self._retry_seconds):
            time.sleep(pause)
            try:
                self._store.put(key, doc, ttl=self._ttl)
                return ""
            except Exception as exc:  # st2api restarting, or down
                error = f"{type(exc).__name__}: {exc}"
                self._log.warning("storing %s failed (%s); trying again", key, error)
        return error

    def _event(self, payload: Mapping[str, Any], now: float) -> Dict[str, Any]:
        if payload["status"] == "resolved":
            return noise.event(payload)
        fresh = observe(None, payload, now)
        return noise.event(payload, decide(fresh, False, self._suppressions, False, now))
