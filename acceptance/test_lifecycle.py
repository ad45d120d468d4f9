"""An incident's life in real st2: recorded, suppressed, broken, resolved, exactly once."""

import re
import time
from datetime import datetime

from conftest import restart_sensor, start_alertmanager
from st2 import wait_until
from story import new_case
from test_remediation import escalations


def rfc3339(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_alert_that_did_not_opt_in_is_recorded_and_resolved_without_an_execution(alerting, st2):
    alert = alerting.fire("DiskFillingSlowly", mountpoint="/srv")
    story = alerting.story(alert)
    assert story.recorded()["state"] == "recorded"
    alerting.resolve(alert)
    resolved = alerting.story(alert, status="resolved")
    wait_until(story.resolved, 60, "the resolve to be recorded")
    story.no_execution()
    resolved.no_execution()
    shown = st2.run("poundcake.get_alert", fingerprint=story.payload["fingerprint"])
    assert shown["result"]["result"]["current"]["state"] == "resolved"


def test_a_sensor_st2_stops_first_writes_the_records_it_held(alerting):
    """A restart or a pack upgrade stops the sensor while its recorder still
    holds records back (``record_hold_seconds``, 15 s): it writes them first."""
    alerts = [alerting.fire("DiskFillingSlowly", mountpoint=f"/m{i}") for i in range(3)]
    stories = [alerting.story(alert) for alert in alerts]
    assert [s.record() for s in stories] == [None] * 3, "held: not written yet"
    restart_sensor()
    assert [s.record()["state"] for s in stories] == ["recorded"] * 3


def test_the_queries_find_new_incidents_through_the_sensors_index(alerting, st2):
    """list_alerts and get_request read the hourly index the sensor writes
    (every 15 s), not every record."""
    alert = alerting.fire("DiskFillingSlowly", mountpoint="/indexed")
    story = alerting.story(alert)
    story.recorded()
    tracking_id, starts_at = story.payload["tracking_id"], story.payload["starts_at"]

    def indexed():
        hour = re.sub(r"\D", "", starts_at[:13])
        keys = st2.get("keys", prefix=f"poundcake.started.{hour}.", limit=100)
        return any(tracking_id in kvp["value"] for kvp in keys)

    wait_until(indexed, 60, "the sensor to index the incident", 1)
    listed = st2.run("poundcake.list_alerts", alertname="DiskFillingSlowly", limit=5)
    assert tracking_id in [a["tracking_id"] for a in listed["result"]["result"]]
    request = st2.run("poundcake.get_request", request_id=story.payload["request_id"])
    assert tracking_id in [a["tracking_id"] for a in request["result"]["result"]["alerts"]]


def test_a_suppression_window_stops_remediation(alerting, st2, target):
    case = new_case("suppressed")
    created = st2.run(
        "poundcake.create_suppression",
        matchers=[{"name": "case", "op": "=", "value": case}],
        reason="acceptance: maintenance",
        author="acceptance",
        duration_minutes=10,
    )
    assert created["status"] == "succeeded", created["result"]
    target.unit("svc-suppressed", "failed")
    alert = alerting.fire("ServiceDown", case=case, service="svc-suppressed", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    assert story.refs() == ["poundcake.record_alert"]
    record = story.record()
    assert record["state"] == "suppressed"
    window = created["result"]["result"]
    assert record["suppressed_by"]["suppression_id"] == window["suppression_id"]
    assert target.calls("svc-suppressed", alert.posted_at) == []
    listed = st2.run("poundcake.list_suppressions")["result"]["result"]
    assert window in listed and window["ends_at"].endswith("Z")
    deleted = st2.run("poundcake.delete_suppression", suppression_id=window["suppression_id"])
    assert deleted["status"] == "succeeded", deleted["result"]


def test_the_breaker_opens_after_n_failures_escalates_once_and_skips(alerting, configure, target):
    configure(breaker_failures=2)
    alertname = "Breaker" + new_case("b").split("-")[1]
    target.unit("svc-breaker", "failed", restart="fail")
    messages = []
    for n in range(2):
        alert = alerting.fire(
            alertname,
            annotations={"automation_runbook": "service_unavailable"},
            service="svc-breaker",
            n=str(n),
            auto_remediate="true",
        )
        story = alerting.story(alert)
        assert story.execution()["status"] == "failed"
        messages += escalations(story)
    assert sum("restart of svc-breaker.service on localhost failed" in m for m in messages) == 2
    assert sum("circuit breaker OPEN" in m for m in messages) == 1
    third = alerting.fire(
        alertname,
        annotations={"automation_runbook": "service_unavailable"},
        service="svc-breaker",
        n="2",
        auto_remediate="true",
    )
    story = alerting.story(third)
    assert story.execution()["status"] == "succeeded"
    assert story.refs() == ["poundcake.record_alert"]
    assert story.record()["state"] == "skipped"


def _slow_remediation(alerting, st2, target, unit):
    target.unit(unit, "failed", restart="slow:15")
    alert = alerting.fire("ServiceDown", service=unit, auto_remediate="true")
    story = alerting.story(alert)
    wait_until(
        lambda: any(e["status"] == "running" for e in story.of("core.remote_sudo")),
        60,
        f"the restart of {unit} to be running",
    )
    return alert, story


def test_on_resolve_cancel_cancels_the_running_remediation(alerting, st2, target, configure):
    configure(on_resolve="cancel")
    alert, story = _slow_remediation(alerting, st2, target, "svc-cancel")
    alerting.resolve(alert)
    resolved = alerting.story(alert, status="resolved")
    assert resolved.execution()["status"] == "succeeded"
    assert story.execution()["status"] in ("canceled", "canceling")
    shown = st2.run("poundcake.get_alert", fingerprint=story.payload["fingerprint"])
    current = shown["result"]["result"]["current"]
    assert current["state"] == "resolved"
    assert current["remediation"]["outcome"] == "canceled"
    assert [e["status"] for e in current["executions"]] == ["canceled"]


def test_on_resolve_let_finish_lets_the_remediation_finish(alerting, st2, target):
    alert, story = _slow_remediation(alerting, st2, target, "svc-finish")
    alerting.resolve(alert)
    alerting.story(alert, status="resolved").execution()
    assert story.execution()["status"] == "succeeded"
    assert target.unit_state("svc-finish") == "active"
    record = story.record()
    assert [h["state"] for h in record["history"][-2:]] == ["remediated", "resolved"]


def test_a_resolve_with_a_drifted_starts_at_closes_the_open_incident(alerting, st2, pack):
    """A restarted Prometheus sends a new ActiveAt, which a fresh Alertmanager
    (here a second one, with no memory of the first firing) passes on."""
    first = alerting.fire("QueueBacklog", queue="jobs")
    story = alerting.story(first)
    story.recorded()
    second_am = start_alertmanager(pack["token"])
    try:
        later = alerting.fire(
            "QueueBacklog", case=first.case, queue="jobs", starts=time.time(), via=[second_am]
        )
        assert later.starts > first.starts
        alerting.story(later).recorded()
        alerting.resolve(later, via=[second_am])
        resolved = alerting.story(later, status="resolved")
        assert resolved.tracking_id != story.tracking_id
    finally:
        second_am.close()
    wait_until(story.resolved, 60, "the first incident to be resolved too")
    shown = st2.run("poundcake.get_alert", fingerprint=story.payload["fingerprint"])
    found = shown["result"]["result"]
    states = {i["tracking_id"]: i["state"] for i in [found["current"], *found["history"]]}
    assert states[story.tracking_id] == "resolved"


def test_an_ha_pair_and_its_resends_start_one_remediation(alerting, st2, target, pack):
    first = start_alertmanager(pack["token"], peers=[], repeat_interval="2s")
    second = start_alertmanager(pack["token"], peers=[first.cluster_address], repeat_interval="2s")
    try:
        target.unit("svc-ha", "failed", restart="slow:3")
        alert = alerting.fire(
            "ServiceDown", service="svc-ha", auto_remediate="true", via=[first, second]
        )
        story = alerting.story(alert)
        time.sleep(10)  # re-sends: repeat_interval 2 s, from both
        alerting.fire(
            "ServiceDown",
            case=alert.case,
            service="svc-ha",
            auto_remediate="true",
            starts=alert.starts,
            via=[first, second],
        )
        time.sleep(5)
    finally:
        first.close()
        second.close()
    story.execution()
    restarts = [c for c in target.calls("svc-ha", alert.posted_at) if c["args"][0] == "restart"]
    assert len(restarts) == 1
    remediations = st2.executions("poundcake.remediate_service_down", limit=50)
    mine = [e for e in remediations if e["parameters"].get("tracking_id") == story.tracking_id]
    assert len(mine) == 1


def test_the_board_shows_this_sessions_incidents_with_st2_links(alerting, pack):
    """The board in the real sensor, from the real datastore: its own
    credentials (an encrypted st2kv value), and what the records say."""
    import base64
    import json
    import urllib.error
    import urllib.request

    from conftest import WEBHOOK_URL

    alert = alerting.fire("BoardProbe", queue="board")
    story = alerting.story(alert)
    story.recorded()
    url = WEBHOOK_URL.rsplit("/", 1)[0] + "/ui/state.json"
    secret = base64.b64encode(f"sre:{pack['board_password']}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {secret}"})

    def shown():
        with urllib.request.urlopen(request, timeout=10) as answer:
            state = json.loads(answer.read())
        return [i for i in state["incidents"] if i["tracking_id"] == story.tracking_id]

    (incident,) = wait_until(shown, 30, "the board to show the incident")
    assert incident["state"] == "recorded"
    try:
        urllib.request.urlopen(url, timeout=10)
        raise AssertionError("the board answered without credentials")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
