"""Cleared, not just acted, on real st2 with a real Prometheus: a rule fires on a
real process the shim stops; the incident ends resolved when the restart brings
it back, and not_cleared (escalated) when the restart does not help."""

from __future__ import annotations

import shutil
import sys

import pytest
from processes import PrometheusProcess, free_port
from st2 import wait_until
from story import new_case


def rule(job: str, unit: str, case: str):
    return {
        "alert": "ServiceDown",
        "expr": f'up{{job="{job}"}} == 0',
        "for": "2s",
        "labels": {
            "severity": "critical",
            "service": unit,
            "auto_remediate": "true",
            "case": case,
        },
        "annotations": {"summary": f"{unit} is down"},
    }


@pytest.fixture
def real_service(target, tmp_path):
    """A unit backed by a real process (python's http.server) on ``serve_port``;
    Prometheus scrapes ``scrape_port`` (the same one, unless a test wants the
    restart not to help)."""
    started = []

    def make(unit: str, serve_port: int):
        python = shutil.which("python3") or sys.executable
        argv = [python, "-m", "http.server", "--bind", "127.0.0.1", str(serve_port)]
        target.process_unit(unit, argv + ["--directory", str(tmp_path)])
        (tmp_path / "metrics").write_text("# TYPE up_probe gauge\nup_probe 1\n")
        assert target.systemctl("start", unit).returncode == 0
        started.append(unit)

    yield make
    for unit in started:
        target.systemctl("stop", unit)


def loop(alerting, configure, real_service, target, helps: bool):
    case = new_case("clear")
    unit = f"svc-{case}"
    port = free_port()
    real_service(unit, port if helps else free_port())
    prometheus = PrometheusProcess(
        case, [f"localhost:{port}"], [rule(case, unit, case)], alerting.am.url
    )
    # the unit that does not help runs (on another port), so it is restarted only
    # with restart_when_active; otherwise its record would say nothing_to_do
    configure(
        clear_timeout_seconds=25, prometheus_url=prometheus.url, restart_when_active=not helps
    )
    try:
        if helps:
            wait_until(
                lambda: any(t["health"] == "up" for t in prometheus.targets()), 30, "a scrape"
            )
            target.crash_unit(unit)
        firing = wait_until(
            lambda: [a for a in prometheus.alerts() if a["state"] == "firing"], 60, "firing"
        )
        return prometheus, firing[0], unit, case
    except BaseException:
        prometheus.close()
        raise


def story_of(alerting, st2, case: str):
    """The incident Prometheus' alert became (found by its case label)."""

    def found():
        for doc in st2.executions("poundcake.process_alert", limit=30):
            alert = doc["parameters"].get("alert") or {}
            if (alert.get("labels") or {}).get("case") == case:
                return doc
        return None

    return wait_until(found, 90, f"process_alert for {case}")


def test_a_restart_that_brings_the_service_back_ends_resolved(
    alerting, configure, real_service, target, st2
):
    prometheus, _, unit, case = loop(alerting, configure, real_service, target, helps=True)
    try:
        execution = story_of(alerting, st2, case)
        done = st2.wait_execution(execution["id"], 120)
        assert done["status"] == "succeeded", done.get("result")
        tracking_id = execution["parameters"]["tracking_id"]
        record = wait_until(
            lambda: (
                (r := st2.record(f"poundcake.incident.{tracking_id}"))
                and r["state"] == "resolved"
                and r
            ),
            90,
            "the incident resolved",
        )
        states = [h["state"] for h in record["history"]]
        assert "remediated" in states and states[-1] == "resolved"
        assert target.unit_pid(unit), "the restart brought a real process back"
        cleared = [h["note"] for h in record["history"] if "Prometheus at" in h["note"]]
        assert cleared or record.get("verification") is None  # resolve may come first
    finally:
        prometheus.close()


def test_a_restart_that_does_not_help_ends_not_cleared_and_escalates(
    alerting, configure, real_service, target, st2
):
    prometheus, _, unit, case = loop(alerting, configure, real_service, target, helps=False)
    try:
        execution = story_of(alerting, st2, case)
        done = st2.wait_execution(execution["id"], 180)
        assert done["status"] == "failed"
        tracking_id = execution["parameters"]["tracking_id"]
        record = st2.record(f"poundcake.incident.{tracking_id}")
        assert record["state"] == "not_cleared", record["reason"]
        assert "still firing 25 s after poundcake.remediate_service_down" in record["reason"]
        assert "still firing: 1 series" in record["reason"]  # Prometheus' own answer
        messages = [
            e["parameters"]["message"]
            for e in st2.executions("poundcake.log_escalation", limit=30)
            if tracking_id in e["parameters"]["message"]
        ]
        assert sum("is not_cleared" in m for m in messages) == 1, messages
        assert [h["state"] for h in record["history"]][-2:] == ["remediated", "not_cleared"]
    finally:
        prometheus.close()
