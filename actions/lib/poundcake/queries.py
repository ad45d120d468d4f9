"""What operators ask of PoundCake's records (the query actions' logic),
and what the sensor reads back at start; :mod:`poundcake.reader` reads the
records."""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from typing import Any, Dict, Iterable, List, Mapping, Optional

from poundcake import index, noise
from poundcake.fingerprints import Lookup
from poundcake.incidents import attention, view
from poundcake.index import Entry
from poundcake.lifecycle_config import DEFAULT_RETENTION, Retention
from poundcake.reader import Reader, by_incident, incidents, newest_first
from poundcake.sizes import MAX_DOCUMENT_BYTES
from poundcake.state_store import INCIDENT, NOISE, StateStore, epoch, iso
from poundcake.state_store import hour as hour_of
from poundcake.tracking import request_time
from poundcake.triggers import opted_in

_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}\Z")
# Single record reads a query makes before reading every record instead.
MAX_READS = 500
# ... and what alert_stats and the sensor's start make: past this many
# opted-in incidents in their window, reading every record 100 a call is cheaper.
WINDOW_READS = 20
# The sensor's start reads its batches in pages of about this many bytes.
SEED_PAGE_BYTES = 4_000_000
_HOUR = 3600


class QueryError(ValueError):
    """A query argument is invalid."""


def urgent_first(shown: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Incidents in the order people should look at them: by
    :func:`~poundcake.incidents.attention`, newest first within each rank."""
    return sorted(sorted(shown, key=newest_first, reverse=True), key=attention)


def get_alert(
    store: StateStore, fingerprint: str, retention: Retention = DEFAULT_RETENTION
) -> Dict[str, Any]:
    """Every incident of ``fingerprint``: its per-incident records (one prefix
    read), and, unless it is an opted-in fingerprint (st2's actions own all
    its records), its events in the sensor's batches, found through
    :mod:`poundcake.fingerprints`."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise QueryError(f"fingerprint {fingerprint!r} must be 8-64 lowercase hex digits")
    records = store.records(f"{INCIDENT}{fingerprint}-")
    found = {doc["tracking_id"]: view(doc) for doc in records}
    if not any(opted_in(doc) for doc in records):
        legacy = {doc["tracking_id"]: doc for doc in records}
        found.update(_batched(store, fingerprint, legacy, retention))
    if not found:
        raise QueryError(f"no incident recorded for fingerprint {fingerprint}")
    shown = sorted(found.values(), key=lambda d: d.get("starts_at", ""), reverse=True)
    return {
        "fingerprint": fingerprint,
        "current": shown[0],
        "history": shown[1:],
        "executions": [e for doc in shown for e in doc["executions"]],
    }


def _batched(
    store: StateStore,
    fingerprint: str,
    legacy: Dict[str, Dict[str, Any]],
    retention: Retention,
) -> Dict[str, Dict[str, Any]]:
    """The incidents of ``fingerprint`` the sensor's batches (and its records
    from before them, ``legacy``) make."""
    return _replayed(Reader(store, retention), Lookup(store, SEED_PAGE_BYTES), fingerprint, legacy)


def _replayed(
    reader: Reader,
    lookup: Lookup,
    fingerprint: str,
    legacy: Optional[Dict[str, Dict[str, Any]]] = None,
) -> Dict[str, Dict[str, Any]]:
    """The incidents of ``fingerprint``'s batched events (none: ``{}``), from its
    records of before the batches (``legacy``), those gone left out."""
    events = [
        ev
        for key in lookup.batches_of(fingerprint)
        for ev in reader.batch(key)
        if ev["fingerprint"] == fingerprint
    ]
    if not events:
        return {}
    now = reader.store.clock()
    return {
        tracking_id: record
        for tracking_id, record in noise.replay(events, dict(legacy or {})).items()
        if noise.retained(record, now, reader.retention)
    }


def list_alerts(
    store: StateStore,
    status: Optional[str] = None,
    severity: Optional[str] = None,
    alertname: Optional[str] = None,
    limit: int = 50,
    retention: Retention = DEFAULT_RETENTION,
) -> List[Dict[str, Any]]:
    """The newest ``limit`` incidents that match, from the hourly index
    (:mod:`poundcake.index`): records are read only for the hours walked,
    and a batched incident's state is known from its rows before its batch
    is read.

    Every per-incident record is read (100 a call) instead where that costs
    less: on an install whose sensor never wrote the index, and when a
    ``status`` few incidents have would take more than ``MAX_READS`` single
    reads."""
    if limit < 1:
        raise QueryError("limit must be at least 1")

    def wanted(its_severity: Optional[str], its_alertname: Optional[str]) -> bool:
        return (not severity or its_severity == severity) and (
            not alertname or its_alertname == alertname
        )

    if not index.indexed(store):
        docs = (
            d
            for d in incidents(store)
            if wanted(d.get("severity"), d.get("alertname"))
            and (not status or d["state"] == status)
        )
        return [_summary(doc) for doc in heapq.nlargest(limit, docs, key=newest_first)]
    reader = Reader(store, retention, MAX_READS if status else None)
    found: List[Dict[str, Any]] = []
    seen = set()
    for hour in index.newest_hours(store, retention.longest):
        reader.take(hour)
        rows = by_incident(e for e in hour.entries if wanted(e.severity, e.alertname))
        newest = sorted(rows, key=lambda t: (rows[t][0].starts_at, t), reverse=True)
        for tracking_id in newest:
            if tracking_id in seen:
                continue
            seen.add(tracking_id)
            known = reader.state(tracking_id, rows[tracking_id])
            if known == "" or (status and known is not None and known != status):
                continue
            doc = reader.show(tracking_id, rows[tracking_id])
            if doc is None or (status and doc["state"] != status):
                continue
            found.append(_summary(doc))
            if len(found) == limit:
                return found
    return found


def alert_stats(
    store: StateStore, hours: int = 24, retention: Retention = DEFAULT_RETENTION
) -> Dict[str, Any]:
    """Counts by state and severity of the incidents that started in the
    last ``hours`` hours (whole hours, from the index): what it reads grows
    with the alerts of that window, never with the records retained. The
    sensor's own incidents are counted from their index rows; the others
    are read (one get each, all at once past ``WINDOW_READS``)."""
    if not 1 <= hours <= 24 * index.horizon_days(retention.longest):
        raise QueryError("hours must be at least 1 and no more than the records live")
    since = store.clock() - hours * _HOUR
    if not index.indexed(store):  # an install whose sensor never wrote the index
        window = (d for d in incidents(store) if _started(d) >= since // _HOUR * _HOUR)
        return {"since": iso(since), "hours": hours, **stats(window)}
    reader = Reader(store, retention, WINDOW_READS)
    rows: Dict[str, List[Entry]] = defaultdict(list)
    for hour in index.newest_hours(store, retention.longest, oldest=since):
        reader.take(hour)
        for entry in hour.entries:
            rows[entry.tracking_id].append(entry)
    shown = []
    for tracking_id, entries in rows.items():
        state = reader.state(tracking_id, entries)
        if state is None:
            doc = reader.show(tracking_id, entries)
            if doc is not None:
                shown.append(doc)
        elif state:
            shown.append({"state": state, "severity": entries[0].severity})
    return {"since": iso(since), "hours": hours, **stats(shown)}


def _started(doc: Mapping[str, Any]) -> float:
    try:
        return epoch(doc.get("starts_at") or "")
    except ValueError:
        return 0.0


def stats(shown: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
    """Counts of incidents (as :func:`incidents` shows them) by state and severity."""
    total, by_status, by_severity = 0, Counter(), Counter()
    for doc in shown:
        total += 1
        by_status[doc["state"]] += 1
        by_severity[doc.get("severity") or "none"] += 1
    return {"total": total, "by_status": dict(by_status), "by_severity": dict(by_severity)}


def get_request(
    store: StateStore, request_id: str, retention: Retention = DEFAULT_RETENTION
) -> Dict[str, Any]:
    """One delivery's incidents: from one hour of the delivery index when the
    id carries its time, then each incident as :func:`get_alert` finds it
    (the batches of its fingerprint, or its own record: reading each shard of
    the fingerprint index once, however old the delivery). Else (an id from
    before the index, a delivery the index lost to a crash) from every
    per-incident record and the batches written in the hour after the
    delivery."""
    at = request_time(request_id)
    tracking_ids = index.delivered(store, request_id, at) if at else []
    alerts: List[Dict[str, Any]] = []
    if tracking_ids:
        reader = Reader(store, retention, MAX_READS)
        lookup = Lookup(store, SEED_PAGE_BYTES)
        batched: Dict[str, Dict[str, Any]] = {}
        for fingerprint in dict.fromkeys(t.rsplit("-", 1)[0] for t in tracking_ids):
            batched.update(_replayed(reader, lookup, fingerprint))
        shown = (batched.get(t) or reader.show(t, []) for t in tracking_ids)
        alerts = [d for d in shown if d is not None]
    if not alerts:
        alerts = [d for d in incidents(store) if request_id in d.get("request_ids", [])]
        if at:
            alerts += _near(store, request_id, at, retention)
    if not alerts:
        raise QueryError(f"no incident recorded for request {request_id}")
    alerts.sort(key=newest_first, reverse=True)
    return {
        "request_id": request_id,
        "alerts": [_summary(d) for d in alerts],
        "executions": [e for d in alerts for e in d["executions"]],
    }


def _near(
    store: StateStore, request_id: str, at: float, retention: Retention
) -> List[Dict[str, Any]]:
    """The batched incidents of ``request_id`` from the batches written in
    its hour and the next (the recorder holds alerts seconds, not hours)."""
    events = [
        ev
        for when in (at, at + _HOUR)
        for _, doc in store.scan(f"{NOISE}{hour_of(when)}.", SEED_PAGE_BYTES, MAX_DOCUMENT_BYTES)
        for ev in doc["events"]
        if ev.get("request_id") == request_id
    ]
    now = store.clock()
    return [r for r in noise.replay(events).values() if noise.retained(r, now, retention)]


def recent(
    store: StateStore, retention: Retention, limit: int, watch_seconds: float
) -> List[Dict[str, Any]]:
    """What the sensor's view starts from: the opted-in incidents of the last
    ``watch_seconds`` (any still in flight among them), and the newest
    ``limit`` incidents of the sensor's batches of that time (read back hour
    by hour, newest first). It reads what those hours hold, however many
    records are retained."""
    now = store.clock()
    shown = []
    reader = Reader(store, retention, WINDOW_READS)
    for hour in index.newest_hours(store, retention.longest, now - watch_seconds, "r"):
        for tracking_id, entries in by_incident(hour.entries).items():
            doc = reader.show(tracking_id, entries)
            if doc is not None:
                shown.append(doc)
    events: List[Dict[str, Any]] = []
    incidents_read = set()
    hours = index.hours_back_lazily(
        store,
        NOISE,
        retention.longest,
        now - watch_seconds,
        page_bytes=SEED_PAGE_BYTES,
        largest=MAX_DOCUMENT_BYTES,
    )
    for _, docs in hours:
        for doc in docs:
            events += doc["events"]
            incidents_read.update(ev["tracking_id"] for ev in doc["events"])
            if len(incidents_read) >= limit:
                break
        if len(incidents_read) >= limit:
            break
    records = noise.replay(events).values()
    shown += [r for r in records if noise.retained(r, now, retention)]
    return shown


def _summary(doc: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("tracking_id", "fingerprint", "alertname", "severity", "instance", "state")
    summary = {k: doc.get(k) for k in keys}
    summary["starts_at"] = doc.get("starts_at")
    summary["updated_at"] = doc.get("updated_at")
    summary["executions"] = [e["id"] for e in doc["executions"]]
    return summary
