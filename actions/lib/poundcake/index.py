"""Hourly indexes of incidents and deliveries, so a query reads what it shows.

st2's datastore lists keys by prefix only. "The newest incidents", "the
incidents of delivery X" or "one fingerprint's incidents among the sensor's
batches" would otherwise read every record retained: 165 s for 100,000 on
the st2 kit. So the sensor, which sees every alert, writes two indexes, one
new key per flush, hour and kind (never a read-modify-write: the datastore
has no compare-and-set), each within the size bound:

- ``poundcake.started.<YYYYMMDDHH>.<kind><writer>-<seq>``: the incidents whose
  alert started in that hour (UTC), as ``[tracking_id, starts_at, alertname,
  severity, opted_in, state, batch key, received at]`` (the last three for
  the sensor's own records, :mod:`poundcake.noise`), and the resolves the
  sensor recorded in that hour, as ``[fingerprint, tracking_id, received at,
  batch key]``. Kind ``r``: alerts a rule remediates; ``n``: the others.
  ``list_alerts`` walks the hours back from now (an empty day costs one
  call) and reads records only until it has its ``limit``; having passed
  an incident's hour it has met every resolve that may have closed it.
- ``poundcake.delivered.<YYYYMMDDHH>.<writer>-<seq>``: request id → tracking
  ids of the alerts that delivery dispatched. Request ids carry their time
  (:func:`poundcake.tracking.request_time`), so ``get_request`` reads one hour.

The sensor flushes every ``FLUSH_SECONDS`` (off the request path), when the
recorder has stored a batch, and when it stops. A crash loses at most the
entries of the last interval: a firing alert's next re-send indexes it
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
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple

from poundcake.fingerprints import RECENT_HOURS as FINGERPRINTS_RECENT_HOURS
from poundcake.fingerprints import FingerprintIndex
from poundcake.sizes import cut_strings, size, split
from poundcake.state_store import PREFIX, StateStore, epoch, hour
from poundcake.tracking import request_time
from poundcake.triggers import opted_in

STARTED = PREFIX + "started."
DELIVERED = PREFIX + "delivered."
FLUSH_SECONDS = 15.0
# Key suffixes by kind: ``.r<writer>-<seq>`` rows of alerts a rule remediates,
# ``.n<writer>-<seq>`` those of the recorder's batches (and their resolves),
# so the sensor's start reads the first kind alone.
REMEDIABLE, RECORDED = "r", "n"
FOREVER = 366 * 86400  # what the index assumes of records kept without a TTL
_HOUR = 3600
_DAY = 86400


class Entry(NamedTuple):
    tracking_id: str
    starts_at: str
    alertname: str
    severity: str
    # Opted in: st2's actions own the record (its resolve written in); else
    # the sensor recorded it.
    opted_in: bool = True
    # The sensor's records: the state it recorded and the batch key of the
    # event (empty: a per-incident record, from before the batches).
    state: str = ""
    where: str = ""
    at: str = ""  # when the sensor received it


class Resolve(NamedTuple):
    """A resolve the recorder stored: it closes the open incidents of its
    fingerprint. Indexed under the hour it was received, so a walk back from
    now meets it before any incident it closes."""

    fingerprint: str
    tracking_id: str
    at: str
    where: str


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
        # (kind, hour) -> rows; a recorded kind's rows are incidents and resolves
        self._rows: Dict[Tuple[str, str], List[List[Any]]] = defaultdict(list)
        self._resolves: Dict[str, List[List[Any]]] = defaultdict(list)
        self._delivered: Dict[str, Dict[str, List[str]]] = defaultdict(dict)
        self._pending = 0
        self._seen = OrderedDict()  # tracking_id -> when indexed, oldest first
        self._fingerprints = FingerprintIndex()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="poundcake-index", daemon=True)

    @property
    def pending(self) -> int:
        return self._pending + self._fingerprints.pending

    def add(self, request_id: str, payloads: Iterable[Mapping[str, Any]]) -> None:
        """Index what one delivery dispatched (in memory; the flush writes it):
        the delivery, and the alerts a rule remediates (the others are indexed
        by :meth:`add_noise` once the recorder stored them)."""
        now = self._store.clock()
        tracking_ids = []
        with self._lock:
            for payload in payloads:
                tracking_ids.append(payload["tracking_id"])
                if opted_in(payload):
                    self._add_incident(payload, now, REMEDIABLE, [True, "", ""])
            if tracking_ids and self._room(1):
                ids = list(dict.fromkeys(tracking_ids))
                taken = request_time(request_id) or now
                self._delivered[hour(taken)][request_id] = ids
                self._pending += 1
        self._metrics.index_pending.set(self._pending)

    def add_noise(self, key: str, events: Iterable[Mapping[str, Any]]) -> None:
        """Index the events the recorder stored in the batch ``key``: each
        incident (once per half lifetime, as :meth:`add`), and each resolve."""
        now = self._store.clock()
        with self._lock:
            for ev in events:
                resolved = ev["status"] == "resolved"
                state = "resolved" if resolved else ev.get("state", "")
                # Every event its row (a re-send's batch holds its request id), but
                # a resolve's only when its firing was not indexed here.
                once = resolved or None
                self._add_incident(ev, now, RECORDED, [False, state, key, ev["at"]], once)
                if resolved and self._room(1):
                    at = ev["at"]
                    row = [ev["fingerprint"], ev["tracking_id"], at, key]
                    self._resolves[hour(min(epoch(at), now))].append(row)
                    self._pending += 1
            self._fingerprints.add(key, {ev["fingerprint"] for ev in events}, hour(now))
        self._metrics.index_pending.set(self.pending)

    def add_records(self, docs: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Index records as they are read (``docs`` passed through): the
        records of an install from before the index."""
        now = self._store.clock()
        for doc in docs:
            with self._lock:
                self._add_incident(
                    doc, now, REMEDIABLE, [True, "", ""]
                )  # a record: read its resolve
            yield doc

    def _add_incident(
        self,
        doc: Mapping[str, Any],
        now: float,
        kind: str,
        tail: List[Any],
        once: Optional[bool] = True,
    ) -> None:
        """A row for ``doc``; ``once``: not when indexed less than half a
        lifetime ago (``None``: always)."""
        tracking_id = doc["tracking_id"]
        last = self._seen.get(tracking_id)
        if once is not None and last is not None and now - last < lifetime(self._ttl) / 2:
            return
        if not self._room(1):
            return
        self._seen[tracking_id] = now
        self._seen.move_to_end(tracking_id)
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        starts_at = doc.get("starts_at", "")
        row = [tracking_id, starts_at, doc.get("alertname", ""), doc.get("severity", ""), *tail]
        self._rows[(kind, hour(bucket_time(starts_at, now, self._ttl)))].append(row)
        self._pending += 1

    def _room(self, count: int) -> bool:
        if self._pending + count <= self._max_pending:
            return True
        self._metrics.index_dropped.inc(count)
        return False

    def start(self) -> None:
        self._thread.start()

    def flush(self, everything: bool = False) -> int:
        """Write what is collected; return the keys written. What fails to be
        written is kept for the next flush (st2api may be restarting).
        ``everything``: the fingerprints of this hour are compacted too (the
        sensor is stopping)."""
        now_hour = hour(self._store.clock())
        with self._lock:
            fingerprints = self._fingerprints.writes(now_hour, everything)
            rows, self._rows = self._rows, defaultdict(list)
            resolves, self._resolves = self._resolves, defaultdict(list)
            delivered, self._delivered = self._delivered, defaultdict(dict)
            self._pending = 0
        ttl = lifetime(self._ttl) + _DAY if self._ttl else None
        unwritten: List[Tuple[Dict[str, Any], Any]] = []
        written = 0
        docs = []
        for b in set(resolves) - {h for k, h in rows if k == RECORDED}:
            rows[(RECORDED, b)] = []
        for (kind, bucket), entries in rows.items():
            for doc in _index_docs(entries, resolves.get(bucket, []) if kind == RECORDED else []):
                docs.append((STARTED, bucket, kind, doc))
        for bucket, requests in delivered.items():
            for part in split(list(requests.items()), base=_REQUESTS_OVERHEAD, measure=size):
                docs.append((DELIVERED, bucket, "", {"requests": dict(part)}))
        for prefix, bucket, kind, doc in docs:
            if self._put(f"{prefix}{bucket}.{kind}", doc, ttl):
                written += 1
            else:
                unwritten.append((doc, (prefix, bucket, kind)))
        recent_ttl = FINGERPRINTS_RECENT_HOURS * _HOUR
        for write in fingerprints:
            if self._put(write[0], write[1], recent_ttl if write[2] == "recent" else ttl):
                written += 1
            else:
                with self._lock:
                    self._fingerprints.keep(write, now_hour)
        with self._lock:  # kept for the next flush, as far as there is room
            for doc, (prefix, bucket, kind) in unwritten:
                count = len(doc.get("incidents", [])) + len(doc.get("resolves", []))
                count += len(doc.get("requests", {}))
                if not self._room(count):
                    continue
                self._pending += count
                if prefix == DELIVERED:
                    self._delivered[bucket].update(doc["requests"])
                else:
                    self._rows[(kind, bucket)].extend(doc["incidents"])
                    self._resolves[bucket].extend(doc.get("resolves", []))
        self._metrics.index_pending.set(self.pending)
        return written

    def _put(self, prefix: str, doc: Dict[str, Any], ttl: Optional[int]) -> bool:
        key = f"{prefix}{self._writer}-{next(self._seq)}"
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
        return self.flush(everything=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()


_REQUESTS_OVERHEAD = size({"requests": {}})


def _index_docs(incidents: List[List[Any]], resolves: List[List[Any]]) -> List[Dict[str, Any]]:
    """One hour's rows as index documents, each within the size bound."""
    rows = [("i", _shrink_row(r)) for r in incidents] + [("r", _shrink_row(r)) for r in resolves]
    out = []
    for part in split(rows, base=size({"incidents": [], "resolves": []}), measure=_row_size):
        doc: Dict[str, Any] = {"incidents": [r for k, r in part if k == "i"]}
        if any(k == "r" for k, _ in part):
            doc["resolves"] = [r for k, r in part if k == "r"]
        out.append(doc)
    return out


def _row_size(item: Tuple[str, List[Any]]) -> int:
    return size(item[1])


def _shrink_row(row: List[Any]) -> List[Any]:
    """A row with an over-long string (an alertname of megabytes) cut."""
    return [cut_strings(v) if isinstance(v, str) else v for v in row]


# ---------------------------------------------------------------- reading
class Hour(NamedTuple):
    at: float  # when the hour starts
    entries: List[Entry]
    resolves: List[Resolve]


def indexed(store: StateStore) -> bool:
    """Whether any index key exists (one small call)."""
    return store.any(STARTED)


def hours_back(
    store: StateStore, prefix: str, ttl: int, oldest: Optional[float] = None, suffix: str = ""
) -> Iterator[Tuple[float, List[Dict[str, Any]]]]:
    """``(hour, documents)`` under ``<prefix><YYYYMMDDHH>.<suffix>``, newest hour
    first, back to :func:`horizon_days` (or to the hour of ``oldest``); a day
    with no key costs one call, an hour with none one call too."""
    for at, docs in hours_back_lazily(store, prefix, ttl, oldest, suffix):
        found = list(docs)
        if found:
            yield at, found


def hours_back_lazily(
    store: StateStore,
    prefix: str,
    ttl: int,
    oldest: Optional[float] = None,
    suffix: str = "",
    page_bytes: Optional[int] = None,
    largest: Optional[int] = None,
) -> Iterator[Tuple[float, Iterator[Dict[str, Any]]]]:
    """As :func:`hours_back`, each hour's documents read as they are taken
    (in pages of about ``page_bytes``, values of at most ``largest``: see
    ``StateStore.scan``), every hour of a day with keys given."""
    now = store.clock()
    newest = int(now // _HOUR) + 1  # one hour ahead: the sensor's clock may run ahead
    today = int(now // _DAY)
    last = today - horizon_days(ttl)
    if oldest is not None:
        last = max(last, int(oldest // _DAY))
    for day in range(today, last - 1, -1):
        if not store.any(prefix + hour(day * _DAY)[:8]):
            continue
        for at in range(min(newest, (day + 1) * 24 - 1), day * 24 - 1, -1):
            if oldest is not None and (at + 1) * _HOUR <= oldest:
                return
            scan = store.scan(f"{prefix}{hour(at * _HOUR)}.{suffix}", page_bytes, largest)
            yield at * _HOUR, (doc for _, doc in scan)


def newest_hours(
    store: StateStore, ttl: int, oldest: Optional[float] = None, kind: str = ""
) -> Iterator[Hour]:
    """The index, one hour at a time, newest hour first (see :func:`hours_back`);
    ``kind`` :data:`REMEDIABLE` reads the rows of opted-in alerts alone."""
    for at, docs in hours_back(store, STARTED, ttl, oldest, kind):
        entries = [Entry(*row) for doc in docs for row in doc.get("incidents", [])]
        resolves = [Resolve(*row) for doc in docs for row in doc.get("resolves", [])]
        yield Hour(at, entries, resolves)


def delivered(store: StateStore, request_id: str, at: float) -> List[str]:
    """The tracking ids the delivery ``request_id`` (taken at ``at``) dispatched."""
    found: List[str] = []
    for _, doc in store.scan(f"{DELIVERED}{hour(at)}."):
        found.extend(doc.get("requests", {}).get(request_id, []))
    return list(dict.fromkeys(found))
