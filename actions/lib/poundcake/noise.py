"""Alerts no rule remediates, stored in batches and shown as incidents.

An alert that did not opt in (:func:`poundcake.triggers.opted_in`) costs st2
no execution, and no datastore write of its own either: st2 turns every
write into a ``core.st2.key_value_pair.*`` trigger instance for its rules
engine, and takes trigger instances in arrival order, so a storm's writes
would queue every remediation behind them. The sensor's recorder writes each
delivery of such an alert as an **event** into a batch,
``poundcake.noise.<YYYYMMDDHH>.<writer>-<seq>`` (the hour it was written), with
the other alerts it recorded at that moment, in parts of at most
:data:`poundcake.sizes.MAX_DOCUMENT_BYTES`. A batch is never rewritten.

An event says what one delivery of the alert was and what the sensor decided
for it then (``recorded``, or ``suppressed`` with the window). An incident is
what its events make of it, replayed in order with the lifecycle's own
functions (:func:`apply_event`): the same record the sensor used to store
per incident, with every delivery's request id and every change in its
history. A resolve closes every open incident of its fingerprint that
started before it; a resolve whose own incident was never recorded (its
firing came before the sensor ran) is shown as that incident, resolved.

The hourly index (:mod:`poundcake.index`) says which batch holds an
incident's events and carries each resolve, so queries read only the
batches of what they show.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, List, Mapping, Optional

from poundcake.incidents import Decision, apply, observe, suppressed_by
from poundcake.lifecycle_config import Retention
from poundcake.resolution import close
from poundcake.sizes import MAX_DOCUMENT_BYTES, shrink, size, split
from poundcake.state_store import NOISE, epoch

# The fields of an event besides those of the alert's trigger payload it keeps.
_ALERT_FIELDS = (
    "tracking_id",
    "fingerprint",
    "status",
    "alertname",
    "severity",
    "instance",
    "labels",
    "starts_at",
    "ends_at",
    "request_id",
)
_BATCH_OVERHEAD = size({"events": []})


def event(payload: Mapping[str, Any], decision: Optional[Decision] = None) -> Dict[str, Any]:
    """One delivery of an alert (its trigger payload) and the sensor's
    ``decision`` for it (none for a resolve), as stored in a batch."""
    doc = {k: payload.get(k) for k in _ALERT_FIELDS}
    doc["at"] = payload["received_at"]
    if decision is not None:
        doc["state"], doc["note"] = decision.state, decision.note
        if decision.suppressed_by is not None:
            doc["suppressed_by"] = suppressed_by(decision.suppressed_by)
    return shrink(doc, MAX_DOCUMENT_BYTES - _BATCH_OVERHEAD - 64)


def batches(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The documents to store ``events`` in, each within the size bound."""
    return [{"events": part} for part in split(events, MAX_DOCUMENT_BYTES, _BATCH_OVERHEAD)]


def batch_key(hour: str, writer: str, seq: int) -> str:
    return f"{NOISE}{hour}.{writer}-{seq}"


def apply_event(record: Optional[Dict[str, Any]], ev: Mapping[str, Any]) -> Dict[str, Any]:
    """The incident ``record`` (``None``: not seen yet) after the event ``ev``
    of its own tracking id."""
    at = epoch(ev["at"])
    if ev["status"] == "resolved":
        if record is None:
            record = observe(None, ev, at)
        if record["state"] != "resolved":
            close(record, ev, at)
        return record
    if record is not None and record["state"] == "resolved":
        return record  # a late re-send of a firing that has resolved since
    record = observe(record, ev, at)
    apply(record, Decision(False, ev["state"], ev["note"]), "", at)
    if ev.get("suppressed_by"):
        record["suppressed_by"] = dict(ev["suppressed_by"])
    return record


def replay(
    events: Iterable[Mapping[str, Any]], start: Optional[Dict[str, Dict[str, Any]]] = None
) -> Dict[str, Dict[str, Any]]:
    """The incidents ``events`` make, by tracking id, from the records
    ``start`` (per-incident records the sensor wrote before its batches).

    ``events`` are full events and resolves as the index carries them
    (``tracking_id``, ``fingerprint``, ``status`` ``resolved``, ``at``): a
    resolve closes every incident of its fingerprint open before it, and
    makes its own incident only from a full event. The same event read twice
    (from the index and its batch) counts once.
    """
    records: Dict[str, Dict[str, Any]] = {k: copy.deepcopy(v) for k, v in (start or {}).items()}
    seen = set()
    for ev in sorted(events, key=_order):
        once = (ev["tracking_id"], ev["status"], ev["at"], ev.get("request_id"))
        if once in seen:
            continue  # a resolve closes once anyway; a firing must not log twice
        seen.add(once)
        if ev["status"] != "resolved":
            records[ev["tracking_id"]] = apply_event(records.get(ev["tracking_id"]), ev)
            continue
        for record in records.values():
            if record["fingerprint"] == ev["fingerprint"] and record["state"] != "resolved":
                close(record, ev, epoch(ev["at"]))
        if ev["tracking_id"] not in records and "labels" in ev:
            records[ev["tracking_id"]] = apply_event(None, ev)
    return records


def retained(record: Mapping[str, Any], now: float, retention: Retention) -> bool:
    """Whether a replayed incident is still kept: ``incident_ttl_seconds``
    after its resolve it is gone, as a per-incident record is (its batches
    stay for the others they hold)."""
    resolved_at = record.get("resolved_at")
    return not resolved_at or not retention.gone(epoch(resolved_at), now)


def _order(ev: Mapping[str, Any]) -> tuple:
    return (epoch(ev["at"]), ev["status"] == "resolved")
