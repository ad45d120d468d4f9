"""Hourly indexes of incidents and deliveries, so a query reads what it shows.

st2's datastore lists keys by prefix only, and an incident's key starts with
its fingerprint (``get_alert`` reads one fingerprint's keys). "The newest
incidents" or "the incidents of delivery X" would otherwise read every
record retained: 165 s for 100,000 on the st2 kit. So the sensor, which sees
every alert, writes two indexes, one new key per flush and hour (never a
read-modify-write: the datastore has no compare-and-set):

- ``poundcake.started.<YYYYMMDDHH>.<writer>-<seq>``: the incidents whose
  alert started in that hour (UTC), as ``[tracking_id, starts_at, alertname,
  severity, opted_in]``. ``list_alerts`` walks the hours back from now (an empty day
  costs one call) and reads records only until it has its ``limit``.
- ``poundcake.delivered.<YYYYMMDDHH>.<writer>-<seq>``: request id → tracking
  ids of the alerts that delivery dispatched. Request ids carry their time
  (:func:`poundcake.tracking.request_time`), so ``get_request`` reads one hour.

The sensor flushes every ``FLUSH_SECONDS`` (off the request path) and when it
stops. A crash loses at most the entries of that last interval: the records
themselves are written by others, a firing alert's next re-send indexes it
again, and the queries fall back to reading every record where the index has
nothing (a legacy request id, an install whose sensor never ran).

An alert firing for longer than its records' TTL would fall out of the hours
``list_alerts`` walks: the sensor indexes an incident again when it sees it
half the TTL after the last time, in an hour no older than that
(:func:`bucket_time`).
"""

from __future__ import annotations

import itertools
import math
import threading
import uuid
from collections import OrderedDict, defaultdict
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional

from poundcake.state_store import PREFIX, StateStore, epoch
from poundcake.tracking import request_time
from poundcake.triggers import opted_in

STARTED = PREFIX + "started."
DELIVERED = PREFIX + "delivered."
FLUSH_SECONDS = 15.0
BATCH = 1000  # entries per key at most (about 130 kB; st2 makes each write a trigger instance)
FOREVER = 366 * 86400  # what the index assumes of records kept without a TTL
_HOUR = 3600
_DAY = 86400


class Entry(NamedTuple):
    tracking_id: str
    starts_at: str
    alertname: str
    severity: str
    # Opted in: st2's actions may have written a resolve key to read too
    # (the sensor's own records hold their resolve).
    opted_in: bool = True


def hour(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%d%H")


def lifetime(ttl: int) -> int:
    """How long a record may live without a write (``ttl`` 0: no expiry)."""
    return ttl or FOREVER


def horizon_days(ttl: int) -> int:
    """How many days back ``list_alerts`` walks: every bucket a live entry may be in."""
    return math.ceil(lifetime(ttl) / _DAY) + 1


def bucket_time(starts_at: str, now: float, ttl: int) -> float:
    """The hour an incident is indexed under: when its alert started, but
    never in the future (a skewed clock) nor older than half the lifetime
    (a long-firing alert stays within the walked horizon until re-indexed)."""
    try:
        started = epoch(starts_at)
    except ValueError:
        return now
    return min(max(started, now - lifetime(ttl) / 2), now)


class IndexWriter:
    """The sensor's side: collects entries, writes them every ``flush_seconds``."""

    def __init__(
        self,
        store: StateStore,
        log: Any,
        metrics: Any,
        ttl: int,
        flush_seconds: float = FLUSH_SECONDS,
        max_pending: int = 200_000,
        max_seen: int = 20_000,
        writer: str = "",
    ) -> None:
        self._store = store
        self._log = log
        self._metrics = metrics
        self._ttl = ttl
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._max_seen = max_seen
        # Keys of two sensor runs never collide (the benchmark's seeder names its own).
        self._writer = writer or uuid.uuid4().hex[:8]
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._started: Dict[str, List[List[Any]]] = defaultdict(list)
        self._delivered: Dict[str, Dict[str, List[str]]] = defaultdict(dict)
        self._pending = 0
        self._seen = OrderedDict()  # tracking_id -> when indexed, oldest first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poundcake-index", daemon=True)

    @property
    def pending(self) -> int:
        return self._pending

    def add(self, request_id: str, payloads: Iterable[Mapping[str, Any]]) -> None:
        """Index what one delivery dispatched (in memory; the flush writes it)."""
        now = self._store.clock()
        tracking_ids = []
        with self._lock:
            for payload in payloads:
                tracking_ids.append(payload["tracking_id"])
                self._add_incident(payload, now, opted_in(payload))
            if tracking_ids and self._room(1):
                ids = list(dict.fromkeys(tracking_ids))
                taken = request_time(request_id) or now
                self._delivered[hour(taken)][request_id] = ids
                self._pending += 1
        self._metrics.index_pending.set(self._pending)

    def add_records(self, docs: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Index records as they are read (``docs`` passed through): the
        records of an install from before the index."""
        now = self._store.clock()
        for doc in docs:
            with self._lock:
                self._add_incident(doc, now, True)  # a record says not: read its resolve
            yield doc

    def _add_incident(self, doc: Mapping[str, Any], now: float, opted: bool) -> None:
        tracking_id = doc["tracking_id"]
        last = self._seen.get(tracking_id)
        if last is not None and now - last < lifetime(self._ttl) / 2:
            return
        if not self._room(1):
            return
        self._seen[tracking_id] = now
        self._seen.move_to_end(tracking_id)
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        starts_at = doc.get("starts_at", "")
        entry = [tracking_id, starts_at, doc.get("alertname", ""), doc.get("severity", ""), opted]
        self._started[hour(bucket_time(starts_at, now, self._ttl))].append(entry)
        self._pending += 1

    def _room(self, count: int) -> bool:
        if self._pending + count <= self._max_pending:
            return True
        self._metrics.index_dropped.inc(count)
        return False

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> int:
        """Write what is collected; return the keys written. What fails to be
        written is kept for the next flush (st2api may be restarting)."""
        with self._lock:
            started, self._started = self._started, defaultdict(list)
            delivered, self._delivered = self._delivered, defaultdict(dict)
            self._pending = 0
        ttl = lifetime(self._ttl) + _DAY if self._ttl else None
        written = 0
        unwritten_started: List[Any] = []
        unwritten_delivered: List[Any] = []
        for bucket, entries in started.items():
            for first in range(0, len(entries), BATCH):
                chunk = entries[first : first + BATCH]
                if self._put(STARTED, bucket, {"incidents": chunk}, ttl):
                    written += 1
                else:
                    unwritten_started.append((bucket, chunk))
        for bucket, requests in delivered.items():
            if self._put(DELIVERED, bucket, {"requests": requests}, ttl):
                written += 1
            else:
                unwritten_delivered.append((bucket, requests))
        with self._lock:  # kept for the next flush, as far as there is room
            for bucket, chunk in unwritten_started:
                if self._room(len(chunk)):
                    self._started[bucket].extend(chunk)
                    self._pending += len(chunk)
            for bucket, requests in unwritten_delivered:
                if self._room(len(requests)):
                    self._delivered[bucket].update(requests)
                    self._pending += len(requests)
        self._metrics.index_pending.set(self._pending)
        return written

    def _put(self, prefix: str, bucket: str, doc: Dict[str, Any], ttl: Optional[int]) -> bool:
        key = f"{prefix}{bucket}.{self._writer}-{next(self._seq)}"
        try:
            self._store.put(key, doc, ttl=ttl)
            return True
        except Exception as exc:  # st2api down: keep it for the next flush
            self._metrics.index_failures.inc()
            self._log.warning("writing index key %s failed: %s: %s", key, type(exc).__name__, exc)
            return False

    def stop(self, wait: float = 1.0) -> int:
        """Stop the flushes and write what is left; return the keys written."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(wait)
        return self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()


# ---------------------------------------------------------------- reading
def indexed(store: StateStore) -> bool:
    """Whether any index key exists (one small call)."""
    return store.any(STARTED)


def newest_hours(store: StateStore, ttl: int) -> Iterator[List[Entry]]:
    """The index's entries, one hour at a time, newest hour first, back to
    :func:`horizon_days`; a day with no key costs one call."""
    now = store.clock()
    newest = int(now // _HOUR) + 1  # one hour ahead: the sensor's clock may run ahead
    today = int(now // _DAY)
    for day in range(today, today - horizon_days(ttl) - 1, -1):
        if not store.any(STARTED + hour(day * _DAY)[:8]):
            continue
        for at in range(min(newest, (day + 1) * 24 - 1), day * 24 - 1, -1):
            entries = [
                Entry(*row)
                for _, doc in store.scan(f"{STARTED}{hour(at * _HOUR)}.")
                for row in doc.get("incidents", [])
            ]
            if entries:
                yield entries


def delivered(store: StateStore, request_id: str, at: float) -> List[str]:
    """The tracking ids the delivery ``request_id`` (taken at ``at``) dispatched."""
    found: List[str] = []
    for _, doc in store.scan(f"{DELIVERED}{hour(at)}."):
        found.extend(doc.get("requests", {}).get(request_id, []))
    return list(dict.fromkeys(found))
