"""The safety envelope at the door of every remediation (process_alert → remediate).

Kill switch, scope, approval and rate, each proven on what a user sees: the
calls the workflow made (remediate never requested), the incident record and
the escalation.
"""

import threading
import time

import pytest
from orquesta import statuses
from orquesta_harness import run_workflow
from pack_actions import ActionHandler, run_python_action, shared_datastore
from test_lifecycle import alert, process_inputs, record
from test_workflows import Shell

from poundcake.envelope import KILL_SWITCH_KEY
from poundcake.rate_limit import RATE, Limits, admit, rate_key, subjects
from poundcake.state_store import StateStore

SCOPE = {"allowed_hosts": ["web-*", "10.1.0.0/16"], "clear_timeout_seconds": 0}


_IDS = iter(range(1, 10**6))


def payload(instance="web-1:9100", **labels):
    """An opted-in ServiceDown of its own incident (a fresh tracking id)."""
    doc = alert()
    doc["labels"].update(labels)
    doc["instance"] = doc["labels"]["instance"] = instance
    n = next(_IDS)
    doc["fingerprint"] = f"{n:016x}"
    doc["tracking_id"] = f"{n:016x}-20261123T083600Z"
    return doc


def process(
    doc,
    datastore=None,
    config=None,
    ask=None,
    workflow="poundcake.remediate_service_down",
    shell=None,
):
    datastore = datastore if datastore is not None else shared_datastore()
    shell = shell or Shell()
    handler = ActionHandler({**SCOPE, **(config or {})}, shell, datastore, ask)
    run = run_workflow("process_alert.yaml", process_inputs(doc, workflow), handler)
    return run, shell, record(datastore, doc["tracking_id"]), datastore


def escalations(run):
    return [c.params["message"] for c in run.calls_to("poundcake.log_escalation")]


def assert_refused(run, shell, rec, state, words):
    assert shell.commands == [], "nothing may run on a host"
    assert run.calls_to("poundcake.remediate") == []
    assert rec["state"] == state and words in rec["reason"]
    (message,) = escalations(run)
    assert state in message and words in message


# ---------------------------------------------------------------- scope
def test_a_fresh_install_remediates_nothing_and_the_record_says_why():
    run, shell, rec, _ = process(payload(), config={"allowed_hosts": []})
    assert_refused(run, shell, rec, "refused", "allows no host yet")
    assert run.status == statuses.FAILED


@pytest.mark.parametrize("instance", ["localhost:9100", "127.0.0.1:9100", "[::1]:9100"])
def test_the_st2_host_is_refused_even_by_a_catch_all(instance):
    run, shell, rec, _ = process(payload(instance), config={"allowed_hosts": ["*", "0.0.0.0/0"]})
    assert_refused(run, shell, rec, "refused", "st2 host itself")


@pytest.mark.parametrize(
    "service, words",
    [("reboot.target", "not a .service unit"), ("sshd", "deny-list"), ("st2api", "deny-list")],
)
def test_units_outside_the_scope_are_refused_at_the_door(service, words):
    config = {"allowed_services": [service]}
    run, shell, rec, _ = process(payload(service=service), config=config)
    assert_refused(run, shell, rec, "refused", words)


def test_an_operators_own_workflow_is_held_to_the_same_scope():
    config = {"allowed_actions": ["ops.restart_app"], "allowed_hosts": ["db-*"]}
    run, shell, rec, _ = process(payload(), config=config, workflow="ops.restart_app")
    assert_refused(run, shell, rec, "refused", "not in allowed_hosts")


def test_two_ports_of_one_host_reach_remediate_as_one_host():
    hosts = []
    for instance in ("Web-1:9100", "web-1.:9256"):
        doc = payload(instance)
        run, _, rec, _ = process(doc)
        (request,) = run.calls_to("poundcake.remediate")
        hosts.append(request.params["host"])
        assert rec["state"] == "remediated"
    assert hosts == ["web-1", "web-1"]  # what remediate_one_per_host keys on


# ---------------------------------------------------------- kill switch
def test_the_kill_switch_in_the_config_refuses_every_remediation():
    run, shell, rec, _ = process(payload(), config={"remediation_enabled": False})
    assert_refused(run, shell, rec, "refused", "kill switch")


def test_the_kill_switch_key_is_read_at_each_check_without_a_reload():
    datastore = shared_datastore()
    datastore.set_value(KILL_SWITCH_KEY, "false", local=False)
    run, shell, rec, _ = process(payload(), datastore)
    assert_refused(run, shell, rec, "refused", "st2 key set poundcake.remediation_enabled true")
    datastore.set_value(KILL_SWITCH_KEY, "true", local=False)
    _, shell, rec, _ = process(payload(instance="web-2:9100"), datastore)
    assert rec["state"] == "remediated" and shell.commands


# ----------------------------------------------------------------- rate
def test_beyond_n_a_window_incidents_are_rate_limited_and_escalate_once():
    datastore = shared_datastore()
    config = {"rate_limit_remediations": 2, "max_hosts_in_flight": 10}
    states, escalated = [], 0
    for i in range(5):
        run, shell, rec, _ = process(payload(f"web-{i}:9100"), datastore, config)
        states.append(rec["state"])
        escalated += len(escalations(run))
        if rec["state"] == "rate_limited":
            assert shell.commands == [] and "rate limit: 2 remediations" in rec["reason"]
    assert states == ["remediated", "remediated", "rate_limited", "rate_limited", "rate_limited"]
    assert escalated == 1  # once per window, the first refusal


class Slow:
    """A datastore service whose reads of the rate records take time, as
    st2api's HTTP calls do: without the lock, concurrent admissions would all
    read before any writes."""

    def __init__(self, datastore):
        self._datastore = datastore

    def get_value(self, *args, **kwargs):
        name = args[0] if args else kwargs.get("name", "")
        time.sleep(0.05 if name.startswith(RATE) else 0)
        return self._datastore.get_value(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._datastore, name)


def named_locks():
    """What the coordination backend gives: one lock per name, shared by all."""
    locks, guard = {}, threading.Lock()

    def lock(name):
        with guard:
            return locks.setdefault(name, threading.Lock())

    return lock


def test_a_simultaneous_burst_never_has_more_than_m_hosts_in_flight():
    """Twenty admissions at once, each read slowed as over HTTP, under the
    coordination lock: exactly three hosts get in. (Green threads here do not
    interleave the way st2's action runner processes do: the acceptance suite's
    burst on the kit is the proof under real concurrency.)"""
    store = StateStore(Slow(shared_datastore()))
    limits = Limits(max_remediations=100, window_seconds=3600, max_hosts_in_flight=3)
    lock = named_locks()
    verdicts = []

    def admit_one(i):
        names = subjects("ServiceDown", "poundcake.remediate_service_down")
        verdicts.append(admit(store, lock, names, f"t-{i}", f"web-{i}", limits, time.time()))

    threads = [threading.Thread(target=admit_one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(v.admitted for v in verdicts) == 3 and len(verdicts) == 20
    doc = store.get(rate_key("ServiceDown"))
    assert len({slot["host"] for slot in doc["in_flight"].values()}) == 3


def test_a_finished_remediation_gives_its_host_slot_back():
    datastore = shared_datastore()
    config = {"max_hosts_in_flight": 1}
    for i in range(3):  # one after another: each finishes before the next
        _, _, rec, _ = process(payload(f"web-{i}:9100"), datastore, config)
        assert rec["state"] == "remediated"


# ------------------------------------------------------------- approval
APPROVE = {"approval_required": {"severities": ["critical"]}}


def answering(response, status=statuses.SUCCEEDED, asked=None):
    def ask(call):
        if asked is not None:
            asked.append(call.params)
        result = {"schema": call.params["schema"], "route": call.params["route"]}
        if response is not None:
            result["response"] = response
        return status, result

    return ask


def test_approval_asks_first_then_remediates_on_yes():
    asked = []
    doc = payload()
    run, shell, rec, _ = process(
        doc, config=APPROVE, ask=answering({"approved": True}, asked=asked)
    )
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    (params,) = asked
    assert params["route"] == "poundcake." + doc["tracking_id"]
    assert params["schema"]["properties"]["approved"]["type"] == "boolean"
    order = [c.action for c in run.calls]
    assert order.index("core.ask") < order.index("poundcake.remediate")
    assert any(h["state"] == "awaiting_approval" for h in rec["history"])
    assert rec["approval"]["approved"] is True


@pytest.mark.parametrize(
    "response, words",
    [
        ({"approved": False, "comment": "not during the release"}, "not during the release"),
        (
            {"approved": False, "comment": "no answer within approval_timeout_seconds (60 s)"},
            "no answer within",
        ),
        (None, "the inquiry ended without a response"),
    ],
    ids=["denied", "timed-out", "st2-expired"],
)
def test_no_approval_runs_nothing_and_escalates(response, words):
    status = statuses.FAILED if response is None else statuses.SUCCEEDED
    run, shell, rec, _ = process(payload(), config=APPROVE, ask=answering(response, status))
    assert_refused(run, shell, rec, "not_approved", words)


def test_the_envelope_is_checked_again_after_the_answer():
    datastore = shared_datastore()

    def flip_then_approve(call):
        datastore.set_value(KILL_SWITCH_KEY, "false", local=False)  # while it waited
        return statuses.SUCCEEDED, {"response": {"approved": True}}

    run, shell, rec, _ = process(payload(), datastore, APPROVE, flip_then_approve)
    assert_refused(run, shell, rec, "refused", "kill switch")


def test_observe_mode_reports_what_would_have_been_asked():
    doc = payload()
    inputs = {**process_inputs(doc), "dry_run": True}
    datastore = shared_datastore()
    handler = ActionHandler({**SCOPE, **APPROVE}, Shell(), datastore)
    run = run_workflow("process_alert.yaml", inputs, handler)
    assert run.calls_to("core.ask") == []
    rec = record(datastore, doc["tracking_id"])
    assert any("would have asked for approval" in h["note"] for h in rec["history"])


@pytest.mark.parametrize("value", ["false", "0", "off", "disable", "flase"])
def test_any_kill_switch_value_but_a_clear_on_is_off(value):
    datastore = shared_datastore()
    datastore.set_value(KILL_SWITCH_KEY, value, local=False)
    run, shell, rec, _ = process(payload(), datastore)
    assert_refused(run, shell, rec, "refused", "kill switch")


def test_the_kill_switch_is_checked_again_when_a_queued_remediation_starts():
    datastore = shared_datastore()
    datastore.set_value(KILL_SWITCH_KEY, "false", local=False)
    ok, result = run_python_action(
        "validate_targets",
        {"kind": "service", "host": "web-1", "labels": {"service": "nginx"}},
        SCOPE,
        datastore,
    )
    assert not ok and "refused, nothing was run: kill switch" in result["error"]


def test_the_caps_count_per_workflow_too_whatever_alertnames_authors_make_up():
    datastore = shared_datastore()
    config = {"rate_limit_remediations": 2, "max_hosts_in_flight": 10}
    states = []
    for i in range(3):
        doc = payload(f"web-{i}:9100")
        doc["alertname"] = doc["labels"]["alertname"] = f"Made-up-{i}"
        _, _, rec, _ = process(doc, datastore, config)
        states.append(rec["state"])
    assert states == ["remediated", "remediated", "rate_limited"]
    assert "poundcake.remediate_service_down" in rec["reason"]


def test_a_canceled_remediation_gives_its_slot_back():
    datastore = shared_datastore()
    config = {**SCOPE, "max_hosts_in_flight": 1}
    doc = payload("web-1:9100")
    params = {
        "alert": doc,
        "execution_id": "exec-1",
        "workflow": "poundcake.remediate_service_down",
    }
    ok, first = run_python_action("record_alert", params, config, datastore)
    assert ok and first["state"] == "remediating"
    resolved = dict(doc, status="resolved")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("poundcake.st2_api.St2Api.cancel", lambda self, execution_id: None)
        patch.setenv("ST2_ACTION_API_URL", "http://127.0.0.1:9/v1")
        ok, _ = run_python_action(
            "resolve_incident", {"alert": resolved}, {"on_resolve": "cancel"}, datastore
        )
    assert ok
    other = payload("web-2:9100")
    params = {
        "alert": other,
        "execution_id": "exec-2",
        "workflow": "poundcake.remediate_service_down",
    }
    ok, second = run_python_action("record_alert", params, config, datastore)
    assert second["state"] == "remediating", second["note"]
