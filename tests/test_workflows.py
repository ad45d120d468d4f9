"""Every workflow, checked by Orquesta and driven through its conductor.

The pack's Python actions run for real; core.remote/core.local are answered
by a scripted shell that records every command, so a test can prove what
would and would not have run on a host.
"""

import json
import os

import pytest
from orquesta import statuses
from orquesta_harness import WORKFLOWS_DIR, inspect, remote_result, run_workflow, shell_output
from pack_actions import BASE_CONFIG, ActionHandler, action_metadata

TRACKING_ID = "37bb06284ad968e0-20261123T083600.672713243Z"
HOSTILE = ["nginx; touch /tmp/pwned", "$(reboot)", "`id`", "a\nb"]


class Shell:
    """Scripted hosts: ``fail`` names tasks whose command exits non-zero."""

    def __init__(self, fail=(), stdout=None):
        self.fail = set(fail)
        self.stdout = stdout or {}
        self.commands = []

    def __call__(self, call):
        self.commands.append((call.task, call.params["cmd"]))
        host = call.params.get("hosts", "")
        out = self.stdout.get(call.task, "")
        if callable(out):
            out = out()
        if call.action == "core.local":
            ok = call.task not in self.fail
            status = statuses.SUCCEEDED if ok else statuses.FAILED
            return status, {
                "stdout": shell_output(out),
                "stderr": "",
                "return_code": 0 if ok else 1,
            }
        return remote_result(host, out, 1 if call.task in self.fail else 0)


def inputs(labels=None, dry_run=False, host="web-1:9100", **extra):
    alert_labels = {"alertname": "X", "severity": "critical", "service": "nginx"}
    alert_labels.update(labels or {})
    values = {
        "tracking_id": TRACKING_ID,
        "host": host,
        "alert": {"alertname": alert_labels["alertname"], "labels": alert_labels},
        "dry_run": dry_run,
        "escalation_action": "poundcake.log_escalation",
        "ssh_user": "stanley",
        "command_timeout": 60,
    }
    values.update(extra)
    return values


def run(name, shell, config=None, **kw):
    """Run action ``name``'s workflow as st2 would: its metadata's defaults
    (fixed ones such as ``resource`` too), then the inputs."""
    handler = ActionHandler({**BASE_CONFIG, **(config or {})}, shell)
    meta = action_metadata(name)
    values = {
        k: v["default"]
        for k, v in meta["parameters"].items()
        if "default" in v and "config_context" not in str(v["default"])
    }
    values.update(handler.rendered_defaults(meta))
    values.update(inputs(**kw))
    return run_workflow(os.path.basename(meta["entry_point"]), values, handler)


def escalation_messages(result):
    return [c.params["message"] for c in result.calls_to("poundcake.log_escalation")]


@pytest.mark.parametrize("name", sorted(os.listdir(WORKFLOWS_DIR)))
def test_every_workflow_passes_orquesta_inspection(name):
    assert inspect(name) == {}


# ----------------------------------------------------------- service down
def test_service_down_success_restarts_and_verifies():
    shell = Shell()
    result = run("remediate_service_down", shell)
    assert result.status == statuses.SUCCEEDED
    assert result.tasks() == ["validate", "diagnose", "act", "verify"]
    assert [c for _, c in shell.commands][1:] == [
        "systemctl restart -- nginx.service",
        "systemctl is-active --quiet -- nginx.service",
    ]
    (restart,) = result.calls_to("core.remote_sudo")  # core.remote refuses sudo: true
    assert restart.params["hosts"] == "web-1"
    assert result.output["outcome"] == "remediated: nginx.service restarted and active on web-1"
    assert escalation_messages(result) == []


def test_service_down_restart_failure_escalates_and_fails():
    result = run("remediate_service_down", Shell(fail={"act"}))
    assert result.status == statuses.FAILED
    assert result.tasks() == ["validate", "diagnose", "act", "escalate"]
    (message,) = escalation_messages(result)
    assert "restart of nginx.service on web-1 failed" in message
    assert TRACKING_ID in message and "5f0000000000000000000042" in message


def test_service_down_verify_failure_retries_then_escalates():
    result = run("remediate_service_down", Shell(fail={"verify"}))
    assert result.status == statuses.FAILED
    assert result.tasks().count("verify") == 4  # the first try and 3 retries
    assert "verification failed: nginx.service is not active" in escalation_messages(result)[0]


def test_service_down_flaky_verify_recovers_on_retry():
    answers = iter([1, 0])

    class Flaky(Shell):
        def __call__(self, call):
            if call.task == "verify":
                self.commands.append((call.task, call.params["cmd"]))
                return remote_result("web-1", "", next(answers))
            return super().__call__(call)

    result = run("remediate_service_down", Flaky())
    assert result.status == statuses.SUCCEEDED
    assert result.tasks().count("verify") == 2


def test_service_down_dry_run_diagnoses_only():
    shell = Shell(stdout={"diagnose": "nginx.service - failed"})
    result = run("remediate_service_down", shell, dry_run=True)
    assert result.status == statuses.SUCCEEDED
    assert result.tasks() == ["validate", "diagnose"]
    assert result.output["findings"] == "nginx.service - failed"
    assert result.output["outcome"] == "dry run: would restart nginx.service on web-1"
    assert all(task == "diagnose" for task, _ in shell.commands)


@pytest.mark.parametrize("value", HOSTILE)
def test_service_down_hostile_label_runs_nothing(value):
    shell = Shell()
    result = run("remediate_service_down", shell, labels={"service": value})
    assert result.status == statuses.FAILED
    assert shell.commands == []
    assert result.tasks() == ["validate", "escalate"]
    assert "rejected input, nothing was run" in result.output["failure"]


def test_hostile_host_runs_nothing():
    shell = Shell()
    result = run("remediate_service_down", shell, host="web-1;reboot")
    assert result.status == statuses.FAILED
    assert shell.commands == []


# ----------------------------------------------------------- cpu and memory
@pytest.mark.parametrize("name", ["remediate_high_cpu", "remediate_high_memory"])
def test_resource_success_restarts_named_service(name):
    shell = Shell(stdout={"diagnose": "PID USER %CPU"})
    result = run(name, shell)
    assert result.status == statuses.SUCCEEDED
    assert result.tasks() == ["validate", "diagnose", "act", "verify"]
    sort = "--sort=-pcpu" if name == "remediate_high_cpu" else "--sort=-rss"
    assert sort in shell.commands[0][1]
    assert result.output["findings"] == "PID USER %CPU"


@pytest.mark.parametrize("name", ["remediate_high_cpu", "remediate_high_memory"])
def test_resource_without_service_or_low_severity_only_diagnoses(name):
    for labels in ({"service": ""}, {"severity": "warning"}):
        shell = Shell()
        result = run(name, shell, labels=labels)
        assert result.status == statuses.SUCCEEDED
        assert result.tasks() == ["validate", "diagnose"]
        assert result.output["outcome"].startswith("diagnosed only")


@pytest.mark.parametrize("name", ["remediate_high_cpu", "remediate_high_memory"])
@pytest.mark.parametrize("failing", ["act", "verify"])
def test_resource_failures_escalate(name, failing):
    result = run(name, Shell(fail={failing}))
    assert result.status == statuses.FAILED
    assert result.tasks()[-1] == "escalate"
    assert f"PoundCake {name} failed" in escalation_messages(result)[0]


@pytest.mark.parametrize("name", ["remediate_high_cpu", "remediate_high_memory"])
def test_resource_dry_run_and_hostile_input(name):
    dry = run(name, Shell(), dry_run=True)
    assert dry.tasks() == ["validate", "diagnose"]
    assert dry.output["outcome"] == "dry run: would restart nginx.service on web-1"
    shell = Shell()
    hostile = run(name, shell, labels={"service": "$(reboot)"})
    assert hostile.status == statuses.FAILED and shell.commands == []


# ----------------------------------------------------------- disk space
DISK_CONFIG = {"disk_cleanup_paths": [{"path": "/var/log/app", "older_than_days": 14}]}


def disk_shell(before="1000", after="5000", fail=()):
    values = iter([before, after])
    return Shell(
        fail=fail,
        stdout={
            "measure_before": lambda: next(values),
            "measure_after": lambda: next(values),
            "diagnose": "900 /var/log",
        },
    )


def test_disk_success_cleans_configured_targets_and_verifies():
    shell = disk_shell()
    result = run("remediate_disk_space", shell, config=DISK_CONFIG, labels={"mountpoint": "/var"})
    assert result.status == statuses.SUCCEEDED
    assert result.tasks() == [
        "validate",
        "measure_before",
        "diagnose",
        "vacuum_journal",
        "clean_old_files",
        "measure_after",
    ]
    commands = dict(shell.commands)
    assert commands["vacuum_journal"] == "journalctl --vacuum-size=500M"
    assert (
        commands["clean_old_files"]
        == "if m=$(stat -c %d -- /var) && p=$(stat -c %d -- /var/log/app 2>/dev/null) && "
        '[ "$p" = "$m" ]; then find /var/log/app -xdev -type f -mtime +14 -print -delete; '
        "else echo 'skipped /var/log/app: not on the filesystem of /var'; fi"
    )
    assert commands["diagnose"].startswith("timeout -k 5 20 du -x -k -d 1 -- /var ")
    assert commands["measure_before"].startswith("df -P -k -- /var ")
    assert result.output["free_kb_before"] == 1000
    assert result.output["free_kb_after"] == 5000


def test_disk_without_cleanup_paths_only_vacuums():
    result = run("remediate_disk_space", disk_shell())
    assert result.status == statuses.SUCCEEDED
    assert "clean_old_files" not in result.tasks()


def test_disk_verify_failure_when_space_did_not_rise():
    result = run("remediate_disk_space", disk_shell(before="1000", after="900"))
    assert result.status == statuses.FAILED
    assert "free space on / did not rise" in escalation_messages(result)[0]


def test_disk_act_failure_escalates():
    result = run("remediate_disk_space", disk_shell(fail={"vacuum_journal"}))
    assert result.status == statuses.FAILED
    assert "journal vacuum failed" in escalation_messages(result)[0]


def test_disk_dry_run_changes_nothing():
    shell = disk_shell()
    result = run("remediate_disk_space", shell, config=DISK_CONFIG, dry_run=True)
    assert result.status == statuses.SUCCEEDED
    assert [t for t, _ in shell.commands] == ["measure_before", "diagnose"]
    assert "would vacuum the journal to 500M" in result.output["outcome"]


@pytest.mark.parametrize("mountpoint", ["/var; reboot", "/$(id)", "/../etc"])
def test_disk_hostile_mountpoint_runs_nothing(mountpoint):
    shell = disk_shell()
    result = run("remediate_disk_space", shell, labels={"mountpoint": mountpoint})
    assert result.status == statuses.FAILED and shell.commands == []


# ----------------------------------------------------------- host down
def host_run(shell, **kw):
    return run("remediate_host_down", shell, check_port=22, **kw)


@pytest.mark.parametrize("host, port", [("web-1:9100", 9100), ("web-1", 22)])
def test_host_down_unreachable_escalates_and_fails(host, port):
    """The instance label's port (the exporter's) is probed, else host_check_port."""
    shell = Shell(fail={"ping", "check_port"})
    result = host_run(shell, host=host)
    assert result.status == statuses.FAILED
    assert [c for _, c in shell.commands] == [
        "ping -c 3 -W 2 web-1",
        f"timeout 5 bash -c ': < /dev/tcp/web-1/{port}'",
    ]
    assert "host unreachable from st2" in escalation_messages(result)[0]


def test_host_down_reachable_notifies_and_never_acts():
    result = host_run(Shell(fail={"ping"}))
    assert result.status == statuses.SUCCEEDED
    assert result.tasks()[-1] == "notify"
    assert "reachable from st2" in escalation_messages(result)[0]
    assert result.calls_to("core.remote") == []


def test_host_down_dry_run_does_not_notify():
    result = host_run(Shell(fail={"ping", "check_port"}), dry_run=True)
    assert result.status == statuses.SUCCEEDED
    assert escalation_messages(result) == []


def test_host_down_hostile_host_runs_nothing():
    shell = Shell()
    result = host_run(shell, host="$(reboot)")
    assert result.status == statuses.FAILED and shell.commands == []


# ----------------------------------------------------------- routing
def gate_inputs(**kw):
    values = inputs()
    for key in ("ssh_user", "command_timeout"):
        values.pop(key)
    values.update(kw)
    return values


def test_gate_runs_the_chosen_workflow():
    handler = ActionHandler(BASE_CONFIG, Shell())
    result = run_workflow(
        "remediate.yaml", gate_inputs(workflow="poundcake.remediate_service_down"), handler
    )
    assert result.status == statuses.SUCCEEDED
    assert result.output["remediation"] == "poundcake.remediate_service_down"
    assert handler.subruns[0].output["outcome"].startswith("remediated")


def test_gate_passes_up_that_the_child_escalated():
    handler = ActionHandler(BASE_CONFIG, Shell(fail={"ping", "check_port"}))
    result = run_workflow(
        "remediate.yaml", gate_inputs(workflow="poundcake.remediate_host_down"), handler
    )
    assert result.status == statuses.FAILED
    assert result.output["escalated"] is True
    assert len(escalation_messages(handler.subruns[0])) == 1
    assert escalation_messages(result) == []


def test_gate_fails_without_output_when_st2_refuses_the_child():
    handler = ActionHandler(BASE_CONFIG, Shell())
    result = run_workflow("remediate.yaml", gate_inputs(workflow="poundcake.get_alert"), handler)
    assert result.status == statuses.FAILED and handler.subruns == []
    assert any("Additional properties" in e["message"] for e in result.errors)


@pytest.mark.parametrize("kw", [{"runbook": "wipe_disks"}, {"workflow": "core.local"}])
def test_unknown_or_unlisted_remediation_is_unrouted_runs_nothing_and_escalates(kw):
    from pack_actions import shared_datastore

    shell = Shell()
    handler = ActionHandler(BASE_CONFIG, shell, shared_datastore())
    alert = {"alertname": "X", "tracking_id": TRACKING_ID, "fingerprint": "37bb06284ad968e0"}
    alert["labels"] = {"alertname": "X", "instance": "web-1"}
    params = {**gate_inputs(alert=alert), "workflow": None, "runbook": None, **kw}
    result = run_workflow("process_alert.yaml", params, handler)
    assert result.status == statuses.FAILED
    assert result.tasks() == ["record", "escalate_refusal", "finish"]
    assert handler.subruns == [] and shell.commands == []
    assert "is unrouted: no remediation run" in escalation_messages(result)[0]
    stored = handler.datastore.get_value(f"poundcake.incident.{TRACKING_ID}", local=False)
    assert json.loads(stored)["state"] == "unrouted"


# ------------------------------------------------------ act only when needed
def test_service_down_leaves_an_active_unit_alone_as_nothing_to_do():
    shell = Shell(stdout={"diagnose": "active\n* nginx.service\n     Active: active (running)"})
    result = run("remediate_service_down", shell)
    assert result.status == statuses.SUCCEEDED
    assert [task for task, _ in shell.commands] == ["diagnose"]
    assert result.output["state"] == "nothing_to_do"
    assert result.output["outcome"].startswith("nothing to do: nginx.service is active on web-1")


def test_service_down_restarts_an_active_unit_when_configured():
    shell = Shell(stdout={"diagnose": "active\n"})
    result = run("remediate_service_down", shell, config={"restart_when_active": True})
    assert result.status == statuses.SUCCEEDED
    assert [task for task, _ in shell.commands] == ["diagnose", "act", "verify"]
    assert result.output["state"] == "remediated"


@pytest.mark.parametrize("name", ["remediate_high_cpu", "remediate_high_memory"])
def test_a_resource_alert_without_a_service_ends_diagnosed(name):
    result = run(name, Shell(), labels={"service": ""})
    assert result.output["state"] == "diagnosed"
    ok = run(name, Shell())
    assert ok.output["state"] == "remediated"


def test_high_cpu_and_high_memory_share_one_definition():
    cpu, memory = action_metadata("remediate_high_cpu"), action_metadata("remediate_high_memory")
    assert cpu["entry_point"] == memory["entry_point"] == "workflows/resource_pressure.yaml"
    assert cpu["parameters"]["resource"]["immutable"] is True
    assert (
        cpu["parameters"]["resource"]["default"],
        memory["parameters"]["resource"]["default"],
    ) == (
        "cpu",
        "memory",
    )


# Workflows st2 runs as a child of another: process_alert and announce_approval
# are started by rules, every other one by a parent workflow.
TOP_LEVEL = {"process_alert.yaml", "announce_approval.yaml"}


@pytest.mark.parametrize("name", sorted(set(os.listdir(WORKFLOWS_DIR)) - TOP_LEVEL))
def test_no_child_workflow_can_end_on_an_action_less_task(name):
    """st2 completes an action-less task with publish=False (request_task_execution
    in st2common/services/workflows.py), so a child workflow that ends on one
    never tells its parent: the parent stays running for ever (seen on the kit)."""
    import yaml

    with open(os.path.join(WORKFLOWS_DIR, name)) as fp:
        tasks = yaml.safe_load(fp)["tasks"]
    for task_name, task in tasks.items():
        if "action" in task:
            continue
        transitions = task.get("next") or [{}]
        assert all(t.get("do") for t in transitions), f"{name}: {task_name} can end the workflow"
