"""Trigger payloads dispatched by the webhook sensor.

The shapes here are the pack's contract with rules; the sensor's YAML
declares the same shapes as ``payload_schema`` and a test checks that every
payload built here validates against it (st2 silently drops one that does
not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from poundcake.alertmanager import Alert, Delivery
from poundcake.sizes import MAX_DOCUMENT_BYTES, shrink, size, split
from poundcake.tracking import incident_id

PACK = "poundcake"
# The label an alert carries to ask for remediation: the shipped rules act
# only on alerts with auto_remediate="true"; the sensor records the others.
OPT_IN_LABEL = "auto_remediate"
ALERT_TRIGGER = f"{PACK}.alert"
# Alerts that did not opt in get a trigger no shipped rule listens to: st2's
# rules engine weighs every trigger instance against every rule of its trigger
# type, which made a storm of them cost seconds of st2's time per hundred.
RECORDED_TRIGGER = f"{PACK}.alert_recorded"
# The same alerts, one trigger instance per delivery (in parts within the
# size bound): what they cost st2 is one dispatch, not one per alert
# (config noise_triggers: per_delivery, the default).
BATCH_TRIGGER = f"{PACK}.alerts_recorded"
GROUP_TRIGGER = f"{PACK}.alert_group"
# What an alert's payload carries of its delivery (a batch carries it once).
_DELIVERY_FIELDS = (
    "request_id",
    "receiver",
    "group_key",
    "external_url",
    "truncated_alerts",
    "received_at",
)


@dataclass(frozen=True)
class TriggerInstance:
    """One dispatch: trigger ref, payload, trace tag and its dedup key."""

    trigger: str
    payload: Dict[str, Any]
    trace_tag: str
    dedup_key: str
    size: int = 0  # of the payload as JSON (measured once: a storm has thousands)


def opted_in(payload: Dict[str, Any]) -> bool:
    """Whether an alert payload is for the rules (remediation) or for the
    sensor's own recorder (no execution)."""
    return payload["labels"].get(OPT_IN_LABEL) == "true"


def alert_fields(alert: Alert) -> Dict[str, Any]:
    """The per-alert fields shared by both triggers."""
    return {
        "tracking_id": incident_id(alert),
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "alertname": alert.alertname,
        "severity": alert.labels.get("severity", ""),
        "instance": alert.labels.get("instance", ""),
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "generator_url": alert.generator_url,
    }


def alert_instance(
    fields: Dict[str, Any], delivery: Delivery, request_id: str, received_at: str
) -> TriggerInstance:
    """One ``poundcake.alert`` (or ``poundcake.alert_recorded``) from an
    alert's :func:`alert_fields`."""
    payload = dict(fields)
    payload.update(
        request_id=request_id,
        receiver=delivery.receiver,
        group_key=delivery.group_key,
        external_url=delivery.external_url,
        truncated_alerts=delivery.truncated_alerts,
        received_at=received_at,
    )
    tracking_id = fields["tracking_id"]
    measured = size(payload)
    if measured > MAX_DOCUMENT_BYTES:
        payload = shrink(payload, MAX_DOCUMENT_BYTES, drop=("annotations",))
        measured = size(payload)
    return TriggerInstance(
        trigger=ALERT_TRIGGER if opted_in(payload) else RECORDED_TRIGGER,
        payload=payload,
        trace_tag=tracking_id,
        dedup_key=f"{tracking_id}|{fields['status']}",
        size=measured,
    )


def batch_instances(
    members: Sequence[TriggerInstance], bound: int = MAX_DOCUMENT_BYTES
) -> List[Tuple[TriggerInstance, List[TriggerInstance]]]:
    """``poundcake.alerts_recorded`` instances for ``members`` (alert instances
    of one delivery), each payload within ``bound`` bytes, with the members
    each carries. Trace tag: the request id."""
    if not members:
        return []
    envelope = {k: members[0].payload[k] for k in _DELIVERY_FIELDS}
    base = size({**envelope, "part": 0, "parts": 0, "alert_count": 0, "alerts": []}) + 32
    room = bound - base
    items = []
    for m in members:
        alert = _alert_part(m.payload)
        # an alert's payload less its delivery's fields: no larger than its own size
        measured = m.size or size(alert)
        if measured > room:
            alert = shrink(alert, room, drop=("annotations",))
            measured = size(alert)
        items.append((alert, m, measured))
    parts = split(items, bound, base, measure=lambda item: item[2])
    out = []
    for number, part in enumerate(parts):
        payload = dict(
            envelope,
            part=number,
            parts=len(parts),
            alert_count=len(part),
            alerts=[alert for alert, _, _ in part],
        )
        batch = TriggerInstance(BATCH_TRIGGER, payload, envelope["request_id"], "")
        out.append((batch, [m for _, m, _ in part]))
    return out


def _alert_part(payload: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in _DELIVERY_FIELDS}


def group_instance(
    delivery: Delivery, alerts: List[Dict[str, Any]], request_id: str, received_at: str
) -> TriggerInstance:
    """One ``poundcake.alert_group`` for a delivery, given its alerts' fields.

    Its dedup key covers the group and the exact (incident, status) set, so a
    re-send of an unchanged group is a duplicate and any change is not.
    """
    members = sorted(f"{a['tracking_id']}|{a['status']}" for a in alerts)
    payload = {
        "request_id": request_id,
        "receiver": delivery.receiver,
        "status": delivery.status,
        "group_key": delivery.group_key,
        "group_labels": delivery.group_labels,
        "common_labels": delivery.common_labels,
        "common_annotations": delivery.common_annotations,
        "external_url": delivery.external_url,
        "truncated_alerts": delivery.truncated_alerts,
        "alert_count": len(alerts),
        "alerts": alerts,
        "received_at": received_at,
    }
    return TriggerInstance(
        trigger=GROUP_TRIGGER,
        payload=payload,
        trace_tag=request_id,
        dedup_key="group|" + _digest(delivery.group_key, *members),
    )


def _digest(*parts: str) -> str:
    """A short stable key for a long member list (bounded dedup memory)."""
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()
