"""Every remediation workflow, run by real st2 over SSH against the target.

Each test fires a real alert through Alertmanager, then reads st2's own
records and the target's shim log: what ran, as whom, and what the incident
record says.
"""

import os

import pytest
from conftest import record_timing

REMEDIATE = "poundcake.remediate"


def escalations(story):
    return [e["parameters"]["message"] for e in story.of("poundcake.log_escalation")]


def assert_traced(story, rule):
    """The operator's view: one trace for the tracking id, holding the
    trigger instance, the rule and every execution of the tree."""
    traced = story.traced()
    assert traced["trigger_instances"] == [story.trigger_instance["id"]]
    assert rule in [r for r in story.rules()]
    (enforcement,) = story.enforcements()
    tree = {e["id"] for e in story.tree()} | {enforcement["execution_id"]}
    assert tree <= set(traced["action_executions"]), "executions missing from the trace"


@pytest.mark.release
def test_service_down_restarts_the_unit_as_root_and_verifies(alerting, target):
    target.unit("svc-ok", "failed")
    alert = alerting.fire("ServiceDown", service="svc-ok", auto_remediate="true")
    story = alerting.story(alert)
    assert story.rules() == ["poundcake.remediate_service_down"]
    assert story.execution()["status"] == "succeeded"
    assert target.unit_state("svc-ok") == "active"
    calls = [(c["args"][0], c["uid"]) for c in target.calls("svc-ok", alert.posted_at)]
    user = calls[0][1]
    assert calls == [("is-active", user), ("status", user), ("restart", 0), ("is-active", user)]
    assert calls[0][1] != 0, "diagnosis must not run as root"
    assert story.refs().count("core.remote_sudo") == 1
    record = story.record()
    assert record["state"] == "remediated"
    assert record["remediation"]["workflow"] == "poundcake.remediate_service_down"
    assert escalations(story) == []
    assert_traced(story, "poundcake.remediate_service_down")
    record_timing("remediate_service_down", story, "poundcake.remediate_service_down")


def test_failed_restart_escalates_with_the_reason(alerting, target):
    target.unit("svc-broken", "failed", restart="fail")
    alert = alerting.fire("ServiceDown", service="svc-broken", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "failed"
    (message,) = escalations(story)
    assert "restart of svc-broken.service on localhost failed" in message
    assert story.tracking_id in message
    record = story.record()
    assert record["state"] == "failed"
    assert record["remediation"]["escalated"] is True
    assert record["history"][-1]["note"].endswith("(escalated)")
    record_timing(
        "remediate_service_down (restart fails)", story, "poundcake.remediate_service_down"
    )


def test_slow_restart_is_waited_for(alerting, target):
    target.unit("svc-slow", "failed", restart="slow:8")
    alert = alerting.fire("ServiceDown", service="svc-slow", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    assert target.unit_state("svc-slow") == "active"
    figures = record_timing(
        "remediate_service_down (8 s restart)", story, "poundcake.remediate_service_down"
    )
    assert figures["sensor_to_end"] - figures["sensor_to_start"] >= 8


@pytest.mark.release
@pytest.mark.parametrize("alertname", ["HighCPU", "HighMemory"])
def test_resource_alert_diagnoses_then_restarts_the_named_service(alerting, target, alertname):
    unit = f"svc-{alertname.lower()}"
    target.unit(unit, "active")
    alert = alerting.fire(alertname, service=unit, auto_remediate="true")
    story = alerting.story(alert)
    ref = f"poundcake.remediate_{alertname.lower().replace('high', 'high_')}"
    assert story.rules() == [ref]
    assert story.execution()["status"] == "succeeded"
    assert [c["args"][0] for c in target.calls(unit, alert.posted_at)] == ["restart", "is-active"]
    (diagnosis,) = [e for e in story.of("core.remote") if "ps -eo" in e["parameters"]["cmd"]]
    assert diagnosis["status"] == "succeeded"
    assert story.record()["state"] == "remediated"
    record_timing(ref.split(".")[1], story, ref)


@pytest.mark.release
def test_disk_space_deletes_only_old_files_in_the_configured_path(alerting, target):
    area = target.disk_area("main")
    before = sorted(os.listdir(area["cleanup"]))
    alert = alerting.fire("DiskSpaceLow", mountpoint=area["root"], auto_remediate="true")
    story = alerting.story(alert)
    assert story.rules() == ["poundcake.remediate_disk_space"]
    execution = story.execution()
    assert execution["status"] == "succeeded", execution["result"]
    assert sorted(os.listdir(area["cleanup"])) == ["new.log"], before
    assert os.listdir(area["keep"]) == ["old-elsewhere.log"]
    (vacuum,) = [c for c in target.calls(since=alert.posted_at) if c["tool"] == "journalctl"]
    assert vacuum["args"] == ["--vacuum-size=100M"] and vacuum["uid"] == 0
    (output,) = [e for e in story.of("poundcake.remediate_disk_space")]
    assert (
        output["result"]["output"]["free_kb_after"] > output["result"]["output"]["free_kb_before"]
    )
    record_timing("remediate_disk_space", story, "poundcake.remediate_disk_space")


@pytest.mark.release
def test_host_down_probes_the_exporter_port_open_and_closed(
    alerting, target, configure, open_port, closed_port
):
    configure(allowed_hosts=["localhost", "127.0.0.1"])  # the ports listen on 127.0.0.1
    results = {}
    for name, port in (("open", open_port), ("closed", closed_port)):
        alert = alerting.fire("HostDown", instance=f"127.0.0.1:{port}", auto_remediate="true")
        story = alerting.story(alert)
        assert story.rules() == ["poundcake.remediate_host_down"]
        execution = story.execution()
        (workflow,) = story.of("poundcake.remediate_host_down")
        results[name] = (execution, workflow["result"]["output"], story)
    _, opened, story = results["open"]
    assert opened["port_ok"] is True and results["open"][0]["status"] == "succeeded"
    assert "reachable from st2" in opened["outcome"]
    assert [m for m in escalations(story) if "nothing was changed" in m]  # the notification
    record_timing("remediate_host_down (port open)", story, "poundcake.remediate_host_down")
    execution, closed, story = results["closed"]
    assert closed["port_ok"] is False
    if closed["ping_ok"]:  # this st2 host can ping the target: reachable, notified
        assert execution["status"] == "succeeded"
    else:
        assert execution["status"] == "failed"
        assert any("host unreachable from st2" in m for m in escalations(story))
    record_timing("remediate_host_down (port closed)", story, "poundcake.remediate_host_down")
