"""Blast radius: at most N remediations a window, M hosts at once, per alertname
and per remediation workflow.

A bad deploy that fires ServiceDown on 200 hosts must not get 200 restarts.
Each alertname and each workflow has one record, ``poundcake.rate.<subject>``:
the starts in the current window and the remediations in flight (one slot each, taken when
``remediate`` is about to be requested, given back when the incident's
remediation is recorded as finished).

st2's datastore has no compare-and-set, so every read-modify-write of that
record runs under a lock of st2's coordination backend (the one the
concurrency policies use): a burst of simultaneous alerts is admitted one at
a time. A slot whose remediation never recorded its end (a runner killed
mid-way) expires after ``slot_seconds``.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from poundcake.state_store import PREFIX, Lock, StateStore, alert_key

RATE = PREFIX + "rate."
SLOT_SECONDS = 6 * 3600  # longer than any remediation's timeouts
TTL = 2 * 86400 + SLOT_SECONDS


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


def rate_key(subject: str) -> str:
    return RATE + alert_key(subject)


def subjects(alertname: str, workflow: str) -> List[str]:
    """What the caps count per: the alertname, and the remediation workflow
    (alert authors choose alertnames, so a cap per alertname alone would
    multiply with the names they make up)."""
    return [alertname, f"workflow:{workflow}"] if workflow else [alertname]


def admit(
    store: StateStore,
    lock: Lock,
    names: Sequence[str],
    tracking_id: str,
    host: str,
    limits: Limits,
    now: float,
) -> Admission:
    """Take a slot for ``tracking_id`` on ``host`` in every one of ``names``, or
    say why not (then it holds none)."""
    keys = sorted({rate_key(name): name for name in names}.items())
    with ExitStack() as held:
        for key, _ in keys:  # in one order everywhere: no deadlock
            held.enter_context(lock(key))
        docs = {key: _current(store.get(key), limits, now) for key, _ in keys}
        for key, name in keys:
            reason = _over(docs[key], name, tracking_id, host, limits)
            if reason:
                return _refuse(store, key, docs[key], reason, limits, now)
        for key, _ in keys:
            doc = docs[key]
            if tracking_id not in doc["in_flight"]:
                doc["starts"].append(now)
                doc["in_flight"][tracking_id] = {"host": host, "at": now}
                store.put(key, doc, ttl=max(TTL, 2 * limits.window_seconds + SLOT_SECONDS))
    return Admission(True, "admitted")


def _over(
    doc: Dict[str, Any], name: str, tracking_id: str, host: str, limits: Limits
) -> Optional[str]:
    in_flight: Dict[str, Dict[str, Any]] = doc["in_flight"]
    if tracking_id in in_flight:
        return None
    hosts = {slot["host"] for slot in in_flight.values()}
    if len(doc["starts"]) >= limits.max_remediations:
        return (
            f"rate limit: {len(doc['starts'])} remediations of {name} within "
            f"{limits.window_seconds} s (rate_limit_remediations: {limits.max_remediations})"
        )
    if host not in hosts and len(hosts) >= limits.max_hosts_in_flight:
        return (
            f"blast radius: {len(hosts)} hosts already in remediation for {name} "
            f"({', '.join(sorted(hosts))}; max_hosts_in_flight: {limits.max_hosts_in_flight})"
        )
    return None


def _refuse(
    store: StateStore, key: str, doc: Dict[str, Any], reason: str, limits: Limits, now: float
) -> Admission:
    """The first refusal of a window escalates; the rest are recorded only."""
    escalated_at = doc.get("escalated_at")
    escalate = escalated_at is None or now - escalated_at >= limits.window_seconds
    if escalate:
        doc["escalated_at"] = now
        store.put(key, doc, ttl=max(TTL, 2 * limits.window_seconds + SLOT_SECONDS))
    return Admission(False, reason, escalate)


def release(store: StateStore, lock: Lock, names: Sequence[str], tracking_id: str) -> bool:
    """Give back ``tracking_id``'s slots; whether it held one."""
    held = False
    for key in sorted({rate_key(name) for name in names}):
        with lock(key):
            doc = store.get(key)
            if not doc or tracking_id not in doc.get("in_flight", {}):
                continue
            del doc["in_flight"][tracking_id]
            store.put(key, doc, ttl=TTL)
            held = True
    return held


def _current(doc: Any, limits: Limits, now: float) -> Dict[str, Any]:
    doc = dict(doc or {})
    doc["starts"] = [t for t in doc.get("starts", []) if now - t < limits.window_seconds]
    doc["in_flight"] = {
        tid: slot
        for tid, slot in (doc.get("in_flight") or {}).items()
        if now - slot.get("at", 0) < SLOT_SECONDS
    }
    return doc
