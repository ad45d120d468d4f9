"""The acceptance suite's world: a real st2 with the pack installed, a real
Alertmanager in front of the pack's sensor, and an SSH target whose systemd
is a recording shim.

Which st2: the st2 kit when ``RIG`` is set (``scripts/acceptance`` builds and
starts it), else the one ``ST2_API_URL`` and ``ST2_AUTH_TOKEN``/``ST2_API_KEY``
name (see docs/acceptance.md, "On your own (staging) st2").
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(HERE, "lib"), os.path.join(PACK_DIR, "tests", "lib")]

import pack_install  # noqa: E402
from pack_install import BOARD_REF, TOKEN_REF, sensor_ready  # noqa: E402
from processes import AlertmanagerProcess  # noqa: E402
from st2 import St2, wait_until  # noqa: E402
from story import Alert, Story, new_case, stamp  # noqa: E402
from target import Target  # noqa: E402

RIG = os.environ.get("RIG")
WEBHOOK_URL = os.environ.get("POUNDCAKE_WEBHOOK_URL", "http://127.0.0.1:9180/webhook")
SHIPPED_ALERTNAMES = ("ServiceDown", "HighCPU", "HighMemory", "DiskSpaceLow", "HostDown")
TIMINGS: List[Dict[str, Any]] = []
FIGURES: List[str] = []  # other measured figures, one line each, for the summary


def base_config(target: Target) -> Dict[str, Any]:
    """The pack config the suite runs with (``st2 pack config`` would write the same)."""
    return {
        "listen_host": "127.0.0.1",
        "listen_port": int(WEBHOOK_URL.rsplit(":", 1)[1].split("/")[0]),
        "webhook_path": "/webhook",
        "max_body_bytes": 64 << 20,  # the benchmark's delivery of 10,000 alerts (about 11 MB)
        "bearer_token": TOKEN_REF,
        "ssh_user": target.ssh_user,
        # the loopback target is the st2 host itself: listed by exactly its name
        "allowed_hosts": [target.host],
        "rate_limit_remediations": 1000,  # the envelope tests lower these for themselves
        "max_hosts_in_flight": 50,
        "clear_timeout_seconds": 0,  # the clearance tests wait for their alert to clear
        "command_timeout": 30,
        "escalation_action": "poundcake.log_escalation",
        "runbooks": {
            "service_unavailable": "poundcake.remediate_service_down",
            "host_unreachable": "poundcake.remediate_host_down",
            "run_anything": "core.local",  # mapped, but not allow-listed
        },
        "allowed_actions": [],
        "allowed_services": [],
        "restart_severities": ["critical"],
        "journal_vacuum_size": "100M",
        "disk_cleanup_paths": [
            {"path": os.path.join(target.disk_dir, "main", "cleanup"), "older_than_days": 7}
        ],
        "host_check_port": 22,
        "on_resolve": "let_finish",
        "breaker_failures": 100,  # the breaker test lowers it for its own alertname
        "breaker_window_seconds": 3600,
        "observe_mode": False,
        "state_poll_seconds": 5,
        "escalation_repost_seconds": 10,  # the sensor re-posts open escalations that often
        "board_username": "sre",
        "board_password": BOARD_REF,
        "st2_web_url": "https://st2.acceptance.test",
    }


@pytest.fixture(scope="session")
def st2() -> St2:
    client = St2()
    client.ping()
    return client


@pytest.fixture(scope="session")
def target():
    tgt = Target(
        host=os.environ.get("ACCEPTANCE_TARGET_HOST", "localhost"),
        ssh_user=os.environ.get("ACCEPTANCE_SSH_USER", "stanley"),
        shim_dir=os.environ.get("ACCEPTANCE_SHIM_DIR", "/usr/local/bin"),
        # one per kit: two runs on one machine never share unit state or call logs
        work_dir=os.environ.get(
            "ACCEPTANCE_WORK_DIR",
            "/var/tmp/poundcake-acceptance" + (f"-{os.path.basename(RIG)}" if RIG else ""),
        ),
    )
    tgt.install()
    yield tgt
    tgt.uninstall()


def restart_sensor() -> None:
    """Restart st2's sensor container the way st2 does it (SIGTERM; it stops
    each sensor with SIGTERM and kills it 5 s later), then wait for the
    sensor to serve again."""
    if not RIG:
        pytest.skip("restarting st2's sensor container needs the st2 kit (RIG)")
    subprocess.run([os.path.join(RIG, "rig.sh"), "restart", "st2sensorcontainer"], check=True)
    wait_until(
        lambda: sensor_ready(WEBHOOK_URL),
        60,
        f"the poundcake sensor at {WEBHOOK_URL} after its restart",
    )


@pytest.fixture(scope="session")
def pack(st2: St2, target: Target) -> Dict[str, Any]:
    """The pack installed the way a user does it, configured with the token as
    an encrypted st2kv value, its sensor serving."""
    config = base_config(target)
    source = os.environ.get("ACCEPTANCE_PACK_SOURCE", f"file://{PACK_DIR}")
    secret = pack_install.install(st2, config, WEBHOOK_URL, RIG, source)
    for alertname in SHIPPED_ALERTNAMES:  # a rerun on the same st2 starts with closed breakers
        assert st2.run("poundcake.reset_breaker", alertname=alertname)["status"] == "succeeded"
    return {**secret, "config": config}


@pytest.fixture
def configure(st2: St2, pack: Dict[str, Any]) -> Callable[..., None]:
    """Change pack config keys for one test (actions read the config at each run)."""
    changed = []

    def apply(**overrides: Any) -> None:
        changed.append(overrides)
        st2.set_pack_config("poundcake", {**pack["config"], **overrides})

    yield apply
    if changed:
        st2.set_pack_config("poundcake", pack["config"])


def start_alertmanager(token: str, **kwargs: Any) -> AlertmanagerProcess:
    return AlertmanagerProcess(
        WEBHOOK_URL,
        {"authorization": {"type": "Bearer", "credentials": token}},
        group_by=("alertname", "instance", "case"),
        **kwargs,
    )


@pytest.fixture(scope="session")
def alertmanager(pack: Dict[str, Any]):
    am = start_alertmanager(pack["token"])
    yield am
    am.close()


SINCE = stamp(time.time() - 5)


class Alerting:
    """Fire and resolve alerts through Alertmanager; read their stories from st2."""

    def __init__(self, st2: St2, am: AlertmanagerProcess, target: Target) -> None:
        self.st2 = st2
        self.am = am
        self.target = target

    def fire(
        self,
        alertname: str,
        prefix: str = "",
        annotations: Optional[Dict[str, str]] = None,
        starts: Optional[float] = None,
        via: Optional[List[AlertmanagerProcess]] = None,
        **labels: str,
    ) -> Alert:
        case = labels.pop("case", None) or new_case(prefix or alertname.lower())
        all_labels = {
            "alertname": alertname,
            "instance": self.target.host,
            "severity": "critical",
            "case": case,
            **labels,
        }
        alert = Alert(case, all_labels, annotations or {"summary": case}, starts or time.time())
        for am in via or [self.am]:
            am.post_alerts([alert.body()])
        return alert

    def resolve(self, alert: Alert, via: Optional[List[AlertmanagerProcess]] = None) -> None:
        for am in via or [self.am]:
            am.post_alerts([alert.body(ends=time.time())])

    def story(self, alert: Alert, status: str = "firing", timeout: float = 60) -> Story:
        return Story(self.st2, alert, status, SINCE, timeout)


@pytest.fixture
def alerting(st2: St2, alertmanager: AlertmanagerProcess, target: Target) -> Alerting:
    return Alerting(st2, alertmanager, target)


@pytest.fixture
def open_port():
    """A port that accepts TCP connections on 127.0.0.1 while the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def record_timing(workflow: str, story: Story, ref: str) -> Dict[str, float]:
    figures = story.latency(ref)
    TIMINGS.append({"workflow": workflow, **figures})
    return figures


def pytest_terminal_summary(terminalreporter) -> None:
    write = terminalreporter.write_line
    for line in FIGURES:
        write(line)
    if not TIMINGS:
        return
    write("")
    write("alert -> remediation, seconds (from the sensor's dispatch | from the post to AM):")
    write(f"{'workflow':42} {'start':>14} {'end':>14}")
    for t in TIMINGS:
        write(
            f"{t['workflow']:42} {t['sensor_to_start']:6.1f} | {t['post_to_start']:5.1f} "
            f"{t['sensor_to_end']:6.1f} | {t['post_to_end']:5.1f}"
        )
    out = os.environ.get("ACCEPTANCE_TIMINGS_FILE")
    if out:
        with open(out, "w") as fp:
            json.dump(TIMINGS, fp, indent=1)
