"""Closing incidents when their alert resolves (one home for the action and the sensor).

A resolve closes every open incident of its fingerprint, not only the one
its tracking id names: Alertmanager keeps the earliest startsAt it was
given, and a restarted Prometheus sends a new one, so the resolve may carry
another startsAt than the firing did.

The resolve is written into the incident record itself: what a record
stores is what every reader is shown. Every writer of an opted-in incident
(``record_alert``, ``admit_remediation``, ``finish_remediation``,
``note_approval`` and ``resolve_incident``) does its read-modify-write under
the incident's lock of st2's coordination backend, so a resolve landing
while a firing is decided, or a late firing on another sensor replica, can
never overwrite the other.

An incident no rule remediates has no record of its own to write: its
resolve is an event in the sensor's batches (:mod:`poundcake.noise`), and
readers replay it with :func:`close`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from poundcake.incidents import last_entry, log, observe
from poundcake.state_store import INCIDENT, Lock, StateStore, iso

if TYPE_CHECKING:
    from poundcake.transitions import Tell

BY_WEBHOOK = "resolved by Alertmanager"


def close_incidents(
    store: StateStore,
    alert: Mapping[str, Any],
    mode: str,
    ttl: int,
    lock: Lock,
    tell: Optional[Tell] = None,
    by: str = BY_WEBHOOK,
) -> List[Dict[str, Any]]:
    """Close each open incident of ``alert``'s fingerprint in its own record.

    Returns one document per incident closed; ``canceled`` lists the
    remediations the caller must cancel (``mode`` ``cancel``). With no
    incident recorded yet the alert's own record is created resolved, so a
    firing processed later remediates nothing. ``ttl`` (0: never) is the
    records' st2 key TTL from now on. ``tell`` is handed each record and
    its last history entry before the resolve, under the lock, before the
    record is stored; ``by`` says what saw the alert resolve.
    """
    prefix = f"{INCIDENT}{alert['fingerprint']}-"
    tracking_ids = [doc["tracking_id"] for doc in store.records(prefix)] or [alert["tracking_id"]]
    docs = []
    for tracking_id in tracking_ids:
        key = INCIDENT + tracking_id
        with lock(key):
            record = store.get(key)
            if record is not None and record["state"] == "resolved":
                continue
            since = last_entry(record)
            if record is None:
                record = observe(None, {**alert, "tracking_id": tracking_id}, store.clock())
            doc = _resolve(store, alert, record, mode, by)
            if tell is not None:
                tell(record, since)
            store.put(key, record, ttl=ttl)
        docs.append(doc)
    return docs


def close(record: Dict[str, Any], alert: Mapping[str, Any], now: float) -> None:
    """Close ``record``, an incident no rule remediates, as the resolve
    ``alert`` does (in memory: readers replay the batches' events with it)."""
    record["resolved_at"] = iso(now)
    record["updated_at"] = iso(now)
    log(record, "resolved", now, _note(record["tracking_id"], alert, None, False, BY_WEBHOOK))
    record["state"] = "resolved"


def _resolve(
    store: StateStore, alert: Mapping[str, Any], record: Dict[str, Any], mode: str, by: str
) -> Dict[str, Any]:
    """Write the resolve into ``record``; what the caller must know of it."""
    now = store.clock()
    remediation = record.get("remediation") or {}
    running = remediation.get("execution_id") if record["state"] == "remediating" else None
    cancel = bool(running) and mode == "cancel"
    note = _note(record["tracking_id"], alert, running, cancel, by)
    if cancel:
        remediation.update(outcome="canceled", finished_at=iso(now))
        for execution in record["executions"]:
            if execution["id"] == running:
                execution.update(status="canceled", finished_at=iso(now))
        log(record, "canceled", now, f"remediation {running} canceled (on_resolve: cancel)")
    record["resolved_at"] = iso(now)
    record["ends_at"] = alert.get("ends_at")
    record["updated_at"] = iso(now)
    log(record, "resolved", now, note)
    record["state"] = "resolved"
    record["reason"] = note
    return {
        "tracking_id": record["tracking_id"],
        "alertname": record.get("alertname", ""),
        "resolved_at": record["resolved_at"],
        "note": note,
        "canceled": [running] if cancel else [],
        "record": record,
    }


def _note(
    tracking_id: str, alert: Mapping[str, Any], running: Optional[str], cancel: bool, by: str
) -> str:
    note = by
    if tracking_id != alert["tracking_id"]:
        note += f" (the resolve carried another startsAt: {alert['tracking_id']})"
    if cancel:
        note += f"; remediation {running} canceled (on_resolve: cancel)"
    elif running:
        note += f"; remediation {running} left to finish (on_resolve: let_finish)"
    return note
