"""Real Alertmanager (Debian's binary) → the sensor process → triggers.

Each test runs the sensor both on OS threads and eventlet monkey-patched as
st2 runs it. Alertmanager's own timing drives everything: group_wait and
group_interval of 1 s, and its retry with backoff after a 503.
"""

import time
from datetime import datetime, timezone

import pytest
from processes import AlertmanagerProcess, SensorProcess, wait_for
from sensor_harness import BATCH_TRIGGER, alert_payloads
from st2_schemas import trigger_schemas, validate_trigger_payload

TOKEN = "e2e-token"
BEARER = {"authorization": {"type": "Bearer", "credentials": TOKEN}}
BASIC = {"basic_auth": {"username": "alertmanager", "password": "e2e-pass"}}
BASIC_CONFIG = {"basic_auth_username": "alertmanager", "basic_auth_password": "e2e-pass"}

MODES = [pytest.param(False, id="threads"), pytest.param(True, id="eventlet")]


def stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def alerts(count, starts, ends=None, name="DiskFull"):
    """Alerts for Alertmanager's API. Start them "now": an alert older than
    group_wait makes Alertmanager flush at once, before the rest of the posted
    group is in, which would split one delivery into several."""
    out = []
    for i in range(count):
        alert = {
            "labels": {"alertname": name, "instance": f"node{i}", "severity": "critical"},
            "annotations": {"summary": f"disk full on node{i}"},
            "startsAt": stamp(starts),
            "generatorURL": f"http://prometheus.test/graph?g0.expr={i}",
        }
        if ends is not None:
            alert["endsAt"] = stamp(ends)
        out.append(alert)
    return out


@pytest.fixture
def stack():
    started = []

    def start(sensor_config, http_config, **kwargs):
        am_kwargs = {k: kwargs.pop(k) for k in ("max_alerts", "group_interval") if k in kwargs}
        sensor = SensorProcess(sensor_config, **kwargs)
        started.append(sensor)
        am = AlertmanagerProcess(sensor.base_url + "/webhook", http_config, **am_kwargs)
        started.append(am)
        return sensor, am

    yield start
    for proc in reversed(started):
        print(f"--- {type(proc).__name__} log (shown if the test failed) ---")
        print(proc.read_log())
        proc.close()


def alert_triggers(sensor):
    """One ``{"trigger", "payload", "trace_tag"}`` per dispatched alert (an
    alert of a ``poundcake.alerts_recorded`` part has its delivery's fields)."""
    out = []
    for t in sensor.triggers():
        for payload in alert_payloads([t]):
            out.append({"trigger": t["trigger"], "payload": payload, "trace_tag": t["trace_tag"]})
    return out


@pytest.mark.parametrize("eventlet", MODES)
def test_bearer_delivery_firing_then_resolved(stack, eventlet):
    sensor, am = stack({"bearer_token": TOKEN}, BEARER, eventlet=eventlet)
    starts = datetime.now(timezone.utc)
    am.post_alerts(alerts(3, starts))
    firing = wait_for(
        lambda: len(alert_triggers(sensor)) >= 3 and alert_triggers(sensor),
        20,
        what="3 firing triggers",
    )
    am.post_alerts(alerts(3, starts, ends=datetime.now(timezone.utc)))
    wait_for(lambda: len(alert_triggers(sensor)) >= 6, 20, what="3 resolved triggers")
    time.sleep(2.5)  # further group_interval flushes must not dispatch again
    triggers = alert_triggers(sensor)
    assert len(triggers) == 6, triggers
    assert [t["payload"]["status"] for t in triggers] == ["firing"] * 3 + ["resolved"] * 3
    assert {t["payload"]["instance"] for t in firing} == {"node0", "node1", "node2"}
    by_incident = {}
    for t in triggers:
        assert t["trigger"] == BATCH_TRIGGER and t["trace_tag"] == t["payload"]["request_id"]
        by_incident.setdefault(t["payload"]["tracking_id"], []).append(t["payload"]["status"])
    assert len(sensor.triggers()) == 2, "one trigger instance per delivery"
    assert sorted(by_incident.values()) == [["firing", "resolved"]] * 3
    schemas = trigger_schemas()
    for t in sensor.triggers():
        validate_trigger_payload(schemas[t["trigger"]], t["payload"])
    workers = "eventlet green threads" if eventlet else "OS threads"
    log = sensor.read_log()
    assert f"dispatch workers on {workers}" in log
    assert "reading poundcake records failed" not in log  # the state poll works too


@pytest.mark.parametrize("eventlet", MODES)
def test_basic_auth_delivery_and_truncated_alerts_surfaced(stack, eventlet):
    sensor, am = stack(BASIC_CONFIG, BASIC, eventlet=eventlet, max_alerts=2)
    am.post_alerts(alerts(5, datetime.now(timezone.utc)))
    triggers = wait_for(lambda: alert_triggers(sensor), 20, what="triggers")
    time.sleep(1.5)
    triggers = alert_triggers(sensor)
    assert len(triggers) == 2
    assert {t["payload"]["truncated_alerts"] for t in triggers} == {3}
    assert 'poundcake_webhook_requests_total{code="200"}' in sensor.metrics()
    assert 'code="401"' not in sensor.metrics()


@pytest.mark.parametrize("eventlet", MODES)
def test_forced_503_then_success_yields_exactly_one_trigger_per_alert(stack, eventlet):
    config = {"bearer_token": TOKEN, "noise_triggers": "per_alert"}  # one claim each
    sensor, am = stack(config, BEARER, eventlet=eventlet, fail_first=2)
    am.post_alerts(alerts(4, datetime.now(timezone.utc)))
    wait_for(lambda: len(alert_triggers(sensor)) >= 4, 30, what="4 triggers after retry")
    time.sleep(2.5)
    triggers = alert_triggers(sensor)
    assert len(triggers) == 4
    assert len({t["payload"]["tracking_id"] for t in triggers}) == 4
    metrics = sensor.metrics()
    assert 'poundcake_webhook_requests_total{code="503"}' in metrics
    assert 'poundcake_dispatch_failures_total{trigger="poundcake.alert_recorded"} 2.0' in metrics
    # the retry re-sends the alerts that were dispatched before the 503
    assert (
        'poundcake_duplicates_suppressed_total{trigger="poundcake.alert_recorded"} 2.0' in metrics
    )


def test_wrong_credentials_are_refused_and_nothing_is_dispatched(stack):
    wrong = {"authorization": {"type": "Bearer", "credentials": "not-the-token"}}
    sensor, am = stack({"bearer_token": TOKEN}, wrong)
    am.post_alerts(alerts(1, datetime.now(timezone.utc)))
    wait_for(lambda: 'code="401"' in sensor.metrics(), 20, what="a 401 answer")
    assert sensor.triggers() == []
    assert "401" in am.read_log()


@pytest.mark.parametrize("eventlet", MODES)
def test_sigterm_drains_writes_held_records_and_exits_cleanly(stack, eventlet):
    """As st2 stops a sensor: SIGTERM, SIGKILL 5 s later. The records held
    back for a minute are written before the exit, not lost with it."""
    sensor, am = stack(
        {"bearer_token": TOKEN, "record_hold_seconds": 60}, BEARER, eventlet=eventlet
    )
    am.post_alerts(alerts(2, datetime.now(timezone.utc)))
    wait_for(lambda: len(alert_triggers(sensor)) >= 2, 20, what="2 triggers")
    # queued for the recorder just after the dispatch returns
    wait_for(lambda: "poundcake_record_queue 2.0" in sensor.metrics(), 5, what="2 held")
    started = time.monotonic()
    assert sensor.stop() == 0, "SIGTERM must stop the sensor through cleanup()"
    assert time.monotonic() - started < 5
    log = sensor.read_log()
    assert "poundcake webhook sensor stopped" in log
    assert "not recorded" not in log
