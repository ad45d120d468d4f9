"""Alertmanager deliveries for tests and the benchmark.

Real captures (Alertmanager 0.25, see tests/fixtures/alertmanager) and a
builder for synthetic ones of any size in the same shape.
"""

import copy
import json
import os

from pack_paths import FIXTURES_DIR


def captured(name):
    """A captured delivery: ``{"path", "headers", "body"}``."""
    with open(os.path.join(FIXTURES_DIR, "alertmanager", name)) as fp:
        return json.load(fp)


def firing_body():
    return copy.deepcopy(captured("am-0.25-firing-truncated.json")["body"])


def resolved_body():
    return copy.deepcopy(captured("am-0.25-resolved.json")["body"])


def make_delivery(
    count, status="firing", starts_at="2026-11-23T08:36:00.672713243Z", offset=0, **labels
):
    """A v4 delivery of ``count`` alerts with distinct fingerprints."""
    ends_at = "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T09:00:00Z"
    alerts = []
    for i in range(offset, offset + count):
        alert_labels = {"alertname": "BenchAlert", "instance": f"host{i}", "severity": "warning"}
        alert_labels.update(labels)
        alerts.append(
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {"summary": f"synthetic alert {i}"},
                "startsAt": starts_at,
                "endsAt": ends_at,
                "generatorURL": f"http://prometheus.example/graph?g0.expr=up%7Bi%3D{i}%7D",
                "fingerprint": f"{i:016x}",
            }
        )
    return {
        "receiver": "poundcake",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "BenchAlert"},
        "commonLabels": {"alertname": "BenchAlert", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": '{}:{alertname="BenchAlert"}',
        "truncatedAlerts": 0,
    }
