"""What operators ask of PoundCake's records (the query actions' logic)."""

from __future__ import annotations

import heapq
import re
from collections import Counter
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from poundcake import index
from poundcake.incidents import attention, view
from poundcake.state_store import INCIDENT, StateStore
from poundcake.tracking import request_time

_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}\Z")
# Single record reads list_alerts makes before reading every record instead.
MAX_READS = 500


class QueryError(ValueError):
    """A query argument is invalid."""


def incidents(store: StateStore) -> Iterator[Dict[str, Any]]:
    """Every retained incident, as read (page by page, so a caller that keeps
    only what it needs holds only that)."""
    for _, doc in store.scan(INCIDENT):
        yield view(doc)


def newest_first(doc: Mapping[str, Any]) -> Tuple[str, str]:
    """Sort key: the incident that started last first (then the last created)."""
    return (doc.get("starts_at", ""), doc.get("created_at", ""))


def urgent_first(shown: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Incidents in the order people should look at them: by
    :func:`~poundcake.incidents.attention`, newest first within each rank."""
    return sorted(sorted(shown, key=newest_first, reverse=True), key=attention)


def get_alert(store: StateStore, fingerprint: str) -> Dict[str, Any]:
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise QueryError(f"fingerprint {fingerprint!r} must be 8-64 lowercase hex digits")
    found = [view(doc) for doc in store.records(f"{INCIDENT}{fingerprint}-")]
    if not found:
        raise QueryError(f"no incident recorded for fingerprint {fingerprint}")
    found.sort(key=lambda d: d.get("starts_at", ""), reverse=True)
    return {
        "fingerprint": fingerprint,
        "current": found[0],
        "history": found[1:],
        "executions": [e for doc in found for e in doc["executions"]],
    }


def list_alerts(
    store: StateStore,
    status: Optional[str] = None,
    severity: Optional[str] = None,
    alertname: Optional[str] = None,
    limit: int = 50,
    ttl: int = 0,
) -> List[Dict[str, Any]]:
    """The newest ``limit`` incidents that match, from the hourly index
    (:mod:`poundcake.index`): records are read only for the hours walked.
    ``ttl`` is ``unresolved_ttl_seconds`` (how far back records may live).

    Every record is read (100 a call) instead where that costs less: on an
    install whose sensor never wrote the index, and when a ``status`` few
    incidents have would take more than ``MAX_READS`` single reads."""
    if limit < 1:
        raise QueryError("limit must be at least 1")

    def wanted(its_severity: Optional[str], its_alertname: Optional[str]) -> bool:
        return (not severity or its_severity == severity) and (
            not alertname or its_alertname == alertname
        )

    def everything() -> List[Dict[str, Any]]:
        docs = (
            d
            for d in incidents(store)
            if wanted(d.get("severity"), d.get("alertname"))
            and (not status or d["state"] == status)
        )
        return [_summary(doc) for doc in heapq.nlargest(limit, docs, key=newest_first)]

    if not index.indexed(store):
        return everything()
    found: List[Dict[str, Any]] = []
    seen = set()
    for entries in index.newest_hours(store, ttl):
        hour = {e.tracking_id: e for e in entries if wanted(e.severity, e.alertname)}
        newest = sorted(hour.values(), key=lambda e: (e.starts_at, e.tracking_id), reverse=True)
        for entry in newest:
            if entry.tracking_id in seen:
                continue
            if status and len(seen) == MAX_READS:
                return everything()
            seen.add(entry.tracking_id)
            doc = _shown(store, entry.tracking_id)
            if doc is None or (status and doc["state"] != status):
                continue
            found.append(_summary(doc))
            if len(found) == limit:
                return found
    return found


def _shown(store: StateStore, tracking_id: str) -> Optional[Dict[str, Any]]:
    """One incident as :func:`incidents` shows it (None: not written, or
    expired)."""
    record = store.get(INCIDENT + tracking_id)
    if record is None:
        return None
    return view(record)


def alert_stats(store: StateStore) -> Dict[str, Any]:
    return stats(incidents(store))


def stats(shown: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Counts of incidents (as :func:`incidents` shows them) by state and severity."""
    total, by_status, by_severity = 0, Counter(), Counter()
    for doc in shown:
        total += 1
        by_status[doc["state"]] += 1
        by_severity[doc.get("severity") or "none"] += 1
    return {"total": total, "by_status": dict(by_status), "by_severity": dict(by_severity)}


def get_request(store: StateStore, request_id: str) -> Dict[str, Any]:
    """One delivery's incidents: from one hour of the delivery index when the
    id carries its time, else (an id from before the index, a delivery the
    index lost to a crash) from every record."""
    at = request_time(request_id)
    shown = [_shown(store, t) for t in index.delivered(store, request_id, at)] if at else []
    alerts = [d for d in shown if d is not None]
    if not alerts:
        alerts = [d for d in incidents(store) if request_id in d.get("request_ids", [])]
    if not alerts:
        raise QueryError(f"no incident recorded for request {request_id}")
    alerts.sort(key=newest_first, reverse=True)
    return {
        "request_id": request_id,
        "alerts": [_summary(d) for d in alerts],
        "executions": [e for d in alerts for e in d["executions"]],
    }


def _summary(doc: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("tracking_id", "fingerprint", "alertname", "severity", "instance", "state")
    summary = {k: doc.get(k) for k in keys}
    summary["starts_at"] = doc.get("starts_at")
    summary["updated_at"] = doc.get("updated_at")
    summary["executions"] = [e["id"] for e in doc["executions"]]
    return summary
