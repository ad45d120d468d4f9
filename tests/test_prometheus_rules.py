"""The alerting rules for PoundCake itself (prometheus/), checked by the real promtool.

A missing promtool is a failure, not a skip: scripts/bootstrap installs it
(Debian's prometheus).
"""

import os
import re
import shutil
import subprocess

import pytest
import yaml
from pack_paths import PACK_DIR
from sensor_registry import sensor_registry

RULES_DIR = os.path.join(PACK_DIR, "prometheus")
RULES = os.path.join(RULES_DIR, "poundcake-rules.yml")
RULE_TESTS = os.path.join(RULES_DIR, "poundcake-rules.test.yml")
# PromQL names a metric by its exposed name: counters end in _total,
# histograms in _bucket, _sum and _count.
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def promtool(*args):
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool not found: install Debian's prometheus (scripts/bootstrap does)")
    done = subprocess.run(
        [binary, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def alerting_rules():
    with open(RULES) as fp:
        groups = yaml.safe_load(fp)["groups"]
    assert [g["name"] for g in groups] == ["poundcake"]
    return groups[0]["rules"]


def test_promtool_accepts_the_rules_file():
    out = promtool("check", "rules", os.path.basename(RULES))
    assert f"SUCCESS: {len(alerting_rules())} rules found" in out


def test_promtool_unit_tests_of_the_rules_pass():
    assert "SUCCESS" in promtool("test", "rules", os.path.basename(RULE_TESTS))


def test_every_alert_is_tested_firing_and_silent():
    with open(RULE_TESTS) as fp:
        cases = [c for t in yaml.safe_load(fp)["tests"] for c in t["alert_rule_test"]]
    for rule in alerting_rules():
        name = rule["alert"]
        expected = [c["exp_alerts"] for c in cases if c["alertname"] == name]
        assert any(expected), f"{name}: no test in which it fires"
        assert not all(expected), f"{name}: no test in which it stays silent"


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook():
    with open(os.path.join(PACK_DIR, "README.md")) as fp:
        readme = fp.read()
    headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", readme, re.M)}
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["runbook_url"].split("#")[1] in headings, name
        assert f"`{name}`" in readme, f"alert {name} is not in the README"


def test_the_rules_name_only_metrics_the_sensor_serves():
    """A renamed or removed metric breaks the alert that reads it: fail here."""
    served = set()
    for family in sensor_registry().collect():
        served.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    named = set()
    for rule in alerting_rules():
        named.update(re.findall(r"\bpoundcake_\w+", rule["expr"]))
    assert len(named) >= 9, named
    assert named <= served, f"not served by the sensor: {sorted(named - served)}"


def _anchor(heading):
    """GitHub's anchor for a README heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
