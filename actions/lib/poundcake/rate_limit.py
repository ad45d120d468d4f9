"""Blast radius per alertname: at most N remediations a window, M hosts at once.

A bad deploy that fires ServiceDown on 200 hosts must not get 200 restarts.
Each alertname has one record, ``poundcake.rate.<alertname>``: the starts in
the current window and the remediations in flight (one slot each, taken when
``remediate`` is about to be requested, given back when the incident's
remediation is recorded as finished).

st2's datastore has no compare-and-set, so every read-modify-write of that
record runs under a lock of st2's coordination backend (the one the
concurrency policies use): a burst of simultaneous alerts is admitted one at
a time. A slot whose remediation never recorded its end (a runner killed
mid-way) expires after ``slot_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping

from poundcake.state_store import PREFIX, Lock, StateStore, alert_key

RATE = PREFIX + "rate."
SLOT_SECONDS = 6 * 3600  # longer than any remediation's timeouts


@dataclass(frozen=True)
class Limits:
    max_remediations: int
    window_seconds: int
    max_hosts_in_flight: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        def number(key: str, default: int) -> int:
            value = config.get(key, default)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"config {key} must be an integer >= 1, not {value!r}")
            return value

        return cls(
            number("rate_limit_remediations", 10),
            number("rate_limit_window_seconds", 3600),
            number("max_hosts_in_flight", 3),
        )


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str
    escalate: bool = False  # the first refusal of a window escalates; the rest are recorded


def rate_key(alertname: str) -> str:
    return RATE + alert_key(alertname)


def admit(
    store: StateStore,
    lock: Lock,
    alertname: str,
    tracking_id: str,
    host: str,
    limits: Limits,
    now: float,
) -> Admission:
    """Take a slot for ``tracking_id`` on ``host``, or say why not."""
    key = rate_key(alertname)
    with lock(key):
        doc = _current(store.get(key), limits, now)
        in_flight: Dict[str, Dict[str, Any]] = doc["in_flight"]
        if tracking_id in in_flight:
            return Admission(True, "already admitted")
        hosts = {slot["host"] for slot in in_flight.values()}
        reason = ""
        if len(doc["starts"]) >= limits.max_remediations:
            reason = (
                f"rate limit: {len(doc['starts'])} remediations of {alertname} within "
                f"{limits.window_seconds} s (rate_limit_remediations: {limits.max_remediations})"
            )
        elif host not in hosts and len(hosts) >= limits.max_hosts_in_flight:
            reason = (
                f"blast radius: {len(hosts)} hosts already in remediation for {alertname} "
                f"({', '.join(sorted(hosts))}; max_hosts_in_flight: {limits.max_hosts_in_flight})"
            )
        if reason:
            escalated_at = doc.get("escalated_at")
            escalate = escalated_at is None or now - escalated_at >= limits.window_seconds
            if escalate:
                doc["escalated_at"] = now
                store.put(key, doc, ttl=2 * limits.window_seconds + SLOT_SECONDS)
            return Admission(False, reason, escalate)
        doc["starts"].append(now)
        in_flight[tracking_id] = {"host": host, "at": now}
        store.put(key, doc, ttl=2 * limits.window_seconds + SLOT_SECONDS)
        return Admission(True, "admitted")


def release(store: StateStore, lock: Lock, alertname: str, tracking_id: str) -> bool:
    """Give back ``tracking_id``'s slot; whether it held one."""
    key = rate_key(alertname)
    with lock(key):
        doc = store.get(key)
        if not doc or tracking_id not in doc.get("in_flight", {}):
            return False
        del doc["in_flight"][tracking_id]
        store.put(key, doc, ttl=SLOT_SECONDS + 2 * 86400)
        return True


def _current(doc: Any, limits: Limits, now: float) -> Dict[str, Any]:
    doc = dict(doc or {})
    doc["starts"] = [t for t in doc.get("starts", []) if now - t < limits.window_seconds]
    doc["in_flight"] = {
        tid: slot
        for tid, slot in (doc.get("in_flight") or {}).items()
        if now - slot.get("at", 0) < SLOT_SECONDS
    }
    return doc
