"""The incident board at /ui: credentials, what it serves, and what a real
browser (Debian's headless Chromium) shows with records in place."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from pack_actions import open_window, shared_datastore
from pack_paths import PACK_DIR
from sensor_harness import running_sensor
from st2tests.base import BaseSensorTestCase
from webhook_client import request

from poundcake.incidents import apply, decide, finish, observe
from poundcake.state_store import BREAKER_OPEN, INCIDENT, StateStore, iso

BOARD = {"board_username": "sre", "board_password": "s3cret", "st2_web_url": "https://st2.test"}
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"
# The README's picture; a test run refreshes it only when asked to.
README_SCREENSHOT = os.path.join(PACK_DIR, "docs", "board.png")


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def board_datastore():
    """An hour of a small site: each state an incident can be in, a hostile
    label, an open breaker and an open maintenance window."""
    datastore = shared_datastore()
    store = StateStore(datastore)
    now = time.time()
    rows = [
        # alertname, instance, labels, minutes ago, how it went
        ("ServiceDown", "web-1:9100", {"service": "nginx"}, 52, "remediated"),
        ("DiskSpaceLow", "web-2:9100", {"mountpoint": "/var"}, 40, "failed"),
        ("HighCPU", "db-1:9100", {"service": HOSTILE}, 3, "dry_run"),
        ("ServiceDown", "web-3:9100", {"service": "nginx"}, 1, "remediating"),
        ("HostDown", "cache-1:9100", {}, 20, "skipped"),
        ("QueueBacklog", "mq-1:9100", {"queue": "jobs"}, 15, "recorded"),
    ]
    for i, (name, instance, labels, ago, how) in enumerate(rows):
        at = now - ago * 60
        severity = "warning" if name == "QueueBacklog" else "critical"
        payload = {
            "tracking_id": f"{i:016x}-20261123T0800{i:02d}Z",
            "fingerprint": f"{i:016x}",
            "alertname": name,
            "severity": severity,
            "instance": instance,
            "labels": {"alertname": name, "instance": instance, "severity": severity, **labels},
            "starts_at": "2026-11-23T08:00:00Z",
        }
        rec = observe(None, payload, at)
        kinds = {"ServiceDown": "service_down", "DiskSpaceLow": "disk_space", "HostDown": "x"}
        workflow = "poundcake.remediate_" + kinds.get(name, "high_cpu")
        requested = how not in ("recorded",)
        decision = decide(rec, requested, [], how == "skipped", at)
        apply(rec, decision, f"6b04{i:020x}", at, how == "dry_run", workflow)
        if how in ("remediated", "failed"):
            reason = "verification failed: free space did not rise" if how == "failed" else ""
            outcome = "succeeded" if how == "remediated" else "failed"
            finish(rec, outcome, workflow, at + 9, reason, how == "failed")
        store.put(INCIDENT + payload["tracking_id"], rec)
    store.put(
        BREAKER_OPEN + "HostDown",
        {"alertname": "HostDown", "opened_at": iso(now - 1200), "failures": 3},
    )
    open_window(datastore, "instance", "web-.*", "kernel upgrade", op="=~", minutes=90)
    return datastore


def wait_for_snapshot(port, headers):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = request(port, "GET", "/ui/state.json", headers=headers).json
        if state["generated_at"]:
            return state
        time.sleep(0.1)
    raise AssertionError("the board never got a read of the records")


class BoardTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_board_is_off_without_its_credentials(self):
        with running_sensor(self) as sensor:
            answer = request(sensor.server.address[1], "GET", "/ui")
        assert answer.status == 404 and "board_username" in answer.json["error"]

    def test_board_needs_its_own_credentials(self):
        with running_sensor(self, **BOARD) as sensor:
            port = sensor.server.address[1]
            missing = request(port, "GET", "/ui")
            wrong = request(port, "GET", "/ui/state.json", headers=basic("sre", "nope"))
            webhook_token = request(port, "GET", "/ui", headers={"Authorization": "Bearer tok-123"})
            page = request(port, "GET", "/ui", headers=basic("sre", "s3cret"))
        for answer in (missing, wrong, webhook_token):
            assert answer.status == 401
            assert answer.headers["www-authenticate"].startswith("Basic ")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert b"http" not in page.body.replace(b"http-equiv", b""), "no external asset"

    def test_state_comes_from_the_poll_with_links_to_st2(self):
        self.sensor_service._datastore_service = board_datastore()
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            state = wait_for_snapshot(sensor.server.address[1], basic("sre", "s3cret"))
        assert state["counts"]["total"] == 6
        assert state["counts"]["by_status"]["remediating"] == 2
        (hostile,) = [i for i in state["incidents"] if i["alertname"] == "HighCPU"]
        assert hostile["labels"]["service"] == HOSTILE  # raw in JSON; the page escapes it
        assert hostile["remediation"]["dry_run"] is True
        remediation = hostile["remediation"]
        assert remediation["workflow"] == "poundcake.remediate_high_cpu"
        link = f"https://st2.test/#/history/{remediation['execution_id']}/general"
        assert remediation["execution_url"] == link
        assert [b["alertname"] for b in state["breakers"]] == ["HostDown"]
        assert [s["reason"] for s in state["suppressions"]] == ["kernel upgrade"]


def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise RuntimeError("chromium not found: scripts/bootstrap installs Debian's chromium")
    return binary


def headless(binary, url, *extra):
    profile = tempfile.mkdtemp(prefix="poundcake-chromium-")
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=4000",
        *extra,
        url,
    ]
    # The sensor serves from this (eventlet-patched) process: wait green, or
    # the blocking wait would stop it from answering the browser.
    from eventlet.green import subprocess as green

    proc = green.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
        return subprocess.CompletedProcess(args, proc.returncode, out, err)
    finally:
        proc.kill() if proc.poll() is None else None
        shutil.rmtree(profile, ignore_errors=True)


class BoardInBrowserTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_a_browser_shows_incidents_windows_and_breakers_and_escapes_labels(self):
        binary = chromium()
        self.sensor_service._datastore_service = board_datastore()
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            port = sensor.server.address[1]
            wait_for_snapshot(port, basic("sre", "s3cret"))
            url = f"http://sre:s3cret@127.0.0.1:{port}/ui"
            dom = headless(binary, url, "--dump-dom").stdout
            shot_path = (
                README_SCREENSHOT
                if os.environ.get("POUNDCAKE_UPDATE_SCREENSHOT")
                else (os.path.join(tempfile.mkdtemp(), "board.png"))
            )
            shot = headless(binary, url, f"--screenshot={shot_path}", "--window-size=1400,760")
        assert "<title>PoundCake incident board</title>" in dom
        assert "pwned" not in dom.split("<title>")[1].split("</title>")[0]
        assert "&lt;img src=x onerror=" in dom  # the label shown as text
        assert "<img" not in dom
        for text in ("HighCPU", "QueueBacklog", "remediating", "remediated", "skipped", "dry run"):
            assert text in dom, text
        assert "(escalated)" in dom and "verification failed" in dom
        assert "kernel upgrade" in dom and "reset_breaker alertname=HostDown" in dom
        assert 'href="https://st2.test/#/history/6b04' in dom
        assert "records read" in dom
        assert shot.returncode == 0 and os.path.getsize(shot_path) > 10_000


@pytest.mark.parametrize("value", ["ftp://x", "javascript:alert(1)"])
def test_st2_web_url_must_be_http(value):
    from poundcake.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="st2_web_url"):
        load_settings({"bearer_token": "t", "st2_web_url": value})


def test_board_snapshot_is_json():
    from poundcake.board import Board

    board = Board("https://st2.test/")
    board.update([], [], [], 0)
    assert json.loads(json.dumps(board.snapshot()))["counts"]["total"] == 0
