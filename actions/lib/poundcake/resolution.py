"""Closing incidents when their alert resolves (one home for the action and the sensor).

A resolve closes every open incident of its fingerprint, not only the one
its tracking id names: Alertmanager keeps the earliest startsAt it was
given, and a restarted Prometheus sends a new one, so the resolve may carry
another startsAt than the firing did. Each close is its own key
(``poundcake.resolved.<tracking_id>``), never a write to the incident, so a
resolve never races the remediation that owns the incident record.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from poundcake.incidents import log, open_incidents
from poundcake.state_store import INCIDENT, RESOLVED, StateStore, iso


def close_incidents(
    store: StateStore, alert: Mapping[str, Any], mode: str, keep_seconds: int
) -> List[Dict[str, Any]]:
    """Write the resolve of each open incident of ``alert``'s fingerprint.

    Returns the resolve documents; ``canceled`` lists the remediations the
    caller must cancel (``mode`` ``cancel``). With no incident recorded yet
    the resolve is kept for the alert's own tracking id, so a firing
    processed later remediates nothing.
    """
    tracking_id = alert["tracking_id"]
    candidates = dict(store.scan(f"{INCIDENT}{alert['fingerprint']}-"))
    already = {key[len(RESOLVED) :] for key, _ in store.scan(RESOLVED + alert["fingerprint"])}
    records: List[Optional[Dict[str, Any]]] = list(open_incidents(candidates.values(), already))
    if not records and not candidates and tracking_id not in already:
        records = [None]
    docs = [_resolve(store, alert, record, mode) for record in records]
    for doc in docs:
        # Kept past the purge age (the sensor purges at incident_ttl_seconds).
        store.put(RESOLVED + doc["tracking_id"], doc, ttl=keep_seconds)
    return docs


def close(record: Dict[str, Any], alert: Mapping[str, Any], now: float) -> None:
    """Close ``record``, an incident no rule remediates, for the resolve
    ``alert`` (the record of such an incident holds its own resolve)."""
    record["resolved_at"] = iso(now)
    record["updated_at"] = iso(now)
    log(record, "resolved", now, _note(record["tracking_id"], alert, None, False))
    record["state"] = "resolved"


def _resolve(
    store: StateStore, alert: Mapping[str, Any], record: Optional[Dict[str, Any]], mode: str
) -> Dict[str, Any]:
    tracking_id = record["tracking_id"] if record else alert["tracking_id"]
    running = (
        (record.get("remediation") or {}).get("execution_id")
        if record and record["state"] == "remediating"
        else None
    )
    cancel = bool(running) and mode == "cancel"
    return {
        "tracking_id": tracking_id,
        "resolved_at": iso(store.clock()),
        "ends_at": alert.get("ends_at"),
        "request_id": alert.get("request_id"),
        "note": _note(tracking_id, alert, running, cancel),
        "canceled": [running] if cancel else [],
    }


def _note(tracking_id: str, alert: Mapping[str, Any], running: Optional[str], cancel: bool) -> str:
    note = "resolved by Alertmanager"
    if tracking_id != alert["tracking_id"]:
        note += f" (the resolve carried another startsAt: {alert['tracking_id']})"
    if cancel:
        note += f"; remediation {running} canceled (on_resolve: cancel)"
    elif running:
        note += f"; remediation {running} left to finish (on_resolve: let_finish)"
    return note
