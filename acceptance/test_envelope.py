"""The safety envelope on real st2: each refusal runs nothing on the target
(the shim's call log proves it), and the record and the escalation say why."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest
from st2 import wait_until
from story import FIRED_RULES
from test_remediation import escalations

# This machine's names and addresses, less the one allowed_hosts lists (the
# target, localhost; on some machines getfqdn() answers localhost too).
ST2_HOST_NAMES = {
    "127.0.0.1:9100",
    "127.0.1.1",
    "[::1]:9100",
    socket.gethostname(),
    socket.getfqdn(),
}


def forget_rates(st2):
    """Start the caps afresh: per alertname and per workflow (earlier tests'
    remediations of remediate_service_down count in the workflow's window)."""
    for kvp in st2.get("keys", prefix="poundcake.rate.", limit=100):
        st2.forget_key(kvp["name"])


def refused(story, target, since, state="refused"):
    story.execution()
    record = wait_until(
        lambda: (r := story.record()) and r["state"] == state and r,
        90,
        f"{story.tracking_id} recorded {state}",
    )
    assert "poundcake.remediate" not in story.refs(), "the door refused it"
    (message,) = escalations(story)
    assert state in message
    return record, message


@pytest.mark.release
def test_the_st2_host_is_refused_under_each_of_its_names_and_addresses(alerting, target):
    """allowed_hosts lists the loopback target as exactly 'localhost'; no other
    name or address of this machine gets through."""
    target.unit("svc-st2host", "failed")
    since = time.time()
    alerts = [
        alerting.fire("ServiceDown", instance=name, service="svc-st2host", auto_remediate="true")
        for name in sorted(ST2_HOST_NAMES - {target.host})
    ]
    for alert in alerts:
        record, _ = refused(alerting.story(alert), target, since)
        assert "st2 host itself" in record["reason"], record["reason"]
    assert target.calls("svc-st2host", since) == []
    assert target.unit_state("svc-st2host") == "failed"


@pytest.mark.release
@pytest.mark.parametrize(
    "service, words",
    [("reboot.target", "not a .service unit"), ("sshd", "deny-list"), ("st2api", "deny-list")],
)
def test_units_outside_the_scope_run_nothing(alerting, target, configure, service, words):
    configure(allowed_services=[service])  # the config cannot widen the deny-list
    since = time.time()
    alert = alerting.fire("ServiceDown", service=service, auto_remediate="true")
    record, message = refused(alerting.story(alert), target, since)
    assert words in record["reason"] and words in message
    assert target.calls(service.split(".")[0], since) == []


@pytest.mark.release
def test_the_kill_switch_key_refuses_without_a_reload(alerting, target, st2):
    target.unit("svc-killed", "failed")
    st2.cli("key", "set", "poundcake.remediation_enabled", "false", as_json=False)
    try:
        since = time.time()
        alert = alerting.fire("ServiceDown", service="svc-killed", auto_remediate="true")
        record, message = refused(alerting.story(alert), target, since)
        assert "kill switch" in record["reason"] and "kill switch" in message
    finally:
        st2.forget_key("poundcake.remediation_enabled")
    assert target.calls("svc-killed", since) == []
    after = alerting.fire("ServiceDown", service="svc-killed", auto_remediate="true")
    assert alerting.story(after).execution()["status"] == "succeeded"
    assert target.unit_state("svc-killed") == "active"


@pytest.mark.release
def test_an_operators_own_workflow_is_held_to_the_same_scope(alerting, target, configure):
    configure(allowed_actions=["core.local"], runbooks={"run_local": "core.local"})
    since = time.time()
    alert = alerting.fire(
        "AppUnavailable",
        annotations={"automation_runbook": "run_local"},
        instance="db-9.example.com:9100",
        auto_remediate="true",
    )
    story = alerting.story(alert)
    record, _ = refused(story, target, since)
    assert "not in allowed_hosts" in record["reason"]
    assert "core.local" not in story.refs()


def test_two_ports_of_one_host_are_remediated_one_at_a_time(alerting, target):
    target.unit("svc-port-a", "failed", restart="slow:4")
    target.unit("svc-port-b", "failed", restart="slow:4")
    a = alerting.fire(
        "ServiceDown", instance="localhost:9100", service="svc-port-a", auto_remediate="true"
    )
    b = alerting.fire(
        "ServiceDown", instance="LOCALHOST:9256", service="svc-port-b", auto_remediate="true"
    )
    for alert in (a, b):
        assert alerting.story(alert).execution()["status"] == "succeeded"
    restarts = sorted(
        c["at"] for c in target.calls(since=a.posted_at) if c["args"][:1] == ["restart"]
    )
    assert len(restarts) == 2
    assert restarts[1] - restarts[0] >= 3.5, f"restarts {restarts[1] - restarts[0]:.1f} s apart"


@pytest.mark.release
def test_a_burst_is_held_to_the_rate_and_blast_radius(alerting, target, configure, st2):
    """Five ServiceDowns at once on two hosts (localhost and 127.0.0.1, both
    listed exactly) with max_hosts_in_flight 1 and 3 a window: the shim never
    sees two hosts restarting at once, and one escalation says why."""
    forget_rates(st2)  # a window of our own
    configure(
        allowed_hosts=["localhost", "127.0.0.1"], max_hosts_in_flight=1, rate_limit_remediations=3
    )
    for i in range(5):
        target.unit(f"svc-burst-{i}", "failed", restart="slow:2")
    since = time.time()
    alerts = [
        alerting.fire(
            "ServiceDown",
            instance="localhost:9100" if i % 2 == 0 else "127.0.0.1:9100",
            service=f"svc-burst-{i}",
            auto_remediate="true",
        )
        for i in range(5)
    ]
    stories = [alerting.story(a) for a in alerts]
    for story in stories:
        story.execution()
    states = sorted(s.record()["state"] for s in stories)
    assert states.count("remediated") <= 3 and "rate_limited" in states, states
    restarts = [c for c in target.calls(since=since) if c["args"][:1] == ["restart"]]
    assert len(restarts) == states.count("remediated")
    messages = [m for s in stories for m in escalations(s)]
    assert sum("rate_limited" in m for m in messages) == 1, messages
    forget_rates(st2)


def _approval(story, timeout=60):
    return wait_until(
        lambda: ((story.record() or {}).get("approval") or {}).get("inquiry_id") and story.record(),
        timeout,
        f"the approval inquiry of {story.tracking_id}",
    )


def test_an_approved_remediation_runs_after_st2_inquiry_respond(alerting, target, configure, st2):
    configure(approval_required={"workflows": ["poundcake.remediate_service_down"]})
    target.unit("svc-approve", "failed")
    alert = alerting.fire("ServiceDown", service="svc-approve", auto_remediate="true")
    story = alerting.story(alert)
    record = _approval(story)
    assert record["state"] == "awaiting_approval"
    assert target.calls("svc-approve", alert.posted_at) == [], "nothing runs before the answer"
    command = record["approval"]["approve"]
    assert command.startswith("st2 inquiry respond ")
    wait_until(  # announce_approval tells people once it noted the inquiry
        lambda: any(
            command in e["parameters"]["message"]
            for e in st2.executions("poundcake.log_escalation", limit=20)
        ),
        60,
        "the announcement with the approve command",
    )
    inquiry = record["approval"]["inquiry_id"]
    # st2's own trigger (the inquiry appearing) fired rule announce_approval
    announced = st2.get("ruleenforcements", rule_ref="poundcake.announce_approval", limit=50)
    assert announced, "rule announce_approval was never enforced"
    FIRED_RULES.add("poundcake.announce_approval")
    answer = st2.cli(
        "inquiry", "respond", inquiry, "-r", json.dumps({"approved": True}), as_json=False
    )
    assert "Response accepted" in answer
    assert story.execution()["status"] == "succeeded"
    assert target.unit_state("svc-approve") == "active"
    assert story.record()["state"] == "remediated"


@pytest.mark.release
def test_an_unanswered_approval_times_out_without_an_st2_conf_change(alerting, target, configure):
    configure(
        approval_required={"workflows": ["poundcake.remediate_service_down"]},
        approval_timeout_seconds=5,
    )
    target.unit("svc-unanswered", "failed")
    alert = alerting.fire("ServiceDown", service="svc-unanswered", auto_remediate="true")
    story = alerting.story(alert)
    _approval(story)
    assert story.execution(timeout=120)["status"] == "failed"
    record = story.record()
    assert record["state"] == "not_approved" and "no answer within" in record["reason"]
    assert target.calls("svc-unanswered", alert.posted_at) == []
    assert any("not_approved" in m for m in escalations(story))


def test_a_disk_alert_leaves_another_filesystems_files_alone(alerting, target, configure, pack):
    area = target.disk_area("fs-main")
    other = os.path.join(target.disk_dir, "fs-other")
    os.makedirs(other, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", other], check=True)
    try:
        elsewhere = target.disk_area("fs-other")  # inside the tmpfs: another filesystem
        configure(
            disk_cleanup_paths=[
                {"path": area["cleanup"], "older_than_days": 7},
                {"path": elsewhere["cleanup"], "older_than_days": 7},
            ]
        )
        alert = alerting.fire("DiskSpaceLow", mountpoint=area["root"], auto_remediate="true")
        story = alerting.story(alert)
        assert story.execution()["status"] == "succeeded"
        assert sorted(os.listdir(area["cleanup"])) == ["new.log"]
        assert len(os.listdir(elsewhere["cleanup"])) == 4, "the other filesystem's old files stay"
    finally:
        subprocess.run(["umount", other], check=False)
