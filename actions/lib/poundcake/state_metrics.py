"""Remediation metrics on the sensor's /metrics, and the state poll behind them.

Remediations run in st2's action runners, not in the sensor, so the sensor
polls the datastore every ``state_poll_seconds`` (never on the request path).
A poll reads the maintenance windows, the open breakers and only the
incidents the sensor's :class:`~poundcake.incident_view.IncidentView` is
watching (opted-in alerts whose record has not settled), so its cost
follows the remediations in flight, not the incidents st2 retains. The
first poll after a start seeds the view from the newest records
(:func:`poundcake.queries.recent`: as much at 100,000 records as at 1,000);
on an install from before :mod:`poundcake.index` it reads every record
once instead, to write the index.

- ``poundcake_remediations_executed_total{workflow,status}``,
  ``poundcake_escalations_failed_total`` (a failure whose record
  says ``escalated: false``) and ``poundcake_remediation_duration_seconds``
  count each remediation the sensor sees finish (from 0 at each sensor start);
  ``poundcake_notifications_failed_total`` the failures to tell people:
  the writers' (starting a message, the escalation alert, the silence) its
  reads newly show in a record's ``notifications``, and the messages that
  failed later, as st2 lists its failed ``poundcake.notify`` executions
  (one call a poll, :class:`FailedMessages`).
- ``poundcake_active_remediations``, ``poundcake_suppressed_incidents`` and
  ``poundcake_breakers_open`` are what the view says now, and
  ``poundcake_escalations_open`` the escalations the poll's last round
  kept in Alertmanager (:mod:`poundcake.escalations`).

Records expire by st2's key TTL (``incident_ttl_seconds`` from their
resolve), so the poll deletes nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional

from prometheus_client import Counter, Gauge, Histogram

from poundcake.board import Board
from poundcake.escalations import EscalationKeeper
from poundcake.incident_view import WATCH_SECONDS, IncidentView
from poundcake.incidents import view
from poundcake.index import IndexWriter, indexed
from poundcake.lifecycle_config import DEFAULT_RETENTION, Retention
from poundcake.queries import recent
from poundcake.reader import incidents
from poundcake.recorder import IncidentRecorder
from poundcake.st2_api import St2Api
from poundcake.state_store import BREAKER_OPEN, INCIDENT, StateStore
from poundcake.suppressions import stored_windows
from poundcake.watchdog import Watchdog

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
        self.escalations_failed = Counter(
            "poundcake_escalations_failed",
            "Failed remediations whose escalation did not run or failed.",
            registry=registry,
        )
        self.notifications_failed = Counter(
            "poundcake_notifications_failed",
            "Failures to tell people (a notifier, the escalation alert, the silence).",
            registry=registry,
        )
        self.escalations_open = Gauge(
            "poundcake_escalations_open",
            "Open PoundCakeEscalation alerts the sensor's last round re-posted to Alertmanager.",
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
        self.poll_seconds = Gauge(
            "poundcake_state_poll_seconds",
            "How long the last state poll took.",
            registry=registry,
        )
        self.poll_calls = Gauge(
            "poundcake_state_poll_calls",
            "Datastore calls (st2api requests) the last state poll made.",
            registry=registry,
        )
        self.unrouted = Counter(
            "poundcake_unrouted_incidents",
            "Opted-in incidents recorded unrouted: no rule ran process_alert for them.",
            registry=registry,
        )
        self.stuck = Counter(
            "poundcake_stuck_incidents_closed",
            "Remediating records the poll closed as failed: their process_alert ended or hung.",
            registry=registry,
        )
        self.watched = Gauge(
            "poundcake_state_watched",
            "Incidents in flight the state poll reads (one datastore call each).",
            registry=registry,
        )
        self.seed_seconds = Gauge(
            "poundcake_state_seed_seconds",
            "How long the read of every record at the sensor's start took.",
            registry=registry,
        )
        self.seed_calls = Gauge(
            "poundcake_state_seed_calls",
            "Datastore calls the read of every record at the sensor's start made.",
            registry=registry,
        )

    def finished(self, before: Optional[Dict[str, Any]], doc: Dict[str, Any]) -> None:
        """Count a remediation the first time a read shows it finished, and
        the failures to tell people a read shows for the first time."""
        new = _tell_failures(doc) - _tell_failures(before)
        if new > 0:
            self.notifications_failed.inc(new)
        remediation = doc.get("remediation") or {}
        finished = remediation.get("finished_at")
        if not finished or (before and (before.get("remediation") or {}).get("finished_at")):
            return
        self.executed.labels(remediation.get("workflow", ""), remediation["outcome"]).inc()
        if remediation["outcome"] == "failed" and not remediation.get("escalated"):
            self.escalations_failed.inc()
        self.duration.observe(remediation.get("duration_seconds", 0))

    def show(self, shown: List[Dict[str, Any]], breakers: List[Dict[str, Any]]) -> None:
        self.active.set(sum(1 for d in shown if d["state"] == "remediating"))
        self.suppressed.set(sum(1 for d in shown if d["state"] == "suppressed"))
        self.breakers_open.set(len(breakers))


def _tell_failures(doc: Optional[Dict[str, Any]]) -> int:
    return int(((doc or {}).get("notifications") or {}).get("writer_failures") or 0)


class FailedMessages:
    """The ``poundcake.notify`` executions st2 lists failed that the last
    calls did not: a message fails after its writer is done, often after
    the record left the poll's watch. The first call only takes note (the
    counter starts at 0 with the sensor); at most ``PAGE`` a poll."""

    PAGE = 100
    KEPT = 1000

    def __init__(self, api: Callable[[], St2Api], log: Any) -> None:
        self._api = api
        self._log = log
        self._seen: Optional[Dict[str, None]] = None  # ids, oldest first

    def new(self) -> int:
        path = f"/executions?action=poundcake.notify&status=failed&limit={self.PAGE}"
        try:
            found = self._api().checked("GET", path + "&include_attributes=id") or []
        except Exception as exc:  # a metric's side path: never the poll's failure
            self._log.warning("could not list failed poundcake.notify executions: %s", exc)
            return 0
        ids = [e["id"] for e in found if e.get("id")]
        first = self._seen is None
        seen = self._seen if self._seen is not None else {}
        fresh = [i for i in ids if i not in seen]
        for i in fresh:
            seen[i] = None
        while len(seen) > self.KEPT:
            del seen[next(iter(seen))]
        self._seen = seen
        return 0 if first else len(fresh)


class StatePoller:
    """Polls every ``interval`` seconds: updates the view and the metrics, and
    hands the view to the incident board and the maintenance windows to the
    incident recorder."""

    def __init__(
        self,
        metrics: RemediationMetrics,
        store: StateStore,
        interval: float,
        log: Any,
        incidents: IncidentView,
        board: Optional[Board] = None,
        recorder: Optional[IncidentRecorder] = None,
        index: Optional[IndexWriter] = None,
        watchdog: Optional[Watchdog] = None,
        retention: Retention = DEFAULT_RETENTION,
        failed_messages: Optional[FailedMessages] = None,
        escalations: Optional[EscalationKeeper] = None,
    ) -> None:
        self._metrics = metrics
        self._escalations = escalations
        self._failed_messages = failed_messages
        self._view = incidents
        self._board = board
        self._recorder = recorder
        self._index = index
        self._watchdog = watchdog
        self._store = store
        self._interval = interval
        self._retention = retention  # what the start reads back, what is gone
        self._log = log
        self._seeded = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poundcake-state", daemon=True)

    def start(self) -> None:
        if self._interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def poll_once(self) -> None:
        store = self._store
        seeding = not self._seeded
        if seeding:  # once per sensor start: the newest records, for the view
            self._seed(store)
        # every poll but the seed's reads what is in flight; a failed seed's too:
        # the watchdog must not wait for the read of what came before
        if not seeding or not self._seeded:
            watching = self._view.watching(store.clock())
            self._metrics.watched.set(len(watching))
            for tracking_id in watching:
                record = self._watched(tracking_id, store.get(INCIDENT + tracking_id))
                if record is not None:
                    shown = view(record)
                    self._metrics.finished(self._view.settle(tracking_id, shown), shown)
        if self._failed_messages is not None:
            self._metrics.notifications_failed.inc(self._failed_messages.new())
        breakers = store.records(BREAKER_OPEN)
        windows = stored_windows(store)
        shown = self._view.shown()
        self._metrics.show(shown, breakers)
        if self._recorder is not None:
            self._recorder.set_suppressions(windows)
        if self._board is not None:
            now = store.clock()
            views = [w.view(now) for w in windows]
            self._board.update(shown, views, breakers, now, self._view.limit)
        if self._escalations is not None:  # last: Alertmanager's time is not the board's
            try:
                self._escalations.keep()
            except Exception as exc:  # st2api listing the names: the next round
                self._log.warning("keeping PoundCakeEscalation alerts failed: %s", exc)

    def _seed(self, store: StateStore) -> None:
        """Read back the newest records for the view; a failure is counted
        and logged, and the next poll tries again."""
        try:
            if not indexed(store):
                # an install from before the index: every record, indexed as read (once)
                docs = incidents(store)
                if self._index is not None:
                    docs = self._index.add_records(docs)
            else:
                docs = recent(store, self._retention, self._view.limit, WATCH_SECONDS)
            self._view.seed(docs, store.clock())
        except Exception as exc:  # st2api down or answering 500: the poll goes on
            self._metrics.poll_errors.inc()
            self._log.warning(
                "reading back poundcake records failed (tried again next poll): %s: %s",
                type(exc).__name__, exc,
            )  # fmt: skip
            return
        self._seeded = True

    def _watched(
        self, tracking_id: str, record: Optional[Dict[str, Any]]
    ) -> Optional[Dict[str, Any]]:
        """The record, after the watchdog closed what would stick (poundcake.watchdog)."""
        dog = self._watchdog
        if dog is None:
            return record
        if record is None:
            firing = self._view.firing(tracking_id)
            if firing is None or self._store.clock() - firing[0] < dog.unrouted_after:
                return None
            record = dog.unrouted(firing[1])
            self._metrics.unrouted.inc(record is not None)
            return record
        if record["state"] == "remediating":
            closed = dog.stuck(record)
            self._metrics.stuck.inc(closed is not None)
            return closed or record
        if record["state"] == "awaiting_approval":
            dog.approval_overdue(record)
        return record

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            calls = self._store.calls
            seeding = not self._seeded
            try:
                self.poll_once()
            except Exception as exc:  # st2api down, a bad record: keep serving
                self._metrics.poll_errors.inc()
                self._log.warning(
                    "reading poundcake records failed: %s: %s", type(exc).__name__, exc
                )
            took = time.monotonic() - started
            if seeding and self._seeded:  # the one read of everything: not a poll's cost
                self._metrics.seed_seconds.set(took)
                self._metrics.seed_calls.set(self._store.calls - calls)
                self._stop.wait(self._interval)
                continue
            self._metrics.poll_seconds.set(took)
            self._metrics.poll_calls.set(self._store.calls - calls)
            # Every read is an st2api call (and CPU st2 needs for remediation):
            # when st2api is slow, poll less often rather than add to its load.
            self._stop.wait(max(self._interval, POLL_DUTY * took))
