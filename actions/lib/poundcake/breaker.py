"""Circuit breaker per alertname: stop auto-remediating what keeps failing.

Each failed incident writes its own key (no shared counter: the datastore
has no compare-and-set, and two failures of one alertname may finish at the
same time). When ``threshold`` failures fall within ``window`` seconds the
breaker opens: remediation of that alertname stops, one escalation says so,
and every new incident records ``skipped`` until an operator resets it.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from poundcake.state_store import BREAKER_FAILURE, BREAKER_OPEN, StateStore, alert_key, iso


def failure_prefix(alertname: str) -> str:
    return f"{BREAKER_FAILURE}{alert_key(alertname)}."


def open_key(alertname: str) -> str:
    return BREAKER_OPEN + alert_key(alertname)


def is_open(store: StateStore, alertname: str) -> bool:
    return store.get(open_key(alertname)) is not None


def record_failure(
    store: StateStore, alertname: str, tracking_id: str, threshold: int, window: int
) -> Optional[Dict[str, Any]]:
    """Count a failed remediation; return the breaker record if this opened it."""
    now = store.clock()
    store.put(failure_prefix(alertname) + tracking_id, {"at": now}, ttl=window)
    failures = [
        doc["at"] for doc in store.records(failure_prefix(alertname)) if doc["at"] > now - window
    ]
    if len(failures) < threshold or is_open(store, alertname):
        return None
    breaker = {
        "alertname": alertname,
        "opened_at": iso(now),
        "failures": len(failures),
        "window_seconds": window,
        "last_tracking_id": tracking_id,
    }
    store.put(open_key(alertname), breaker)
    return breaker


def reset(store: StateStore, alertname: str) -> Dict[str, Any]:
    """Close the breaker and forget its failures (operator action)."""
    was_open = store.delete(open_key(alertname))
    cleared = 0
    for key, _ in list(store.scan(failure_prefix(alertname))):
        cleared += bool(store.delete(key))
    return {"alertname": alertname, "was_open": was_open, "failures_cleared": cleared}
