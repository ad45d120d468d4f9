"""Incidents that no rule remediates, recorded by the sensor itself.

An alert that did not opt in (``labels.auto_remediate != "true"``, see
:func:`poundcake.triggers.opted_in`) still gets its trigger instance in st2
and its incident record in the datastore, but no execution: st2 schedules
executions in arrival order and each costs it real time, so a storm of noise
would otherwise queue every remediation behind it. After its trigger is
dispatched with the rest of its delivery (never slowing a dispatch, and the 200
to Alertmanager never waits for it), the alert joins a
bounded queue; ``workers`` writers record it ``hold`` seconds later (one read
and one write of its incident key; a resolve closes the fingerprint's open
incidents in their own records, which st2's key TTL then purges
``incident_ttl_seconds`` later). Each record written goes to the sensor's
:class:`~poundcake.incident_view.IncidentView` too, so the state poll never
reads these records back. The hold keeps these writes out of the first seconds of a
remediation that arrived in the same delivery: st2 turns every datastore
write into a ``core.st2.key_value_pair.*`` trigger instance for its rules
engine, so a storm's records would otherwise compete with it.

One writer per key still holds: these incidents are never remediated, so
``process_alert`` never writes them. When st2 stops the sensor (SIGTERM:
a restart, a pack upgrade) the writers stop holding and write what is
queued until st2's SIGKILL is near. What a crash (or that deadline) costs:
the alerts still queued (at most ``max_queue``; normally those of the last
``hold`` seconds). Their trigger instances are in st2 already (``st2
trigger-instance list --trigger=poundcake.alert_recorded``); only the
datastore record is missing, until a re-send of the alert (the restarted
sensor has forgotten it was sent) records it.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Dict, List, Mapping

from poundcake.incident_view import IncidentView
from poundcake.incidents import apply, decide, observe, view
from poundcake.resolution import close_recorded
from poundcake.state_store import INCIDENT, StateStore
from poundcake.suppressions import Suppression

_STOP = object()


class IncidentRecorder:
    def __init__(
        self,
        store: StateStore,
        log: Any,
        unresolved_ttl: int,
        resolved_ttl: int,
        metrics: Any,
        incidents: IncidentView,
        workers: int = 8,
        max_queue: int = 100_000,
        hold: float = 15.0,
    ) -> None:
        self._store = store
        self._log = log
        self._unresolved_ttl = unresolved_ttl
        self._resolved_ttl = resolved_ttl
        self._view = incidents
        self._metrics = metrics
        self._workers = workers
        self._hold = hold
        self._queue = queue.Queue(max_queue)
        self._suppressions: List[Suppression] = []
        # One write at a time per fingerprint: a resolve must not pass its firing.
        self._lock = threading.Lock()
        self._busy: Dict[str, threading.Event] = {}
        self._pending = 0  # queued or being written
        self._flushing = threading.Event()  # set: the sensor is stopping, no more holding
        self._threads: List[threading.Thread] = []

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        """Start the writers (green threads under st2's eventlet patching)."""
        for i in range(self._workers):
            name = f"poundcake-recorder-{i}"
            thread = threading.Thread(target=self._work, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def flush(self) -> None:
        """Stop holding: write what is queued, and what comes, at once."""
        self._flushing.set()

    def stop(self, deadline: float) -> int:
        """Write what is queued until ``deadline`` (``time.monotonic()``), then
        stop the writers; return how many alerts were left unrecorded (logged)."""
        self.flush()
        for _ in self._threads:
            try:
                self._queue.put_nowait(_STOP)
            except queue.Full:
                break
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = self._pending
        if left:
            self._log.warning(
                "stopping with %d incident(s) not recorded (their trigger instances are in "
                "st2; a re-send of a still-firing alert records it)",
                left,
            )
        return left

    def submit(self, payload: Mapping[str, Any]) -> bool:
        """Queue an alert's payload for recording; False (counted, logged) when full."""
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait((time.monotonic() + self._hold, payload))
        except queue.Full:
            self._done()
            self._metrics.records_dropped.inc()
            self._log.warning(
                "record queue full: incident %s not recorded (its trigger instance is in st2)",
                payload["tracking_id"],
            )
            return False
        self._metrics.record_queue.set(self._pending)
        return True

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
        self._metrics.record_queue.set(self._pending)

    def set_suppressions(self, windows: List[Suppression]) -> None:
        """The maintenance windows the state poll read last (decide() records them)."""
        self._suppressions = windows

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            due, payload = item
            self._flushing.wait(max(0.0, due - time.monotonic()))
            fingerprint = payload["fingerprint"]
            with self._lock:
                earlier = self._busy.get(fingerprint)
                mine = self._busy[fingerprint] = threading.Event()
            if earlier is not None:
                earlier.wait(30)  # a resolve waits for its firing's write
            try:
                self.record(payload)
                self._metrics.records_written.inc()
            except Exception as exc:  # st2api down, a bad record: keep serving
                self._metrics.record_failures.inc()
                self._log.warning(
                    "recording incident %s failed: %s: %s",
                    payload["tracking_id"],
                    type(exc).__name__,
                    exc,
                )
            finally:
                mine.set()
                with self._lock:
                    if self._busy.get(fingerprint) is mine:
                        del self._busy[fingerprint]
                self._done()

    def record(self, payload: Mapping[str, Any]) -> None:
        """Record one delivery of an alert that no rule remediates."""
        store = self._store
        if payload["status"] == "resolved":
            for record in close_recorded(store, payload, self._resolved_ttl):
                self._view.put(view(record))
            return
        now = store.clock()
        key = INCIDENT + payload["tracking_id"]
        stored = store.get(key)
        if stored is not None and stored["state"] == "resolved":
            return  # a late re-send of a firing that has resolved since
        record = observe(stored, payload, now)
        decision = decide(record, False, self._suppressions, False, now)
        apply(record, decision, "", now)
        store.put(key, record, ttl=self._unresolved_ttl)
        self._view.put(view(record))
