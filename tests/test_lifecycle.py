"""Incident lifecycle, exactly-once remediation, resolution, suppression, breaker."""

import contextlib
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from deliveries import firing_body
from local_sensor_service import LocalSensorService
from orquesta import statuses
from orquesta_harness import run_workflow
from pack_actions import (
    BASE_CONFIG,
    ActionHandler,
    open_window,
    run_python_action,
    shared_datastore,
)
from rules_engine import criteria_match, render_rule_parameters
from sensor_harness import TOKEN, running_sensor
from st2tests.base import BaseSensorTestCase
from test_pack_resources import RULES, load, sample_payload
from test_workflows import Shell
from webhook_client import bearer, request

from poundcake import breaker
from poundcake.incidents import apply, decide, finish, log, observe, view
from poundcake.resolution import close_incidents
from poundcake.state_store import INCIDENT, StateStore, epoch, iso
from poundcake.suppressions import SuppressionError, new_suppression, parse_matchers


@contextlib.contextmanager
def _no_lock():
    yield


def null_lock(name):
    """One process, one thread: the tests that call the library directly need no lock."""
    return _no_lock()


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def alert(**labels):
    payload = sample_payload(auto_remediate="true", service="nginx", **labels)
    payload["alertname"] = "ServiceDown"
    payload["labels"]["alertname"] = "ServiceDown"
    return payload


def process_inputs(payload, workflow="poundcake.remediate_service_down"):
    return {
        "workflow": workflow,
        "runbook": None,
        "tracking_id": payload["tracking_id"],
        "host": payload["instance"],
        "alert": payload,
        "dry_run": False,
        "escalation_action": "poundcake.log_escalation",
    }


def process(
    payload, datastore, shell=None, config=None, workflow="poundcake.remediate_service_down"
):
    handler = ActionHandler({**BASE_CONFIG, **(config or {})}, shell or Shell(), datastore)
    return run_workflow("process_alert.yaml", process_inputs(payload, workflow), handler), handler


def record(datastore, tracking_id):
    raw = datastore.get_value(INCIDENT + tracking_id, local=False)
    return json.loads(raw) if raw else None


# ---------------------------------------------------------------- transitions
def test_lifecycle_received_remediating_remediated_resolved():
    clock = Clock()
    rec = observe(None, alert(), clock())
    assert rec["state"] == "received" and rec["request_ids"] == ["req-" + "0" * 32]
    decision = decide(rec, True, [], False, clock())
    assert decision.remediate and decision.state == "remediating"
    apply(rec, decision, "exec-1", clock())
    clock.now += 42
    finish(rec, "succeeded", "poundcake.remediate_service_down", clock())
    assert rec["state"] == "remediated"
    assert rec["remediation"]["duration_seconds"] == 42
    assert rec["executions"] == [
        {
            "id": "exec-1",
            "started_at": iso(clock.now - 42),
            "status": "succeeded",
            "finished_at": iso(clock.now),
            "workflow": "poundcake.remediate_service_down",
        }
    ]
    store = StateStore(shared_datastore(), clock)
    store.put(INCIDENT + rec["tracking_id"], rec)
    clock.now += 5
    close_incidents(store, dict(alert(), status="resolved"), "let_finish", 0, null_lock)
    shown = view(store.get(INCIDENT + rec["tracking_id"]))
    assert shown["state"] == "resolved" and shown["resolved_at"] == iso(clock.now)
    assert [h["state"] for h in shown["history"]] == [
        "received",
        "remediating",
        "remediated",
        "resolved",
    ]


def test_resolve_before_the_firing_is_processed_remediates_nothing():
    store = StateStore(shared_datastore(), Clock())
    payload = alert()
    close_incidents(store, dict(payload, status="resolved"), "let_finish", 0, null_lock)
    rec = observe(store.get(INCIDENT + payload["tracking_id"]), payload, 1)
    decision = decide(rec, True, [], False, 1)
    assert not decision.remediate and decision.state == "resolved"


def test_resolve_during_remediation_ends_resolved():
    rec = observe(None, alert(), 0)
    apply(rec, decide(rec, True, [], False, 0), "e", 0)
    rec["state"] = "resolved"  # what close_incidents wrote while it ran
    finish(rec, "failed", "w", 10)
    assert rec["state"] == "resolved"
    assert [h["state"] for h in rec["history"]][-2:] == ["failed", "resolved"]


def test_duplicates_never_remediate_again_unless_re_remediation_is_due():
    rec = observe(None, alert(), 0)
    apply(rec, decide(rec, True, [], False, 0), "e", 0)
    assert decide(rec, True, [], False, 1).note.startswith("duplicate: a remediation")
    finish(rec, "succeeded", "w", 100)
    assert not decide(rec, True, [], False, 5000).remediate
    assert not decide(rec, True, [], False, 600, re_remediate_after=1000).remediate
    again = decide(rec, True, [], False, 1200, re_remediate_after=1000)
    assert again.remediate and "again" in again.note


def test_not_opted_in_alert_is_recorded_only():
    rec = observe(None, alert(), 0)
    assert decide(rec, False, [], False, 0).state == "recorded"


# ---------------------------------------------------------------- suppression
@pytest.mark.parametrize(
    "matcher, hit",
    [
        ({"name": "instance", "op": "=", "value": "host1"}, True),
        ({"name": "instance", "op": "=", "value": "host2"}, False),
        ({"name": "instance", "op": "!=", "value": "host2"}, True),
        ({"name": "instance", "op": "!=", "value": "host1"}, False),
        ({"name": "instance", "op": "=~", "value": "host[0-9]"}, True),
        ({"name": "instance", "op": "=~", "value": "host"}, False),  # full match, as Alertmanager
        ({"name": "instance", "op": "!~", "value": "web.*"}, True),
        ({"name": "instance", "op": "!~", "value": "host.*"}, False),
        ({"name": "service", "op": "exists"}, True),
        ({"name": "team", "op": "exists"}, False),
        ({"name": "team", "op": "not_exists"}, True),
        ({"name": "service", "op": "not_exists"}, False),
    ],
)
def test_every_suppression_matcher(matcher, hit):
    window = new_suppression([matcher], 100, 200, "patching", "ops@example", now=100)
    labels = alert()["labels"]
    assert window.matches(labels, 150) is hit
    assert window.matches(labels, 250) is False  # the window has ended


@pytest.mark.parametrize(
    "matchers, message",
    [
        ([], "non-empty list"),
        ([{"name": "a b", "op": "="}], "not a label name"),
        ([{"name": "a", "op": "~"}], "must be one of"),
        ([{"name": "a", "op": "=~", "value": "("}], "not a valid regex"),
    ],
)
def test_invalid_matchers_are_refused(matchers, message):
    with pytest.raises(SuppressionError, match=message):
        parse_matchers(matchers)


def test_suppressed_alert_is_recorded_with_its_window_and_not_remediated():
    datastore = shared_datastore()
    window = open_window(datastore, "service", "nginx", "nginx upgrade")
    payload = alert()
    run, handler = process(payload, datastore)
    assert run.status == statuses.SUCCEEDED
    assert run.calls_to("poundcake.remediate") == []
    rec = record(datastore, payload["tracking_id"])
    assert rec["state"] == "suppressed"
    # one name for the id everywhere: create, list, delete and the record
    assert window["suppression_id"] and window["starts_at"].endswith("Z")
    assert window["ends_at"].endswith("Z") and window["created_at"].endswith("Z")
    assert rec["suppressed_by"] == {
        "suppression_id": window["suppression_id"],
        "author": "alice",
        "reason": "nginx upgrade",
    }
    ok, listed = run_python_action("list_suppressions", {}, datastore=datastore)
    assert listed == [window]
    ok, _ = run_python_action(
        "delete_suppression", {"suppression_id": window["suppression_id"]}, datastore=datastore
    )
    assert ok
    assert run_python_action("list_suppressions", {}, datastore=datastore) == (True, [])
    ok, result = run_python_action(
        "delete_suppression", {"suppression_id": window["suppression_id"]}, datastore=datastore
    )
    assert not ok and "no suppression" in result["error"]


def test_create_suppression_rejects_bad_requests_with_a_message():
    for params, message in (
        ({"matchers": [{"name": "x"}], "reason": "r", "author": "a"}, "ends_at or duration"),
        ({"matchers": [], "reason": "r", "author": "a", "duration_minutes": 5}, "non-empty"),
        (
            {"matchers": [{"name": "x"}], "reason": "r", "author": "a", "ends_at": "soon"},
            "RFC 3339",
        ),
    ):
        ok, result = run_python_action("create_suppression", params)
        assert not ok and message in result["error"]


# ---------------------------------------------------------------- workflow
def test_process_alert_records_the_whole_story():
    datastore = shared_datastore()
    payload = alert()
    run, _ = process(payload, datastore)
    assert run.status == statuses.SUCCEEDED
    assert run.tasks() == ["record", "remediate", "finish"]
    rec = record(datastore, payload["tracking_id"])
    assert rec["state"] == "remediated"
    assert rec["executions"][0]["id"] == "5f0000000000000000000042"
    assert rec["remediation"]["workflow"] == "poundcake.remediate_service_down"
    again, _ = process(payload, datastore)
    assert again.calls_to("poundcake.remediate") == []
    assert record(datastore, payload["tracking_id"])["history"][-1]["state"] == "remediated"


def test_runbook_routed_remediation_records_the_resolved_workflow():
    datastore = shared_datastore()
    payload = alert()
    handler = ActionHandler(BASE_CONFIG, Shell(), datastore)
    inputs = dict(process_inputs(payload), workflow=None, runbook="service_unavailable")
    run = run_workflow("process_alert.yaml", inputs, handler)
    assert run.status == statuses.SUCCEEDED
    assert run.output["remediation"] == "poundcake.remediate_service_down"
    rec = record(datastore, payload["tracking_id"])
    assert rec["remediation"]["workflow"] == "poundcake.remediate_service_down"


def test_failed_remediation_is_recorded_failed_and_the_workflow_fails():
    datastore = shared_datastore()
    payload = alert()
    run, handler = process(payload, datastore, Shell(fail={"act"}))
    assert run.status == statuses.FAILED
    assert record(datastore, payload["tracking_id"])["state"] == "failed"
    runs = [run] + handler.subruns
    escalations = [c for r in runs for c in r.calls_to("poundcake.log_escalation")]
    assert len(escalations) == 1  # the remediation's own; no second one from the wrappers


def escalations(run, handler):
    return [c.params["message"] for r in [run] + handler.subruns for c in r.calls_to(ESCALATE)]


ESCALATE = "poundcake.log_escalation"


def test_a_task_st2_refuses_still_escalates_once_and_is_recorded_as_it_was():
    """st2 fails a workflow whose task request it refuses, before any
    when: failed() branch: process_alert escalates what nobody else did."""
    datastore = shared_datastore()
    payload = alert()
    config = {"allowed_actions": ["poundcake.get_alert"]}  # takes none of remediate's inputs
    run, handler = process(payload, datastore, config=config, workflow="poundcake.get_alert")
    assert run.status == statuses.FAILED
    (message,) = escalations(run, handler)
    assert "poundcake.get_alert" in message and "Additional properties" in message
    rec = record(datastore, payload["tracking_id"])
    assert rec["state"] == "failed" and rec["remediation"]["escalated"] is True
    assert rec["history"][-1]["note"].startswith("poundcake.get_alert failed")


@pytest.mark.parametrize("instance", ["web-1; reboot", "$(reboot)", "web 1"])
def test_hostile_instance_runs_nothing_and_escalates(instance):
    datastore = shared_datastore()
    payload = alert()
    payload["instance"] = payload["labels"]["instance"] = instance
    shell = Shell()
    run, handler = process(payload, datastore, shell)
    assert run.status == statuses.FAILED and shell.commands == []
    (message,) = escalations(run, handler)
    assert "refused: out of scope, nothing was run" in message
    assert [c.action for c in run.calls] == [
        "poundcake.record_alert",
        "poundcake.log_escalation",
        "poundcake.finish_remediation",
    ]  # the door refused it: remediate was never requested
    rec = record(datastore, payload["tracking_id"])
    assert rec["state"] == "refused" and "(escalated)" in rec["history"][-1]["note"]
    assert "is not a hostname" in rec["reason"]


def test_unknown_runbook_is_recorded_as_no_remediation_and_escalated():
    datastore = shared_datastore()
    payload = alert()
    handler = ActionHandler(BASE_CONFIG, Shell(), datastore)
    inputs = dict(process_inputs(payload), workflow=None, runbook="nope")
    run = run_workflow("process_alert.yaml", inputs, handler)
    assert run.status == statuses.FAILED
    assert len(escalations(run, handler)) == 1
    note = record(datastore, payload["tracking_id"])["history"][-1]["note"]
    assert note.startswith("no remediation ran: no remediation run: unknown runbook 'nope'")
    assert note.endswith("(escalated)")


def test_breaker_opens_escalates_once_and_skips_until_reset():
    datastore = shared_datastore()
    config = {"breaker_failures": 2, "breaker_window_seconds": 3600}
    messages = []
    for i in range(4):
        payload = alert()
        payload["tracking_id"] = f"{i:016x}-20261123T083600Z"
        payload["fingerprint"] = f"{i:016x}"
        run, _ = process(payload, datastore, Shell(fail={"act"}), config)
        messages += [c.params["message"] for c in run.calls_to("poundcake.log_escalation")]
        state = record(datastore, payload["tracking_id"])["state"]
        assert state == ("failed" if i < 2 else "skipped"), (i, state)
    assert len(messages) == 1 and "circuit breaker OPEN for ServiceDown" in messages[0]
    ok, result = run_python_action(
        "reset_breaker", {"alertname": "ServiceDown"}, datastore=datastore
    )
    assert result == {"alertname": "ServiceDown", "was_open": True, "failures_cleared": 2}
    payload = alert()
    payload["tracking_id"] = "00000000000000ff-20261123T083600Z"
    run, _ = process(payload, datastore, config=config)
    assert run.status == statuses.SUCCEEDED
    assert record(datastore, payload["tracking_id"])["state"] == "remediated"


def incident(i):
    payload = alert()
    payload["tracking_id"] = f"{i:016x}-20261123T083600Z"
    payload["fingerprint"] = f"{i:016x}"
    return payload


def test_an_open_breaker_half_opens_after_its_cooldown_and_a_successful_trial_closes_it():
    datastore = shared_datastore()
    config = {"breaker_failures": 1, "breaker_cooldown_seconds": 1}
    process(incident(1), datastore, Shell(fail={"act"}), config)
    run, _ = process(incident(2), datastore, config=config)
    assert record(datastore, incident(2)["tracking_id"])["state"] == "skipped"
    assert "half-opens at" in record(datastore, incident(2)["tracking_id"])["reason"]
    time.sleep(1.1)
    run, _ = process(incident(3), datastore, config=config)  # the trial
    assert record(datastore, incident(3)["tracking_id"])["state"] == "remediated"
    assert datastore.get_value(breaker.open_key("ServiceDown"), local=False) is None
    process(incident(4), datastore, config=config)
    assert record(datastore, incident(4)["tracking_id"])["state"] == "remediated"


def test_a_failed_trial_opens_the_breaker_again_and_one_trial_at_a_time():
    datastore = shared_datastore()
    store = StateStore(datastore)
    config = {"breaker_failures": 1, "breaker_cooldown_seconds": 1}
    process(incident(1), datastore, Shell(fail={"act"}), config)
    time.sleep(1.1)
    assert breaker.admit(store, null_lock, "ServiceDown", "trial-a", 1, time.time()) is None
    busy = breaker.admit(store, null_lock, "ServiceDown", "trial-b", 1, time.time())
    assert "trial trial-a is running" in busy
    assert breaker.trial_ended(store, null_lock, "ServiceDown", "trial-a", False, time.time()) == (
        "reopened"
    )
    again = breaker.admit(store, null_lock, "ServiceDown", "trial-b", 1, time.time())
    assert "half-opens at" in again


def test_the_breaker_counts_neither_an_unreachable_host_nor_a_dry_run():
    datastore = shared_datastore()
    config = {"breaker_failures": 1}
    payload = incident(1)
    process(
        payload,
        datastore,
        Shell(fail={"ping", "check_port"}),
        config,
        "poundcake.remediate_host_down",
    )
    assert record(datastore, payload["tracking_id"])["state"] == "failed"
    dry = incident(2)
    inputs = {**process_inputs(dry), "dry_run": True}
    handler = ActionHandler({**BASE_CONFIG, **config}, Shell(fail={"diagnose"}), datastore)
    run_workflow("process_alert.yaml", inputs, handler)
    assert record(datastore, dry["tracking_id"])["state"] == "failed"
    assert datastore.get_value(breaker.open_key("ServiceDown"), local=False) is None
    assert StateStore(datastore).records(breaker.failure_prefix("ServiceDown")) == []


def test_breaker_counts_only_failures_inside_the_window():
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    assert breaker.record_failure(store, "Disk", "a", threshold=2, window=60) is None
    clock.now += 120
    assert breaker.record_failure(store, "Disk", "b", threshold=2, window=60) is None
    clock.now += 10
    opened = breaker.record_failure(store, "Disk", "c", threshold=2, window=60)
    assert opened["failures"] == 2 and store.get(breaker.open_key("Disk")) is not None
    assert breaker.record_failure(store, "Disk", "d", threshold=2, window=60) is None


def test_untrusted_alertnames_get_safe_breaker_keys():
    store = StateStore(shared_datastore())
    breaker.record_failure(store, "a/b c;$(x)", "t", threshold=1, window=60)
    assert store.get(breaker.open_key("a/b c;$(x)")) is not None
    assert all("$" not in k for k in store._svc._datastore_items)


# ---------------------------------------------------------------- resolve
class FakeSt2Api:
    """A loopback stand-in for st2api's DELETE /v1/executions/<id>."""

    def __init__(self):
        self.requests = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_DELETE(self):
                api.requests.append((self.path, self.headers.get("X-Auth-Token")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def remediating(datastore, payload):
    store = StateStore(datastore)
    rec = observe(None, payload, 0)
    apply(rec, decide(rec, True, [], False, 0), "exec-77", 0)
    store.put(INCIDENT + payload["tracking_id"], rec)


@pytest.mark.parametrize("mode", ["cancel", "let_finish"])
def test_resolve_during_remediation_cancels_only_when_configured(mode, monkeypatch):
    api = FakeSt2Api()
    monkeypatch.setenv("ST2_ACTION_API_URL", api.url)
    monkeypatch.setenv("ST2_ACTION_AUTH_TOKEN", "tok-st2")
    try:
        datastore = shared_datastore()
        payload = alert()
        remediating(datastore, payload)
        resolved = dict(payload, status="resolved", ends_at="2026-11-23T09:00:00Z")
        ok, result = run_python_action(
            "resolve_incident", {"alert": resolved}, {"on_resolve": mode}, datastore
        )
    finally:
        api.close()
    assert ok, result
    if mode == "cancel":
        assert api.requests == [("/v1/executions/exec-77", "tok-st2")]
        assert result["canceled"] == ["exec-77"]
    else:
        assert api.requests == [] and result["canceled"] == []
    ok, shown = run_python_action(
        "get_alert", {"fingerprint": payload["fingerprint"]}, datastore=datastore
    )
    assert shown["current"]["state"] == "resolved"
    assert mode.replace("_", "") in shown["current"]["history"][-1]["note"].replace("_", "")


def test_canceled_remediation_shows_canceled_not_running(monkeypatch):
    api = FakeSt2Api()
    monkeypatch.setenv("ST2_ACTION_API_URL", api.url)
    monkeypatch.setenv("ST2_ACTION_AUTH_TOKEN", "tok")
    try:
        datastore = shared_datastore()
        payload = alert()
        remediating(datastore, payload)
        resolved = dict(payload, status="resolved")
        ok, _ = run_python_action(
            "resolve_incident", {"alert": resolved}, {"on_resolve": "cancel"}, datastore
        )
    finally:
        api.close()
    assert ok
    _, shown = run_python_action(
        "get_alert", {"fingerprint": payload["fingerprint"]}, None, datastore
    )
    current = shown["current"]
    assert current["state"] == "resolved"
    assert current["remediation"]["outcome"] == "canceled"
    assert [e["status"] for e in current["executions"]] == ["canceled"]


def test_resolve_with_a_drifted_starts_at_closes_the_open_incident_of_its_fingerprint():
    """Alertmanager keeps the earliest startsAt; a restarted Prometheus sends
    a new one, so the resolve's tracking id may differ from the firing's."""
    datastore = shared_datastore()
    payload = alert()
    process(payload, datastore)
    drifted = dict(payload, status="resolved")
    drifted["tracking_id"] = payload["fingerprint"] + "-20261123T093000Z"
    ok, result = run_python_action("resolve_incident", {"alert": drifted}, {}, datastore)
    assert ok and result["resolved"] == [payload["tracking_id"]]
    _, shown = run_python_action(
        "get_alert", {"fingerprint": payload["fingerprint"]}, None, datastore
    )
    assert shown["current"]["tracking_id"] == payload["tracking_id"]
    assert shown["current"]["state"] == "resolved"
    assert "another startsAt" in shown["current"]["history"][-1]["note"]
    ok, again = run_python_action("resolve_incident", {"alert": drifted}, {}, datastore)
    assert ok and again["resolved"] == []  # a re-sent resolve changes nothing


def test_resolve_when_st2_api_refuses_fails_the_action(monkeypatch):
    monkeypatch.setenv("ST2_ACTION_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ST2_ACTION_AUTH_TOKEN", "t")
    datastore = shared_datastore()
    payload = alert()
    remediating(datastore, payload)
    ok, result = run_python_action(
        "resolve_incident", {"alert": payload}, {"on_resolve": "cancel"}, datastore
    )
    assert not ok
    assert "recorded resolved, but cannot cancel exec-77" in result["error"]
    _, shown = run_python_action(
        "get_alert", {"fingerprint": payload["fingerprint"]}, datastore=datastore
    )
    assert shown["current"]["state"] == "resolved"  # the resolve is not lost


@pytest.mark.parametrize("ttl, expected", [(3600, 3600), (0, None)])
def test_a_resolve_keeps_the_record_incident_ttl_seconds_and_0_means_never(ttl, expected):
    datastore = shared_datastore()
    payload = alert()
    remediating(datastore, payload)
    resolved = dict(payload, status="resolved")
    ok, _ = run_python_action(
        "resolve_incident", {"alert": resolved}, {"incident_ttl_seconds": ttl}, datastore
    )
    assert ok
    kvp = datastore._datastore_items[INCIDENT + payload["tracking_id"]]
    assert getattr(kvp, "ttl", None) == expected
    assert json.loads(kvp.value)["state"] == "resolved"  # one key: the record is the resolve


def paging_datastore(names):
    """st2api's key listing (sorted, at most 100 keys without a limit)."""
    service = LocalSensorService(None)
    for name in names:
        service.set_value(name, "{}", local=False)
    return service


class St2_38Service:
    """st2 3.8's sensor/action service: ``list_values(local, prefix)`` only,
    which returns the first page; its ``datastore_service`` pages."""

    def __init__(self, datastore):
        self.datastore_service = datastore

    def list_values(self, local=True, prefix=None):
        return self.datastore_service.list_values(local=local, prefix=prefix)


class St2_38Mock:
    """st2 3.8's test mock: ``list_values(local, prefix)`` returns everything."""

    def __init__(self, names):
        self._all = paging_datastore(names)

    def list_values(self, local=True, prefix=None):
        return self._all.list_values(local, prefix, limit=10**9)


@pytest.mark.parametrize("shape", ["st2 3.9+", "st2 3.8", "st2 3.8 test mock"])
def test_scan_reads_every_key_on_each_st2_service_shape(shape):
    names = [f"{INCIDENT}{i:04d}" for i in range(250)] + ["poundcake.rate.x"]
    service = {
        "st2 3.9+": lambda: paging_datastore(names),
        "st2 3.8": lambda: St2_38Service(paging_datastore(names)),
        "st2 3.8 test mock": lambda: St2_38Mock(names),
    }[shape]()
    keys = [key for key, _ in StateStore(service).scan(INCIDENT)]
    assert keys == names[:250]


# ---------------------------------------------------------------- exactly once
class TwoSensorsTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_two_sensors_concurrent_duplicates_start_one_remediation(self):
        """Two sensor replicas behind one address, both Alertmanagers of an HA
        pair delivering the same group to both, concurrently; then st2's rules
        engine and scheduler with the per-incident policy (modelled by a lock
        per tracking id, as the coordination backend provides)."""
        first = self.sensor_service
        self.setUp()
        second = self.sensor_service
        body = firing_body()
        for a in body["alerts"]:
            a["labels"].update(auto_remediate="true", service="nginx")
            a["labels"]["alertname"] = "ServiceDown"
        body["commonLabels"]["alertname"] = "ServiceDown"
        self.sensor_service = first
        with running_sensor(self) as s1:
            self.sensor_service = second
            with running_sensor(self) as s2:
                answers = []
                threads = [
                    threading.Thread(
                        target=lambda s=s: answers.append(
                            request(s.server.address[1], "POST", "/webhook", body, bearer(TOKEN))
                        )
                    )
                    for s in (s1, s2, s1, s2)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        assert [a.status for a in answers] == [200] * 4
        triggers = first.dispatched_triggers + second.dispatched_triggers
        assert len(triggers) == 6  # 3 alerts, once per sensor replica

        datastore = shared_datastore()
        locks = defaultdict(threading.Lock)
        runs = []

        errors = []

        def execute(params):
            with locks[params["tracking_id"]]:  # process_one_per_incident
                try:
                    run, _ = process(params["alert"], datastore, workflow=params["workflow"])
                except Exception as exc:  # surfaced below, not lost in the thread
                    errors.append(exc)
                    return
                runs.append(run)

        executions = []
        for trig in triggers:
            for path in RULES:
                rule = load(path)
                if criteria_match(rule["criteria"], trig["payload"]):
                    params = render_rule_parameters(rule, trig["payload"])
                    executions.append(threading.Thread(target=execute, args=(params,)))
        assert len(executions) == 6
        for t in executions:
            t.start()
        for t in executions:
            t.join()
        assert errors == [] and len(runs) == 6
        started = [c for r in runs for c in r.calls_to("poundcake.remediate")]
        assert len(started) == 3
        assert len({c.params["tracking_id"] for c in started}) == 3
        for trig in first.dispatched_triggers:
            rec = record(datastore, trig["payload"]["tracking_id"])
            assert rec["state"] == "remediated"
            assert len(rec["request_ids"]) == 2  # one delivery through each sensor
            assert rec["history"][-1]["note"] == "duplicate: already remediated"


# ---------------------------------------------------------------- queries
def populated():
    """Three incidents of two alerts from two deliveries, one resolved."""
    datastore = shared_datastore()
    store = StateStore(datastore)
    rows = [
        ("00000000000000aa", "2026-11-23T08:00:00Z", "ServiceDown", "critical", "req-" + "1" * 32),
        ("00000000000000aa", "2026-11-23T09:00:00Z", "ServiceDown", "critical", "req-" + "2" * 32),
        ("00000000000000bb", "2026-11-23T08:30:00Z", "DiskSpaceLow", "warning", "req-" + "1" * 32),
    ]
    for i, (fp, starts, name, severity, request_id) in enumerate(rows):
        payload = {
            "tracking_id": f"{fp}-{starts.replace('-', '').replace(':', '')}",
            "fingerprint": fp,
            "alertname": name,
            "severity": severity,
            "instance": "web-1",
            "labels": {"alertname": name, "severity": severity},
            "starts_at": starts,
            "request_id": request_id,
        }
        rec = observe(None, payload, 1000 + i)
        apply(rec, decide(rec, True, [], False, 1000 + i), f"exec-{i}", 1000 + i)
        if i == 0:
            finish(rec, "succeeded", "poundcake.remediate_service_down", 1010)
            log(rec, "resolved", 1020, "ok")
            rec.update(state="resolved", resolved_at=iso(1020))
        store.put(INCIDENT + payload["tracking_id"], rec)
    return datastore


def test_get_alert_shows_current_incident_history_and_executions():
    ok, result = run_python_action(
        "get_alert", {"fingerprint": "00000000000000aa"}, datastore=populated()
    )
    assert ok
    assert result["current"]["starts_at"] == "2026-11-23T09:00:00Z"
    assert result["current"]["state"] == "remediating"
    assert [h["state"] for h in result["history"]] == ["resolved"]
    assert sorted(e["id"] for e in result["executions"]) == ["exec-0", "exec-1"]
    json.dumps(result)  # reads well in st2 execution get: plain JSON
    ok, missing = run_python_action("get_alert", {"fingerprint": "00000000000000cc"})
    assert not ok and "no incident recorded" in missing["error"]
    ok, bad = run_python_action("get_alert", {"fingerprint": "../x"})
    assert not ok and "hex" in bad["error"]


def test_list_alerts_filters_newest_first_with_limit():
    datastore = populated()
    ok, everything = run_python_action("list_alerts", {}, datastore=datastore)
    assert [a["starts_at"] for a in everything] == [
        "2026-11-23T09:00:00Z",
        "2026-11-23T08:30:00Z",
        "2026-11-23T08:00:00Z",
    ]
    _, resolved = run_python_action("list_alerts", {"status": "resolved"}, datastore=datastore)
    assert [a["fingerprint"] for a in resolved] == ["00000000000000aa"]
    _, warning = run_python_action("list_alerts", {"severity": "warning"}, datastore=datastore)
    assert [a["alertname"] for a in warning] == ["DiskSpaceLow"]
    _, by_name = run_python_action(
        "list_alerts", {"alertname": "ServiceDown", "limit": 1}, datastore=datastore
    )
    assert len(by_name) == 1 and by_name[0]["starts_at"] == "2026-11-23T09:00:00Z"


def test_alert_stats_counts_by_status_and_severity_in_its_window():
    hours = int((time.time() - epoch("2026-11-23T00:00:00Z")) // 3600) + 1
    ok, stats = run_python_action("alert_stats", {"hours": hours}, datastore=populated())
    assert ok and stats["hours"] == hours
    assert {k: stats[k] for k in ("total", "by_status", "by_severity")} == {
        "total": 3,
        "by_status": {"resolved": 1, "remediating": 2},
        "by_severity": {"critical": 2, "warning": 1},
    }
    _, today = run_python_action("alert_stats", {}, datastore=populated())
    assert today["total"] == 0, "started before the last 24 hours"


def test_get_request_shows_a_deliverys_alerts_and_executions():
    ok, result = run_python_action(
        "get_request", {"request_id": "req-" + "1" * 32}, datastore=populated()
    )
    assert ok
    assert sorted(a["alertname"] for a in result["alerts"]) == ["DiskSpaceLow", "ServiceDown"]
    assert sorted(e["id"] for e in result["executions"]) == ["exec-0", "exec-2"]


# ---------------------------------------------------------------- metrics
def poller_over(store, registry):
    from unittest import mock

    from poundcake.incident_view import IncidentView
    from poundcake.state_metrics import RemediationMetrics, StatePoller

    view = IncidentView()
    return StatePoller(RemediationMetrics(registry), store, 1, mock.Mock(), view), view


def test_sensor_metrics_follow_the_records():
    from prometheus_client import CollectorRegistry, generate_latest

    datastore = populated()
    store = StateStore(datastore)
    registry = CollectorRegistry()
    poller, _ = poller_over(store, registry)
    poller.poll_once()  # first poll: what finished before the sensor started is not counted
    rec = json.loads(
        datastore.get_value(INCIDENT + "00000000000000bb-20261123T083000Z", local=False)
    )
    finish(rec, "failed", "poundcake.remediate_disk_space", 1100)
    store.put(INCIDENT + rec["tracking_id"], rec)
    breaker.record_failure(store, "DiskSpaceLow", rec["tracking_id"], threshold=1, window=3600)
    poller.poll_once()
    poller.poll_once()  # a second look counts nothing twice
    text = generate_latest(registry).decode()
    assert (
        'poundcake_remediations_executed_total{status="failed",'
        'workflow="poundcake.remediate_disk_space"} 1.0'
    ) in text
    assert "poundcake_remediation_duration_seconds_count 1.0" in text
    assert "poundcake_active_remediations 1.0" in text
    assert "poundcake_breakers_open 1.0" in text
    assert "poundcake_suppressed_incidents 0.0" in text


def test_a_failure_whose_escalation_did_not_run_is_counted_as_a_failed_escalation():
    from prometheus_client import CollectorRegistry

    datastore = populated()  # two incidents being remediated
    store = StateStore(datastore)
    registry = CollectorRegistry()
    poller, _ = poller_over(store, registry)
    poller.poll_once()
    assert registry.get_sample_value("poundcake_escalations_failed_total") == 0
    for tracking_id, escalated in (
        ("00000000000000aa-20261123T090000Z", True),
        ("00000000000000bb-20261123T083000Z", False),
    ):
        rec = store.get(INCIDENT + tracking_id)
        finish(rec, "failed", "poundcake.remediate_disk_space", 1100, "", escalated)
        store.put(INCIDENT + tracking_id, rec)
    poller.poll_once()
    poller.poll_once()  # a second look counts nothing twice
    executed = "poundcake_remediations_executed_total"
    labels = {"workflow": "poundcake.remediate_disk_space", "status": "failed"}
    assert registry.get_sample_value(executed, labels) == 2
    assert registry.get_sample_value("poundcake_escalations_failed_total") == 1


def test_a_failure_to_tell_people_is_counted_once_when_the_poll_reads_it():
    from prometheus_client import CollectorRegistry

    from poundcake import notifiers

    store = StateStore(populated())
    registry = CollectorRegistry()
    poller, _ = poller_over(store, registry)
    poller.poll_once()
    tracking_id = "00000000000000aa-20261123T090000Z"
    rec = store.get(INCIDENT + tracking_id)
    notifiers.failed(rec, "notifier chat", "HTTP 500", "2026-11-23T09:01:00Z")
    notifiers.failed(rec, "silence", "connection refused", "2026-11-23T09:01:00Z")
    store.put(INCIDENT + tracking_id, rec)
    poller.poll_once()
    poller.poll_once()  # a second look counts nothing twice
    assert registry.get_sample_value("poundcake_notifications_failed_total") == 2


def test_a_poll_reads_the_watched_incidents_not_every_record():
    """Steady-state polls cost the same datastore calls with 3 or 3,000
    incidents stored: they read the windows, the breakers and the incidents
    in flight, never the retained records (only the first poll does)."""
    from prometheus_client import CollectorRegistry

    calls = []
    for extra in (0, 3000):
        datastore = populated()  # two remediating incidents: watched
        store = StateStore(datastore, clock=lambda: 1020 + 60)
        for i in range(extra):
            rec = observe(
                None,
                {
                    "tracking_id": f"{i:016x}-20261123T070000Z",
                    "fingerprint": f"{i:016x}",
                    "labels": {},
                },
                900,
            )
            apply(rec, decide(rec, False, [], False, 900), "", 900)
            store.put(INCIDENT + rec["tracking_id"], rec)
        registry = CollectorRegistry()
        poller, view = poller_over(store, registry)
        poller.poll_once()
        before = store.calls
        poller.poll_once()
        calls.append(store.calls - before)
        assert len(view.shown()) == 3 + extra
        assert registry.get_sample_value("poundcake_state_watched") == 2
    assert calls[0] == calls[1] == 2 + 2, calls  # windows, breakers, 2 x the incident (one key)


def test_a_full_view_keeps_what_poundcake_acted_on_before_newer_noise():
    """A storm of alerts no rule remediates, recorded after the sensor
    started, fills the view; what PoundCake acted on or must act on stays."""
    from poundcake.incident_view import IncidentView

    def doc(tracking_id, state, at, remediation=None):
        started = iso(at)
        return {
            "tracking_id": tracking_id,
            "fingerprint": tracking_id,
            "state": state,
            "starts_at": started,
            "created_at": started,
            "remediation": remediation,
        }

    view = IncidentView(limit=4)
    view.seed([doc("failed", "failed", 10), doc("old-noise", "recorded", 5)], now=10)
    view.put(doc("fixed-then-resolved", "resolved", 20, {"execution_id": "e1"}))
    view.put(doc("resolved-noise", "resolved", 21))
    for i in range(10):  # each put over the limit is trimmed by shown() at the latest
        view.put(doc(f"storm-{i}", "recorded", 100 + i))
    kept = [d["tracking_id"] for d in view.shown()]
    assert kept == ["storm-9", "storm-8", "fixed-then-resolved", "failed"]


def test_the_view_watches_an_opted_in_alert_until_its_record_settles():
    from poundcake.incident_view import IncidentView

    view = IncidentView(watch_seconds=100)
    firing = {"tracking_id": "aa-1", "fingerprint": "aa", "status": "firing"}
    view.watch(firing, now=0)
    assert view.watching(now=1) == ["aa-1"]
    assert view.settle("aa-1", None) is None and view.watching(now=2) == ["aa-1"]
    view.settle("aa-1", {"tracking_id": "aa-1", "fingerprint": "aa", "state": "remediating"})
    assert view.watching(now=3) == ["aa-1"], "still in flight"
    view.settle("aa-1", {"tracking_id": "aa-1", "fingerprint": "aa", "state": "remediated"})
    assert view.watching(now=4) == [], "settled: no more reads"
    view.watch(dict(firing, tracking_id="aa-2", status="resolved"), now=5)
    assert sorted(view.watching(now=6)) == ["aa-1", "aa-2"], "a resolve closes the fingerprint"
    view.settle("aa-1", {"tracking_id": "aa-1", "fingerprint": "aa", "state": "remediated"})
    assert sorted(view.watching(now=7)) == ["aa-1", "aa-2"], "until the resolve is written"
    view.settle("aa-1", {"tracking_id": "aa-1", "fingerprint": "aa", "state": "resolved"})
    assert view.watching(now=8) == ["aa-2"]
    assert view.watching(now=200) == [], "a watch ends after watch_seconds"


class SensorStateMetricsTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_sensor_serves_remediation_metrics_from_the_shared_datastore(self):
        self.sensor_service._datastore_service = populated()
        with running_sensor(self, state_poll_seconds=1) as sensor:
            port = sensor.server.address[1]

            deadline = time.monotonic() + 10
            text = ""
            while time.monotonic() < deadline and "poundcake_active_remediations 2.0" not in text:
                time.sleep(0.1)
                text = request(port, "GET", "/metrics").body.decode()
        assert "poundcake_active_remediations 2.0" in text
        assert "poundcake_state_poll_errors_total 0.0" in text


def test_the_state_poll_waits_ten_times_as_long_as_a_slow_read():
    """A slow read (st2api busy) spaces the polls out instead of keeping it busier."""
    from prometheus_client import CollectorRegistry

    from poundcake.state_metrics import POLL_DUTY

    starts = []
    poller, _ = poller_over(StateStore(shared_datastore()), CollectorRegistry())
    poller._interval = 0.01

    def slow_poll():
        starts.append(time.monotonic())
        time.sleep(0.05)

    poller.poll_once = slow_poll
    poller.start()
    time.sleep(1.3)
    poller.stop()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps and min(gaps) >= POLL_DUTY * 0.05 * 0.9, gaps
    assert len(starts) <= 3


def test_a_failing_record_alert_escalates_and_fails_the_workflow():
    class Broken:
        """A datastore whose every call fails, as st2api down does."""

        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("st2api: connection refused")

            return fail

    payload = alert()
    handler = ActionHandler(BASE_CONFIG, Shell(), Broken())
    run = run_workflow("process_alert.yaml", process_inputs(payload), handler)
    assert run.status == statuses.FAILED
    (message,) = [c.params["message"] for c in run.calls_to("poundcake.log_escalation")]
    assert "could not record ServiceDown" in message and "record_alert failed" in message


def test_messages_that_fail_after_their_writer_are_counted_from_st2():
    """A poundcake.notify that fails once the record left the poll's watch:
    st2's list of failed executions is the witness, each id counted once."""
    from unittest import mock

    from poundcake.state_metrics import FailedMessages

    listed = [[{"id": "e1"}], [{"id": "e2"}, {"id": "e1"}], [{"id": "e2"}, {"id": "e1"}]]

    class Api:
        def checked(self, method, path):
            assert "action=poundcake.notify&status=failed" in path
            return listed.pop(0)

    failed = FailedMessages(lambda: Api(), mock.Mock())
    assert [failed.new(), failed.new(), failed.new()] == [0, 1, 0], "from the sensor's start"
