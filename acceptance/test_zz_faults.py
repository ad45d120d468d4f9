"""Nothing sticks, with two faults while a remediation runs on real st2: st2api
stopped, and the action runner killed with SIGKILL. Each record is closed
failed with why, and escalated once. (Last but one: these faults leave
executions behind in st2; the remediations run on 127.0.0.1, listed exactly,
so the orphans hold no slot of the localhost the other tests use.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import RIG, restart_sensor
from st2 import wait_until

pytestmark = pytest.mark.skipif(not RIG, reason="stopping st2's services needs the st2 kit (RIG)")


def rig(*args: str) -> None:
    subprocess.run([os.path.join(RIG, "rig.sh"), *args], check=True, capture_output=True)


def restarting(target, since, unit):
    return any(
        c["args"][:1] == ["restart"] and unit in c["args"][-1] for c in target.calls(since=since)
    )


def closed(st2, tracking_id, timeout):
    return wait_until(
        lambda: (
            (r := st2.record(f"poundcake.incident.{tracking_id}")) and r["state"] == "failed" and r
        ),
        timeout,
        f"{tracking_id} closed failed",
    )


def told(st2, tracking_id):
    return [
        e["parameters"]["message"]
        for e in st2.executions("poundcake.log_escalation", limit=50)
        if tracking_id in e["parameters"].get("message", "")
        and "closed" in e["parameters"]["message"]
    ]


def test_st2api_stopped_mid_remediation_leaves_no_record_remediating(
    alerting, target, configure, st2
):
    configure(allowed_hosts=["localhost", "127.0.0.1"])
    target.unit("svc-api-fault", "failed", restart="slow:12")
    alert = alerting.fire(
        "ServiceDown", instance="127.0.0.1:9100", service="svc-api-fault", auto_remediate="true"
    )
    since = alert.posted_at
    wait_until(lambda: restarting(target, since, "svc-api-fault"), 90, "the restart under way")
    rig("stop", "st2api")
    try:
        time.sleep(20)  # the restart ends; process_alert cannot record it and fails
    finally:
        rig("start", "st2api")
    story = alerting.story(alert)
    record = closed(st2, story.tracking_id, 240)
    assert "without recording how the remediation ended" in record["reason"], record["reason"]
    assert record["reason"].endswith("(escalated)")
    wait_until(lambda: told(st2, story.tracking_id), 60, "the escalation")
    assert len(told(st2, story.tracking_id)) == 1


def test_an_action_runner_killed_mid_remediation_leaves_no_record_remediating(
    alerting, target, configure, st2
):
    configure(allowed_hosts=["localhost", "127.0.0.1"], stuck_after_seconds=60)
    restart_sensor()  # it reads stuck_after_seconds at its start
    target.unit("svc-runner-fault", "failed", restart="slow:30")
    alert = alerting.fire(
        "ServiceDown", instance="127.0.0.1:9100", service="svc-runner-fault", auto_remediate="true"
    )
    wait_until(lambda: restarting(target, alert.posted_at, "svc-runner-fault"), 90, "the restart")
    with open(os.path.join(RIG, "run", "st2actionrunner.pid")) as fp:
        os.kill(int(fp.read().strip()), signal.SIGKILL)
    time.sleep(2)
    rig("start", "st2actionrunner")
    story = alerting.story(alert)
    record = closed(st2, story.tracking_id, 240)
    assert "longer than any remediation can take" in record["reason"], record["reason"]
    wait_until(lambda: told(st2, story.tracking_id), 60, "the escalation")
    assert len(told(st2, story.tracking_id)) == 1
    for execution in st2.executions("poundcake.process_alert", limit=20):
        if execution["parameters"].get("tracking_id") == story.tracking_id:
            st2.cli("execution", "cancel", execution["id"], as_json=False)  # the orphan
    configure(allowed_hosts=["localhost", "127.0.0.1"])  # the default stuck_after_seconds
    restart_sensor()
