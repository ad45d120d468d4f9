"""What operators ask of PoundCake's records (the query actions' logic)."""

from __future__ import annotations

import heapq
import re
from collections import Counter
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from poundcake.incidents import view
from poundcake.state_store import INCIDENT, RESOLVED, StateStore, epoch

_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}$")


class QueryError(ValueError):
    """A query argument is invalid."""


Resolves = Dict[str, Dict[str, Any]]


def resolves(store: StateStore) -> Resolves:
    """Every ``resolve_incident`` record, by tracking id (one paged read)."""
    return {key[len(RESOLVED) :]: doc for key, doc in store.scan(RESOLVED)}


def incidents(store: StateStore, resolved: Optional[Resolves] = None) -> Iterator[Dict[str, Any]]:
    """Every retained incident, resolve merged in, as read (page by page, so a
    caller that keeps only what it needs holds only that).

    ``resolved`` is :func:`resolves` when the caller has already read it.
    """
    if resolved is None:
        resolved = resolves(store)
    for _, doc in store.scan(INCIDENT):
        yield view(doc, resolved.get(doc["tracking_id"]))


def newest_first(doc: Mapping[str, Any]) -> Tuple[str, str]:
    """Sort key: the incident that started last first (then the last created)."""
    return (doc.get("starts_at", ""), doc.get("created_at", ""))


def get_alert(store: StateStore, fingerprint: str) -> Dict[str, Any]:
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise QueryError(f"fingerprint {fingerprint!r} must be 8-64 lowercase hex digits")
    found = [
        view(doc, store.get(RESOLVED + doc["tracking_id"]))
        for doc in store.records(f"{INCIDENT}{fingerprint}-")
    ]
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
) -> List[Dict[str, Any]]:
    if limit < 1:
        raise QueryError("limit must be at least 1")
    wanted = (
        doc
        for doc in incidents(store)
        if (not status or doc["state"] == status)
        and (not severity or doc.get("severity") == severity)
        and (not alertname or doc.get("alertname") == alertname)
    )
    return [_summary(doc) for doc in heapq.nlargest(limit, wanted, key=newest_first)]


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
    alerts = sorted(
        (d for d in incidents(store) if request_id in d.get("request_ids", [])),
        key=newest_first,
        reverse=True,
    )
    if not alerts:
        raise QueryError(f"no incident recorded for request {request_id}")
    return {
        "request_id": request_id,
        "alerts": [_summary(d) for d in alerts],
        "executions": [e for d in alerts for e in d["executions"]],
    }


def purge_resolved(store: StateStore, ttl: float, resolved: Optional[Resolves] = None) -> int:
    """Delete incidents resolved more than ``ttl`` seconds ago; return how many.

    st2's own key TTL cannot express "``ttl`` after the resolve" for a record
    written before the resolve, so the sensor runs this off the request path.
    ``resolved`` is :func:`resolves` when the caller has already read it.
    """
    if resolved is None:
        resolved = resolves(store)
    now = store.clock()
    purged = 0
    for tracking_id, doc in resolved.items():
        if now - epoch(doc["resolved_at"]) >= ttl:
            store.delete(INCIDENT + tracking_id)
            store.delete(RESOLVED + tracking_id)
            purged += 1
    return purged


def _summary(doc: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("tracking_id", "fingerprint", "alertname", "severity", "instance", "state")
    summary = {k: doc.get(k) for k in keys}
    summary["starts_at"] = doc.get("starts_at")
    summary["updated_at"] = doc.get("updated_at")
    summary["executions"] = [e["id"] for e in doc["executions"]]
    return summary
