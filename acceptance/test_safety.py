"""What must not run: hostile labels, a dry run, an action outside the allow-list."""

import json
import os

import pytest
from conftest import record_timing
from test_remediation import escalations


@pytest.mark.release
@pytest.mark.parametrize(
    "labels",
    [
        {"service": "svc; touch {pwned}"},
        {"service": "$(touch {pwned})"},
        {"instance": "localhost;touch {pwned}"},
    ],
    ids=["service-semicolon", "service-subshell", "instance-semicolon"],
)
def test_shell_metacharacters_in_labels_run_nothing(alerting, target, tmp_path, labels):
    pwned = str(tmp_path / "pwned")
    hostile = {k: v.format(pwned=pwned) for k, v in labels.items()}
    alert = alerting.fire("ServiceDown", auto_remediate="true", **{"service": "svc-x", **hostile})
    story = alerting.story(alert)
    assert story.execution()["status"] == "failed"
    assert target.calls(since=alert.posted_at) == [], "nothing may run on the target"
    assert not os.path.exists(pwned)
    assert "core.remote" not in story.refs() and "core.remote_sudo" not in story.refs()
    assert "poundcake.remediate" not in story.refs(), "refused at the door"
    (message,) = escalations(story)
    assert "nothing was run" in message
    record = story.record()
    assert record["state"] == "refused" and record["history"][-1]["note"].endswith("(escalated)")


def test_observe_mode_diagnoses_and_changes_nothing(alerting, target, configure):
    configure(observe_mode=True)
    target.unit("svc-observed", "failed")
    alert = alerting.fire("ServiceDown", service="svc-observed", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    calls = [c["args"][0] for c in target.calls("svc-observed", alert.posted_at)]
    assert calls == ["is-active", "status"]
    assert target.unit_state("svc-observed") == "failed"
    (workflow,) = story.of("poundcake.remediate_service_down")
    assert workflow["result"]["output"]["outcome"].startswith("dry run: would restart svc-observed")
    record = story.record()
    assert record["remediation"]["dry_run"] is True
    assert "dry run" in record["history"][-1]["note"]
    record_timing(
        "remediate_service_down (observe_mode)", story, "poundcake.remediate_service_down"
    )


def test_runbook_annotation_routes_to_its_mapped_workflow(alerting, target):
    target.unit("svc-runbook", "failed")
    alert = alerting.fire(
        "AppUnavailable",
        annotations={"automation_runbook": "service_unavailable"},
        service="svc-runbook",
        auto_remediate="true",
    )
    story = alerting.story(alert)
    assert story.rules() == ["poundcake.remediate_by_runbook"]
    assert story.execution()["status"] == "succeeded"
    assert "poundcake.remediate_service_down" in story.refs()
    assert target.unit_state("svc-runbook") == "active"
    assert story.record()["remediation"]["workflow"] == "poundcake.remediate_service_down"


@pytest.mark.release
@pytest.mark.parametrize("runbook", ["run_anything", "no_such_runbook"])
def test_a_runbook_outside_the_allow_list_runs_nothing_and_escalates(alerting, target, runbook):
    alert = alerting.fire(
        "AppUnavailable",
        annotations={"automation_runbook": runbook},
        service="svc-x",
        auto_remediate="true",
    )
    story = alerting.story(alert)
    assert story.execution()["status"] == "failed"
    assert story.refs() == [
        "poundcake.record_alert",
        "poundcake.log_escalation",
        "poundcake.finish_remediation",
    ]
    (message,) = escalations(story)
    assert "no remediation run" in message
    expected = "is not allowed" if runbook == "run_anything" else "unknown runbook"
    assert expected in message
    note = story.record()["history"][-1]["note"]
    assert note.startswith("no remediation ran") and note.endswith("(escalated)")


def test_template_syntax_in_labels_is_inert(alerting, pack):
    """st2 renders Jinja in action parameters and Orquesta evaluates YAQL and
    Jinja in workflow input: alert text must reach neither as an expression."""
    alert = alerting.fire(
        "TemplateProbe",
        annotations={"summary": "<% ctx(st2) %>"},
        note="{{ st2kv.system.poundcake_webhook_token | decrypt_kv }}",
    )
    story = alerting.story(alert)
    record = story.recorded()
    assert record["state"] == "recorded"
    assert record["labels"]["note"] == "{ { st2kv.system.poundcake_webhook_token | decrypt_kv } }"
    assert pack["token"] not in json.dumps(record)
