"""Circuit breaker per alertname: stop auto-remediating what keeps failing.

Each failed remediation writes its own key (no shared counter: two failures
of one alertname may finish at the same time). Only a remediation that ran
and failed counts: not a dry run, not a refusal, not a workflow that handed
the incident to a human (``remediate_host_down`` on an unreachable host).
When ``threshold`` failures fall within ``window`` seconds the breaker
opens: one escalation says so, and new incidents record ``skipped``.

It heals: ``cooldown`` seconds after it opened it is half-open, and lets one
trial remediation through (taken under the breaker's coordination lock, so
two incidents never both try). The trial's success closes it; its failure
opens it again for another cooldown. ``reset_breaker`` closes it at once.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from poundcake.state_store import BREAKER_FAILURE, BREAKER_OPEN, Lock, StateStore, alert_key, iso

TRIAL_SECONDS = 6 * 3600  # a trial that never recorded its end stops blocking then


def failure_prefix(alertname: str) -> str:
    return f"{BREAKER_FAILURE}{alert_key(alertname)}."


def open_key(alertname: str) -> str:
    return BREAKER_OPEN + alert_key(alertname)


def admit(
    store: StateStore, lock: Lock, alertname: str, tracking_id: str, cooldown: int, now: float
) -> Optional[str]:
    """None when ``tracking_id`` may remediate (closed, or it is the half-open
    trial); else why it is skipped. ``cooldown`` 0: open until reset."""
    key = open_key(alertname)
    if store.get(key) is None:
        return None
    with lock(key):
        doc = store.get(key)
        if doc is None:
            return None
        if not cooldown:
            return f"circuit breaker open for {alertname} (until reset_breaker)"
        retry_at = doc.get("opened_at_ts", now) + cooldown
        if now < retry_at:
            return f"circuit breaker open for {alertname} (half-opens at {iso(retry_at)})"
        trial = doc.get("trial")
        if trial and trial != tracking_id and now - doc.get("trial_at", 0) < TRIAL_SECONDS:
            return f"circuit breaker half-open for {alertname}: trial {trial} is running"
        doc.update(trial=tracking_id, trial_at=now, state="half_open")
        store.put(key, doc)
        return None


def trial_ended(
    store: StateStore,
    lock: Lock,
    alertname: str,
    tracking_id: str,
    succeeded: Optional[bool],
    now: float,
) -> Optional[str]:
    """Close the breaker after its trial succeeded, reopen it after it failed,
    let another trial through after one that ended neither way (``None``);
    what happened (None: ``tracking_id`` was no trial)."""
    key = open_key(alertname)
    with lock(key):
        doc = store.get(key)
        if doc is None or doc.get("trial") != tracking_id:
            return None
        if succeeded:
            reset(store, alertname)
            return "closed"
        if succeeded is None:
            doc.update(trial=None)
            store.put(key, doc)
            return "trial cleared"
        cooldown = doc.get("cooldown_seconds") or 0
        half_opens = iso(now + cooldown) if cooldown else None
        doc.update(
            opened_at=iso(now), opened_at_ts=now, trial=None, state="open", half_opens_at=half_opens
        )
        store.put(key, doc)
        return "reopened"


def record_failure(
    store: StateStore,
    alertname: str,
    tracking_id: str,
    threshold: int,
    window: int,
    cooldown: int = 0,
) -> Optional[Dict[str, Any]]:
    """Count a failed remediation; return the breaker record if this opened it."""
    now = store.clock()
    store.put(failure_prefix(alertname) + tracking_id, {"at": now}, ttl=window)
    failures = [
        doc["at"] for doc in store.records(failure_prefix(alertname)) if doc["at"] > now - window
    ]
    if len(failures) < threshold or store.get(open_key(alertname)) is not None:
        return None
    breaker = {
        "alertname": alertname,
        "state": "open",
        "opened_at": iso(now),
        "opened_at_ts": now,
        "cooldown_seconds": cooldown,
        "half_opens_at": iso(now + cooldown) if cooldown else None,
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
