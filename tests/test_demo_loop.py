"""The whole-loop demo's parts that need no st2 (scripts/demo_loop.py): its
ServiceDown rule, checked and unit-tested by the real promtool, and its timeline."""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from pack_paths import PACK_DIR

sys.path.insert(0, os.path.join(PACK_DIR, "scripts"))

from demo_loop import JOB, UNIT, demo_config, format_timeline, service_down_rule  # noqa: E402


def promtool(folder, *args):
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: install Debian's prometheus (scripts/bootstrap does)")
    done = subprocess.run([binary, *args], cwd=folder, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_service_down_fires_after_two_failed_seconds_with_the_labels_the_pack_acts_on(tmp_path):
    with open(tmp_path / "rules.yml", "w") as fp:
        yaml.safe_dump({"groups": [{"name": JOB, "rules": [service_down_rule()]}]}, fp)
    assert "SUCCESS: 1 rules found" in promtool(tmp_path, "check", "rules", "rules.yml")
    series = f'up{{job="{JOB}", instance="localhost:8000"}}'
    labels = {
        "alertname": "ServiceDown",
        "job": JOB,
        "instance": "localhost:8000",
        "service": UNIT,
        "severity": "critical",
        "auto_remediate": "true",
    }
    fired = [
        {"exp_labels": labels, "exp_annotations": {"summary": f"{UNIT} is down on localhost:8000"}}
    ]
    cases = [
        {"eval_time": "2s", "alertname": "ServiceDown", "exp_alerts": []},  # pending (for: 2s)
        {"eval_time": "4s", "alertname": "ServiceDown", "exp_alerts": fired},
        {"eval_time": "6s", "alertname": "ServiceDown", "exp_alerts": []},  # up again
    ]
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [
            {
                "interval": "1s",
                "input_series": [{"series": series, "values": "1 1 0 0 0 0 1 1"}],
                "alert_rule_test": cases,
            }
        ],
    }
    with open(tmp_path / "rules.test.yml", "w") as fp:
        yaml.safe_dump(test, fp)
    assert "SUCCESS" in promtool(tmp_path, "test", "rules", "rules.test.yml")


def test_the_demo_config_allows_only_the_target_by_its_exact_name():
    config = demo_config("stanley", "localhost")
    assert config["allowed_hosts"] == ["localhost"]
    assert config["bearer_token"] == "{{ st2kv.system.poundcake_webhook_token }}"


def test_timeline_lists_each_event_in_time_order_in_seconds_from_the_kill():
    events = [
        ("dispatched", 104.75, "st2: poundcake.alert"),
        ("killed", 100.0, "SIGKILL"),
        ("fired", 101.84, "Prometheus"),
        ("resolved", 114.4, "st2: incident resolved_at"),
    ]
    assert format_timeline(events, 100.0).splitlines() == [
        "timeline (seconds from the kill):",
        "     +0.0 s  killed      SIGKILL",
        "     +1.8 s  fired       Prometheus",
        "     +4.8 s  dispatched  st2: poundcake.alert",
        "    +14.4 s  resolved    st2: incident resolved_at",
    ]
