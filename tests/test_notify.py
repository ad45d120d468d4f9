"""Telling people what PoundCake did: a message per transition, through st2 actions.

The writers of a transition start one poundcake.notify per notifier that
takes it (through st2's API, here a loopback model of it that checks each
request as st2 does); poundcake.notify renders, checks and runs the
notifier's action, and keeps the thread it returns. core.http runs for real
against a loopback server answering as Slack's chat.postMessage does.
"""

import glob
import os

import pytest
import yaml
from chat_server import ChatServer, chat_notifier
from fake_st2_api import FakeSt2Api
from orquesta import statuses
from pack_actions import run_python_action, shared_datastore
from pack_paths import PACK_DIR
from st2_actions import RequestRejected, check_request, merged_parameters
from test_envelope import APPROVE, SCOPE, answering, payload, process

from poundcake import notifiers as tell
from poundcake.incidents import log, observe, transitions

EXAMPLES = sorted(glob.glob(os.path.join(PACK_DIR, "examples", "notify", "*.yaml")))


@pytest.fixture
def st2api(monkeypatch):
    api = FakeSt2Api()
    monkeypatch.setenv("ST2_ACTION_API_URL", api.url)
    yield api
    api.close()


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.close()


def chat_config(url, transitions=tell.TRANSITIONS):
    return {"notifiers": [chat_notifier(url, transitions)]}


def notify_all(api, config, datastore):
    """Run what the writers started, as st2 would (policy notify_in_order: in turn)."""

    def run(parameters):
        return run_python_action("notify", parameters, {**SCOPE, **config}, datastore)

    return api.run_notifications(run)


def resolve(doc, config, datastore):
    resolved = {**doc, "status": "resolved", "ends_at": "2026-11-23T09:00:00Z"}
    ok, _ = run_python_action("resolve_incident", {"alert": resolved}, config, datastore)
    assert ok


# ------------------------------------------------------------ the config
@pytest.mark.parametrize(
    "config, words",
    [
        ({"notify_action": "slack"}, "config notify_action must be an action ref"),
        ({"notify_action": "a.b", "notify_on": ["fixed"]}, "config notify_on: 'fixed' is not"),
        (
            {"notify_action": "a.b", "notify_parameters": {"message": "{{ x }} ${hostname}"}},
            "notify_parameters.message: ${hostname} is not a field",
        ),
        (
            {"notify_action": "a.b", "notify_parameters": {"message": "costs $5"}},
            "a lone $",
        ),
        (
            {"notifiers": [{"name": "x", "action": "a.b", "transitions": ["failed"]}]},
            "config notifiers[0].parameters must be an object",
        ),
        (
            {
                "notifiers": [
                    {
                        "name": "x",
                        "action": "a.b",
                        "transitions": ["resolved"],
                        "parameters": {"id": "${thread_id}"},
                        "thread_from": "open",
                    }
                ]
            },
            "thread_from 'open' names no notifier",
        ),
    ],
)
def test_a_wrong_notifier_config_names_the_key(config, words):
    with pytest.raises(tell.NotifierConfigError, match=None) as caught:
        tell.notifiers(config)
    assert words in str(caught.value)


def test_notify_action_alone_tells_every_transition_with_one_message():
    (first,) = tell.notifiers({"notify_action": "poundcake.log_escalation"})
    assert first.name == "notify_action" and first.transitions == tell.TRANSITIONS
    fields = dict.fromkeys(tell.FIELDS, "x")
    assert list(first.render(fields)) == ["message"]
    check_request("poundcake.log_escalation", first.render(fields))


def test_a_parameter_that_renders_empty_is_left_out():
    (first,) = tell.notifiers(
        {
            "notify_action": "a.b",
            "notify_parameters": {"text": "${state}", "thread_ts": "${thread_id}"},
        }
    )
    assert first.render({**dict.fromkeys(tell.FIELDS, ""), "state": "failed"}) == {"text": "failed"}


# ------------------------------------------- the shipped example configs
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_each_example_renders_only_what_its_actions_declare(path):
    """Every notifier of examples/notify/, for every transition it takes,
    renders a request st2 accepts for that action (the Exchange actions'
    own metadata, st2's core.http and core.sendmail)."""
    with open(path) as fp:
        config = yaml.safe_load(fp)
    found = tell.notifiers(config)
    assert found
    for notifier in found:
        declared = merged_parameters(notifier.action)
        for state in notifier.transitions:
            fields = {**dict.fromkeys(tell.FIELDS, "x"), "state": state, "thread_id": "1.2"}
            rendered = notifier.render(fields)
            assert tell.refusals(rendered, declared, notifier.action) == []
            check_request(notifier.action, tell.typed(rendered, declared))


def test_examples_are_all_tested():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert names == {"slack.yaml", "pagerduty.yaml", "email.yaml", "http.yaml"}


# -------------------------------------------------------- one thread
def test_one_thread_per_incident_through_core_http(st2api, chat):
    """remediating, remediated, resolved: three messages, the first answer's ts
    threads the other two; one poundcake.notify and one core.http each."""
    datastore = shared_datastore()
    config = chat_config(chat.url)
    doc = payload()
    run, _, rec, _ = process(doc, datastore, config)
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    assert [t["transition"] for t in rec["notifications"]["told"]] == ["remediating", "remediated"]
    notify_all(st2api, config, datastore)
    resolve(doc, config, datastore)
    notify_all(st2api, config, datastore)
    bodies = chat.bodies("/api/chat.postMessage")
    assert [b["text"].split(": ")[1].split(" ")[0] for b in bodies] == [
        "remediating",
        "remediated",
        "resolved",
    ]
    first_ts = chat.requests[0]["ts"]
    assert "thread_ts" not in bodies[0]  # rendered empty: left out
    assert [b["thread_ts"] for b in bodies[1:]] == [first_ts, first_ts]
    stored = record_of(datastore, doc)
    assert stored["notifications"]["threads"] == {"chat": first_ts}
    assert stored["notifications"]["failures"] == 0
    assert len(st2api.of("poundcake.notify")) == 3 and len(st2api.of("core.http")) == 3
    tags = {e["context"]["trace_context"]["trace_tag"] for e in st2api.executions.values()}
    assert tags == {doc["tracking_id"]}  # all in the incident's trace


def test_a_resolve_of_several_incidents_looks_up_its_trace_once(st2api, chat, monkeypatch):
    """close_incidents tells of each incident it closes with one API client."""
    datastore = shared_datastore()
    config = chat_config(chat.url, ["resolved"])
    first = payload()
    later = {**first, "starts_at": "2026-11-23T08:50:00Z"}
    later["tracking_id"] = first["fingerprint"] + "-20261123T085000Z"
    for doc in (first, later):
        run, _, rec, _ = process(doc, datastore, config)
        assert rec["state"] == "remediated"
    monkeypatch.setenv("ST2_ACTION_EXECUTION_ID", "5f00000000000000000000aa")
    resolve(later, config, datastore)
    assert [record_of(datastore, d)["state"] for d in (first, later)] == ["resolved"] * 2
    assert len(st2api.pending) == 2  # one message per incident
    assert st2api.trace_lookups == 1


def record_of(datastore, doc):
    from test_lifecycle import record

    return record(datastore, doc["tracking_id"])


# ------------------------------------------------ failing notifiers
def test_a_failing_notifier_never_changes_the_remediation_or_its_record(st2api):
    datastore = shared_datastore()
    config = chat_config("http://127.0.0.1:9")  # nothing listens
    doc = payload()
    run, _, rec, _ = process(doc, datastore, config)
    results = notify_all(st2api, config, datastore)
    assert [ok for ok, _ in results] == [False, False]
    assert "core.http execution" in results[0][1]["error"]
    after = record_of(datastore, doc)
    assert run.status == statuses.SUCCEEDED
    assert (
        (after["state"], after["reason"])
        == (rec["state"], rec["reason"])
        == (
            "remediated",
            rec["reason"],
        )
    )
    assert after["history"] == rec["history"]
    assert after["notifications"]["failures"] == 2
    assert after["notifications"]["errors"][0]["what"] == "notifier chat"


def test_a_parameter_the_action_does_not_declare_is_never_sent(st2api):
    """slack.post_message takes no thread_ts (its webhook answers no ts):
    st2 would refuse the request, so nothing is sent, and the record says why."""
    datastore = shared_datastore()
    config = {
        "notify_action": "slack.post_message",
        "notify_on": ["remediated"],
        "notify_parameters": {"message": "${alertname}: ${state}", "thread_ts": "${tracking_id}"},
    }
    doc = payload()
    run, _, rec, _ = process(doc, datastore, config)
    ((ok, result),) = notify_all(st2api, config, datastore)
    assert not ok and "declares no parameter thread_ts" in result["error"]
    assert st2api.of("slack.post_message") == []
    with pytest.raises(RequestRejected, match="Additional properties"):  # what st2 says
        check_request("slack.post_message", {"message": "m", "thread_ts": "1"})
    assert run.status == statuses.SUCCEEDED and record_of(datastore, doc)["state"] == "remediated"
    assert record_of(datastore, doc)["notifications"]["failures"] == 1


def test_st2_unreachable_when_a_transition_is_written_is_counted_not_fatal(monkeypatch):
    monkeypatch.setenv("ST2_ACTION_API_URL", "http://127.0.0.1:9/v1")
    datastore = shared_datastore()
    run, _, rec, _ = process(payload(), datastore, chat_config("http://127.0.0.1:9"))
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    assert rec["notifications"]["failures"] == 2
    assert "st2 API POST /executions failed" in rec["notifications"]["errors"][0]["error"]


# ------------------------------------------------------- escalations
def test_escalations_tell_each_notifier_once_per_incident(st2api, chat):
    """refused is written by record_alert and again by finish_remediation:
    one message. A second escalating state of the same incident: none."""
    datastore = shared_datastore()
    config = {**chat_config(chat.url, tell.ESCALATIONS), "allowed_hosts": ["db-*"]}
    doc = payload()
    run, _, rec, _ = process(doc, datastore, config)
    assert rec["state"] == "refused"
    assert [t["transition"] for t in rec["notifications"]["told"]] == ["refused"]
    notify_all(st2api, config, datastore)
    assert len(chat.bodies()) == 1 and "refused" in chat.bodies()[0]["text"]
    stored = record_of(datastore, doc)
    since = stored["history"][-1]
    log(stored, "failed", 1.0, "say it failed later")
    assert tell.due(tell.notifiers(config), stored, "failed") == []
    assert [e["state"] for e in transitions(stored, since)] == ["failed"]


def test_awaiting_approval_is_told_with_the_command_that_approves(st2api, chat):
    datastore = shared_datastore()
    config = {**APPROVE, **chat_config(chat.url, ["awaiting_approval", "remediated"])}
    config["notifiers"][0]["parameters"]["body"]["text"] = "${state}: ${approve}"
    doc = payload()

    def announced_then_yes(call):  # rule announce_approval runs note_approval meanwhile
        params = {"inquiry_id": "a" * 24, "route": call.params["route"]}
        ok, _ = run_python_action("note_approval", params, {**SCOPE, **config}, datastore)
        assert ok
        return answering({"approved": True})(call)

    run, _, rec, _ = process(doc, datastore, config, announced_then_yes)
    assert rec["state"] == "remediated"
    told = [t["transition"] for t in rec["notifications"]["told"]]
    assert told == ["awaiting_approval", "remediated"]  # record_alert left it to note_approval
    notify_all(st2api, config, datastore)
    first = chat.bodies()[0]["text"]
    assert first.startswith("awaiting_approval: st2 inquiry respond " + "a" * 24)


def test_pagerduty_opens_on_escalation_and_resolves_what_it_opened(st2api):
    with open(os.path.join(PACK_DIR, "examples", "notify", "pagerduty.yaml")) as fp:
        config = yaml.safe_load(fp)
    st2api.answers["pagerduty.incident.create.rest_v2.simple"] = lambda p: (
        "succeeded",
        {"result": {"id": "PQ1W2E3", "title": p["title"]}, "exit_code": 0},
    )
    datastore = shared_datastore()
    failing = {**config, "allowed_hosts": ["db-*"]}
    doc = payload()
    process(doc, datastore, failing)
    notify_all(st2api, failing, datastore)
    resolve(doc, failing, datastore)
    notify_all(st2api, failing, datastore)
    (opened,) = st2api.of("pagerduty.incident.create.rest_v2.simple")
    assert opened["parameters"]["title"].endswith(": refused")
    (resolved,) = st2api.of("pagerduty.incident.resolve")
    assert resolved["parameters"]["entity_id"] == "PQ1W2E3"
    # an incident PoundCake fixed opened nothing, so its resolve resolves nothing
    fixed = payload()
    process(fixed, datastore, config)
    resolve(fixed, config, datastore)
    (result,) = [r for ok, r in notify_all(st2api, config, datastore)]
    assert result["sent"] is False and len(st2api.of("pagerduty.incident.resolve")) == 1


# ------------------------------------------------------- transitions
def test_transitions_are_the_states_a_write_moved_the_record_into():
    rec = observe(None, {"tracking_id": "t", "fingerprint": "f"}, 0.0)
    since = rec["history"][-1]
    log(rec, "remediated", 1.0, "restarted")
    log(rec, "remediated", 1.0, "a note")
    log(rec, "resolved", 2.0, "resolved by Alertmanager")
    assert [e["state"] for e in transitions(rec, since)] == ["remediated", "resolved"]
    assert [e["state"] for e in transitions(rec, rec["history"][-1])] == []
    assert [e["state"] for e in transitions(rec, None)][0] == "received"


def test_the_silence_routing_example_is_a_valid_alertmanager_config():
    import shutil
    import subprocess

    amtool = shutil.which("amtool")
    assert amtool, "amtool (Debian's prometheus-alertmanager) is needed"
    path = os.path.join(PACK_DIR, "examples", "alertmanager", "silence-routing.yml")
    done = subprocess.run([amtool, "check-config", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(path) as fp:
        routes = yaml.safe_load(fp)["route"]["routes"]
    assert routes[0]["receiver"] == "poundcake" and routes[0]["continue"] is True


def test_whatever_goes_wrong_telling_people_the_remediation_goes_on():
    datastore = shared_datastore()
    config = {"alertmanager_url": "http://127.0.0.1:9", "silence_while_remediating": True}
    config["silence_max_seconds"] = "soon"  # a config st2's schema would have refused
    run, _, rec, _ = process(payload(), datastore, config)
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    assert rec["notifications"]["errors"][0]["what"] == "silence of remediating"


def test_a_resolve_told_before_a_late_failure_is_told_again_to_close_what_it_opened():
    """on_resolve let_finish: the resolve comes, then the remediation fails;
    PagerDuty opened on the failure must see a resolve after it."""
    (pager,) = tell.notifiers(
        {"notify_action": "a.b", "notify_on": ["failed", "rate_limited", "resolved"]}
    )
    record = {"tracking_id": "t-1"}
    assert tell.due([pager], record, "resolved") == [pager]
    tell.told(record, pager.name, "resolved", "2026-12-02T09:00:00Z", "e1")
    assert tell.due([pager], record, "resolved") == [], "one resolve"
    assert tell.due([pager], record, "failed") == [pager]
    tell.told(record, pager.name, "failed", "2026-12-02T09:00:05Z", "e2")
    assert tell.due([pager], record, "rate_limited") == [], "one escalation"
    assert tell.due([pager], record, "resolved") == [pager], "the failure's resolve"


def test_the_fields_a_template_renders_are_inert():
    record = {"tracking_id": "t-1", "reason": "output: {{ st2kv.system.token }} <% ctx() %>"}
    shown = tell.fields(record, "failed", {})
    assert "{{" not in shown["reason"] and "<%" not in shown["reason"]
    assert shown["reason"] == "output: { { st2kv.system.token } } < % ctx() % >"


def test_no_silence_of_labels_that_are_not_the_alerts_own():
    from poundcake.alertmanager_api import held, silence_for, unsilenceable
    from poundcake.state_store import epoch

    ok = {"labels": {"alertname": "Down", "instance": "web-1", "team": ""}}
    assert unsilenceable(ok) is None
    assert [m["name"] for m in silence_for(ok, "a", "b")["matchers"]] == ["alertname", "instance"]
    made_inert = {"labels": {"alertname": "Down", "job": "{ { x } }"}}
    assert "job" in unsilenceable(made_inert)
    cut = {"labels": {"alertname": "Down", "job": "x" * 1024 + "…(cut by PoundCake: too long)"}}
    assert "job" in unsilenceable(cut)
    assert unsilenceable({"labels": {"instance": "web-1"}})
    silence = {"id": "s1", "ends_at": "2026-12-02T09:00:00Z"}
    assert held({"silence": silence}) == silence
    assert held({"silence": silence}, now=epoch("2026-12-02T09:00:01Z")) is None, (
        "ended at its bound"
    )
