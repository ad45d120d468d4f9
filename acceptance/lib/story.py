"""One alert's story: fired through Alertmanager, then read back from st2.

A test fires an alert with a unique ``case`` label (so its fingerprint and
its Alertmanager group are its own), then asks st2 what happened the way an
operator would: the trigger instance the sensor dispatched, the rule
enforcements, the execution tree, ``st2 trace list --trace-tag``, and the
incident record in the datastore.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from st2 import St2, wait_until

TRIGGER = "poundcake.alert"  # alerts that ask for remediation, one trigger instance each
RECORDED = "poundcake.alerts_recorded"  # the others: one per delivery, with every alert
# Every rule some story saw enforced in this session (test_zz_rules checks all fired).
FIRED_RULES: set = set()


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str) -> float:
    """Seconds since the epoch of st2's ``2026-11-23T19:14:11.463829Z`` (or ``+00:00``),
    and of Prometheus's and Alertmanager's nanoseconds (``...11.463829123Z``)."""
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    return datetime.fromisoformat(value).timestamp()


def new_case(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Alert:
    def __init__(
        self, case: str, labels: Dict[str, str], annotations: Dict[str, str], starts: float
    ):
        self.case = case
        self.labels = labels
        self.annotations = annotations
        self.starts = starts
        self.posted_at = time.time()

    def body(self, ends: Optional[float] = None) -> Dict[str, Any]:
        out = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": stamp(self.starts),
            "generatorURL": "http://prometheus.acceptance/graph",
        }
        if ends is not None:
            out["endsAt"] = stamp(ends)
        return out


def alerts_of(payload: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The alerts a trigger payload carries, each as one payload: itself for
    ``poundcake.alert``, each alert with its delivery's fields for a part of
    ``poundcake.alerts_recorded``."""
    if "alerts" not in payload:
        return [payload]
    envelope = {k: v for k, v in payload.items() if k not in ("alerts", "part", "parts")}
    return [{**envelope, **alert} for alert in payload["alerts"]]


class Story:
    """What st2 recorded for one alert (firing or resolved)."""

    def __init__(
        self, st2: St2, alert: Alert, status: str, since: str, timeout: float = 60
    ) -> None:
        self.st2 = st2
        self.alert = alert
        self.opted_in = alert.labels.get("auto_remediate") == "true"
        trigger = TRIGGER if self.opted_in else RECORDED

        def find() -> Optional[Dict[str, Any]]:
            for ti in st2.trigger_instances(trigger, since):
                for payload in alerts_of(ti["payload"]):
                    same = payload["labels"].get("case") == alert.case
                    # a case may fire twice (a drifted startsAt): its own startsAt decides
                    if same and payload["status"] == status:
                        if abs(parse_time(payload["starts_at"]) - alert.starts) < 1:
                            return ti, payload
            return None

        self.trigger_instance, self.payload = wait_until(
            find, timeout, f"a {status} {trigger} for case {alert.case}"
        )
        self.tracking_id = self.payload["tracking_id"]

    # ------------------------------------------------------ st2's records
    def enforcements(self, count: int = 1, timeout: float = 30) -> List[Dict[str, Any]]:
        def done():
            found = self.st2.enforcements(self.trigger_instance["id"])
            return (
                found if len(found) >= count and all(e.get("execution_id") for e in found) else None
            )

        found = wait_until(done, timeout, f"{count} rule enforcement(s) for {self.tracking_id}")
        FIRED_RULES.update(e["rule"]["ref"] for e in found)
        return found

    def rules(self) -> List[str]:
        return sorted(e["rule"]["ref"] for e in self.enforcements())

    def execution(self, timeout: float = 180) -> Dict[str, Any]:
        """The rule's execution, once finished."""
        (enforcement,) = self.enforcements()
        return self.st2.wait_execution(enforcement["execution_id"], timeout)

    def tree(self) -> List[Dict[str, Any]]:
        (enforcement,) = self.enforcements()
        return self.st2.children(enforcement["execution_id"])

    def refs(self) -> List[str]:
        return [e["action"]["ref"] for e in self.tree()]

    def of(self, ref: str) -> List[Dict[str, Any]]:
        return [e for e in self.tree() if e["action"]["ref"] == ref]

    def recorded(self, timeout: float = 60) -> Dict[str, Any]:
        """The incident record, once it exists (the sensor writes those of
        alerts that did not opt in a moment after their trigger)."""
        return wait_until(self.record, timeout, f"the incident record of {self.tracking_id}")

    def no_execution(self) -> None:
        """Nothing in st2 ran for this trigger instance: no rule matched it."""
        assert self.st2.enforcements(self.trigger_instance["id"]) == []

    def record(self) -> Optional[Dict[str, Any]]:
        """The incident as the pack shows it: the record st2's actions keep for
        an alert that asked for remediation; for the others, what
        ``st2 run poundcake.get_alert`` shows (the sensor stores them in
        batches, one key for many alerts)."""
        if self.opted_in:
            return self.st2.record(f"poundcake.incident.{self.tracking_id}")
        shown = self.st2.run("poundcake.get_alert", fingerprint=self.payload["fingerprint"])
        if shown["status"] != "succeeded":
            return None
        found = shown["result"]["result"]
        incidents = (found["current"], *found["history"])
        return next((i for i in incidents if i["tracking_id"] == self.tracking_id), None)

    def resolved(self) -> Optional[Dict[str, Any]]:
        """The incident once its resolve is in: the record of an alert that
        asked for remediation (every writer writes the resolve into it, under
        the incident lock; there is no separate key), what get_alert shows of
        the others (the sensor's batches hold their resolve)."""
        record = self.record()
        return record if record and record["state"] == "resolved" else None

    def traced(self) -> Dict[str, List[str]]:
        """``st2 trace list --trace-tag <tracking id>``: the ids of what it holds, by
        kind (trigger instances of ``poundcake.*`` only; st2 adds an action
        trigger per execution). The CLI shows a lone trace whole."""
        trace = self.st2.cli("trace", "list", "--trace-tag", self.tracking_id)
        assert isinstance(trace, dict), f"expected one trace for {self.tracking_id}: {trace}"
        out = {
            kind: [c["object_id"] for c in trace.get(kind, [])]
            for kind in ("rules", "action_executions")
        }
        out["trigger_instances"] = [
            c["object_id"] for c in trace["trigger_instances"] if c["ref"].startswith("poundcake.")
        ]
        return out

    def latency(self, ref: str) -> Dict[str, float]:
        """Seconds from the sensor's dispatch (and from the post to Alertmanager)
        to the start and end of the remediation ``ref``."""
        (remediation,) = self.of(ref)
        dispatched = parse_time(self.trigger_instance["occurrence_time"])
        started = parse_time(remediation["start_timestamp"])
        ended = parse_time(remediation["end_timestamp"])
        return {
            "sensor_to_start": started - dispatched,
            "sensor_to_end": ended - dispatched,
            "post_to_start": started - self.alert.posted_at,
            "post_to_end": ended - self.alert.posted_at,
        }
