"""Every alert's record tells the truth, on real st2: an opted-in alert no rule
handles is recorded unrouted, a diagnosis is recorded diagnosed, and the TTLs
are what st2 stores (the kit's database does not expire keys by itself)."""

from __future__ import annotations

import time
import urllib.request

import pytest
from conftest import WEBHOOK_URL, restart_sensor
from st2 import wait_until
from story import parse_time


def metric(name: str) -> float:
    with urllib.request.urlopen(WEBHOOK_URL.rsplit("/", 1)[0] + "/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_an_opted_in_alert_no_rule_handles_is_recorded_unrouted(alerting, configure, st2):
    configure(unrouted_after_seconds=10)
    restart_sensor()  # the sensor reads unrouted_after_seconds at its start
    try:
        before = metric("poundcake_unrouted_incidents_total")
        alert = alerting.fire("MyAppDown", auto_remediate="true", service="svc-unrouted")
        story = alerting.story(alert)
        record = wait_until(
            lambda: (r := story.record()) and r["state"] == "unrouted" and r,
            90,
            "the unrouted record",
        )
        assert record["reason"] == "no remediation: no rule handles MyAppDown"
        shown = st2.run("poundcake.get_alert", fingerprint=story.tracking_id.split("-")[0])[
            "result"
        ]["result"]
        assert shown["current"]["state"] == "unrouted"

        def listed():  # through the sensor's hourly index, flushed every 15 s
            found = st2.run("poundcake.list_alerts", status="unrouted", limit=20)
            return story.tracking_id in [a["tracking_id"] for a in found["result"]["result"]]

        wait_until(listed, 60, "list_alerts status=unrouted showing it")
        assert st2.enforcements(story.trigger_instance["id"]) == [], "no rule handles MyAppDown"
        stats = st2.run("poundcake.alert_stats")["result"]["result"]
        assert stats["by_status"].get("unrouted", 0) >= 1
        assert metric("poundcake_unrouted_incidents_total") == before + 1
    finally:
        configure()
        restart_sensor()


def test_a_high_cpu_without_a_service_ends_diagnosed_with_its_finding(alerting):
    alert = alerting.fire("HighCPU", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    record = story.record()
    assert record["state"] == "diagnosed", record["reason"]
    assert record["remediation"]["detail"].startswith("diagnosed only")


@pytest.mark.parametrize("ttl", [3600, 0], ids=["an-hour", "0-means-never"])
def test_a_resolved_record_keeps_incident_ttl_seconds_as_st2_stores_it(
    alerting, configure, st2, target, ttl
):
    configure(incident_ttl_seconds=ttl)
    unit = f"svc-ttl-{ttl}"
    target.unit(unit, "failed")
    alert = alerting.fire("ServiceDown", service=unit, auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    alerting.resolve(alert)
    key = f"poundcake.incident.{story.tracking_id}"
    wait_until(lambda: (st2.record(key) or {}).get("state") == "resolved", 60, "the resolve")
    stored = st2.key(key).get("expire_timestamp")
    if ttl == 0:
        assert not stored, "no TTL: kept until deleted"
    else:
        assert abs(parse_time(stored) - (time.time() + ttl)) < 120, stored
