"""The incident board at /ui: credentials, what it serves, its filters and
order, and what a real browser (Debian's headless Chromium) shows with a
small site's records and with a storm's worth of them in place."""

import json
import os
import tempfile
import time
from urllib.parse import quote

import pytest
from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from browser import Browser
from pack_actions import open_window, shared_datastore
from pack_paths import PACK_DIR
from sensor_harness import running_sensor
from st2tests.base import BaseSensorTestCase
from webhook_client import basic, request

from poundcake.board import Board, counts_note
from poundcake.incidents import Decision, apply, decide, finish, observe
from poundcake.queries import alert_stats
from poundcake.state_store import BREAKER_OPEN, INCIDENT, StateStore, iso

BOARD = {"board_username": "sre", "board_password": "s3cret", "st2_web_url": "https://st2.test"}
AUTH = basic("sre", "s3cret")
HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"
# The README's picture; a test run refreshes it only when asked to.
README_SCREENSHOT = os.path.join(PACK_DIR, "docs", "board.png")
WORKFLOWS = {"ServiceDown": "service_down", "DiskSpaceLow": "disk_space", "HostDown": "host_down"}
STORM_NOISE = 5000


def incident(i, name, instance, at, how, labels=None):
    """One incident's record as the pack's lifecycle writes it, ``how`` being
    the state it got to (``dry_run``: a dry run in flight; ``resolved_*``:
    resolved after a remediation or with none)."""
    severity = "warning" if how in ("recorded", "resolved_noise") else "critical"
    payload = {
        "tracking_id": f"{i:016x}-20261123T0800{i % 100:02d}Z",
        "fingerprint": f"{i:016x}",
        "alertname": name,
        "severity": severity,
        "instance": instance,
        "labels": {"alertname": name, "instance": instance, "severity": severity, **(labels or {})},
        "starts_at": iso(at),
    }
    rec = observe(None, payload, at)
    workflow = "poundcake.remediate_" + WORKFLOWS.get(name, "high_cpu")
    execution = f"6b04{i:020x}"
    if how in ("awaiting_approval", "refused", "rate_limited", "suppressed"):
        why = {
            "awaiting_approval": "approval required: production host",
            "refused": "out of scope, nothing was run: host db-2 is not in scope",
            "rate_limited": "blast radius: 3 hosts already in remediation",
            "suppressed": "suppressed by w-1 (alice: kernel upgrade)",
        }[how]
        apply(rec, Decision(False, how, why), execution, at)
        if how == "awaiting_approval":
            rec["approval"] = {"why": why, "asked_at": iso(at), "inquiry_id": f"5e11{i:020x}"}
        return rec
    if how == "resolved_noise":
        rec["state"] = "resolved"  # the resolve came first
    decision = decide(rec, how not in ("recorded", "resolved_noise"), [], how == "skipped", at)
    apply(rec, decision, execution, at, how == "dry_run", workflow)
    if how in ("remediated", "failed", "resolved_remediated"):
        failed = how == "failed"
        reason = "verification failed: free space did not rise" if failed else ""
        if how == "resolved_remediated":
            rec["state"] = "resolved"  # resolved while it ran
        finish(rec, "failed" if failed else "succeeded", workflow, at + 9, reason, failed)
    return rec


def stored(rows, now):
    """A datastore holding one record per row (alertname, instance, labels,
    minutes ago, how), an open breaker and an open maintenance window."""
    datastore = shared_datastore()
    store = StateStore(datastore)
    for i, (name, instance, labels, ago, how) in enumerate(rows):
        rec = incident(i, name, instance, now - ago * 60, how, labels)
        store.put(INCIDENT + rec["tracking_id"], rec)
    store.put(
        BREAKER_OPEN + "HostDown",
        {
            "alertname": "HostDown",
            "state": "open",
            "opened_at": iso(now - 1200),
            "failures": 3,
            "half_opens_at": "2026-11-23T09:15:00.000000Z",
        },
    )
    open_window(datastore, "instance", "web-.*", "kernel upgrade", op="=~", minutes=90)
    return datastore


def board_datastore():
    """An hour of a small site: each state an incident can be in, a hostile label."""
    return stored(
        [
            ("ServiceDown", "web-1:9100", {"service": "nginx"}, 52, "remediated"),
            ("DiskSpaceLow", "web-2:9100", {"mountpoint": "/var"}, 40, "failed"),
            ("HighCPU", "db-1:9100", {"service": HOSTILE}, 3, "dry_run"),
            ("ServiceDown", "web-3:9100", {"service": "nginx"}, 1, "remediating"),
            ("HostDown", "cache-1:9100", {}, 20, "skipped"),
            ("QueueBacklog", "mq-1:9100", {"queue": "jobs"}, 15, "recorded"),
        ],
        time.time(),
    )


# The storm's incidents PoundCake acted on or must act on, all older than its
# noise, in the order the board shows them.
STORM_ACTED = [
    ("ServiceDown", "web-3:9100", {"service": "nginx"}, 30, "awaiting_approval"),
    ("ServiceDown", "web-1:9100", {"service": "nginx"}, 25, "remediating"),
    ("ServiceDown", "web-2:9100", {"service": "nginx"}, 45, "remediating"),
    ("DiskSpaceLow", "db-1:9100", {"mountpoint": "/var"}, 40, "failed"),
    ("HighCPU", "db-2:9100", {}, 35, "refused"),
    ("ServiceDown", "web-5:9100", {"service": "nginx"}, 36, "rate_limited"),
    ("HostDown", "cache-1:9100", {}, 50, "skipped"),
    ("ServiceDown", "web-4:9100", {"service": "nginx"}, 55, "remediated"),
    ("DiskSpaceLow", "db-3:9100", {"mountpoint": "/srv"}, 58, "resolved_remediated"),
]
STORM_ORDER = [how.replace("resolved_remediated", "resolved") for *_, how in STORM_ACTED]


def storm_datastore():
    """10 minutes of a storm: 5,000 recorded alerts no rule remediates, newer
    than the handful PoundCake acted on, and older noise the view cannot hold."""
    older_noise = [
        ("NodeClockSkew", f"node-{k}:9100", {}, 70, how)
        for k, how in enumerate(["suppressed", "resolved_noise"] * 3)
    ]
    noise = [
        (
            "TargetDown" if k % 3 else "NodeFilesystemAlmostFull",
            f"node-{k}:9100",
            {},
            k / 600,
            "recorded",
        )
        for k in range(STORM_NOISE)
    ]
    return stored(STORM_ACTED + older_noise + noise, time.time())


def counted(store):
    """What alert_stats counts, less its window (the last 24 h: every incident here)."""
    stats = alert_stats(store)
    return {k: stats[k] for k in ("total", "by_status", "by_severity")}


def wait_for_snapshot(port, query=""):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = request(port, "GET", "/ui/state.json" + query, headers=AUTH).json
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
            page = request(port, "GET", "/ui?state=failed", headers=AUTH)
        for answer in (missing, wrong, webhook_token):
            assert answer.status == 401
            assert answer.headers["www-authenticate"].startswith("Basic ")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert b"http" not in page.body.replace(b"http-equiv", b""), "no external asset"

    def test_state_comes_from_the_poll_with_links_to_st2(self):
        datastore = board_datastore()
        self.sensor_service._datastore_service = datastore
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            state = wait_for_snapshot(sensor.server.address[1])
        assert state["counts"]["total"] == 6
        assert state["counts"]["by_status"]["remediating"] == 2
        (hostile,) = [i for i in state["incidents"] if i["alertname"] == "HighCPU"]
        assert hostile["labels"]["service"] == HOSTILE  # raw in JSON; the page escapes it
        assert hostile["remediation"]["dry_run"] is True
        remediation = hostile["remediation"]
        assert remediation["workflow"] == "poundcake.remediate_high_cpu"
        link = f"https://st2.test/#/history/{remediation['execution_id']}/general"
        assert remediation["execution_url"] == link
        assert hostile["executions"] == [
            {
                "id": remediation["execution_id"],
                "status": "running",
                "workflow": "",
                "started_at": remediation["started_at"],
                "finished_at": None,
                "url": link,
            }
        ]
        assert [h["state"] for h in hostile["history"]] == ["received", "remediating"]
        assert [b["alertname"] for b in state["breakers"]] == ["HostDown"]
        assert [s["reason"] for s in state["suppressions"]] == ["kernel upgrade"]
        # Under its limit the view holds every record, and counts as alert_stats does.
        groups = {"must act": 4, "acted": 1, "noted": 1}
        assert state["counts"] == {**counted(StateStore(datastore)), "by_group": groups}
        assert "Counts of the 6 incidents the sensor holds" in state["counts_note"]

    def test_in_a_storm_the_view_keeps_what_poundcake_acted_on_and_counts_say_so(self):
        datastore = storm_datastore()
        self.sensor_service._datastore_service = datastore
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            state = wait_for_snapshot(sensor.server.address[1])
        everything = counted(StateStore(datastore))
        assert everything["total"] == STORM_NOISE + len(STORM_ACTED) + 6
        counts = state["counts"]
        assert counts["total"] == STORM_NOISE, "the view's limit"
        assert counts["by_group"] == {"must act": 7, "acted": 2, "noted": STORM_NOISE - 9}
        # Every one acted on is held, so counted as alert_stats does; not so the noise.
        for acted in set(STORM_ORDER) - {"resolved"}:
            assert counts["by_status"][acted] == everything["by_status"][acted], acted
        for noted in ("recorded", "suppressed", "resolved"):
            assert counts["by_status"].get(noted, 0) < everything["by_status"][noted], noted
        assert state["counts_note"] == counts_note(STORM_NOISE, STORM_NOISE)
        assert "5,000 incidents the sensor holds, its limit" in state["counts_note"]
        assert state["matched"] == STORM_NOISE and len(state["incidents"]) == 200
        shown = [i["state"] for i in state["incidents"]]
        assert shown[: len(STORM_ORDER)] == STORM_ORDER
        assert set(shown[len(STORM_ORDER) :]) == {"recorded"}
        remediating = [i["instance"] for i in state["incidents"] if i["state"] == "remediating"]
        assert remediating == ["web-1:9100", "web-2:9100"], "newest first within a state"

    def test_state_json_filters_by_state_alertname_and_host(self):
        self.sensor_service._datastore_service = storm_datastore()
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            port = sensor.server.address[1]
            wait_for_snapshot(port)

            def shown(query):
                state = request(port, "GET", "/ui/state.json?" + query, headers=AUTH).json
                assert state["matched"] == len(state["incidents"]) or state["matched"] > 200
                return state, [
                    (i["alertname"], i["instance"], i["state"]) for i in state["incidents"]
                ]

            failed, rows = shown("state=failed")
            assert rows == [("DiskSpaceLow", "db-1:9100", "failed")]
            assert failed["filters"] == {"state": "failed"}
            assert failed["counts"]["total"] == STORM_NOISE, "counts stay those of the whole view"
            _, rows = shown("state=remediating&alertname=ServiceDown&host=web-2")
            assert rows == [("ServiceDown", "web-2:9100", "remediating")]
            _, rows = shown("host=WEB-2:9200")  # the machine, whatever the port
            assert rows == [("ServiceDown", "web-2:9100", "remediating")]
            _, rows = shown("alertname=ServiceDown")
            expected = ["awaiting_approval", "remediating", "remediating", "rate_limited"]
            assert [r[2] for r in rows] == expected + ["remediated"]
            recorded, _ = shown("state=recorded&alertname=NodeFilesystemAlmostFull")
            assert recorded["matched"] > 1000 and len(recorded["incidents"]) == 200
            _, rows = shown("state=&alertname=&host=node-7")
            assert rows == [("TargetDown", "node-7:9100", "recorded")]
            _, rows = shown("alertname=NoSuchAlert")
            assert rows == []

    def test_bad_filters_answer_400_with_the_reason(self):
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor:
            port = sensor.server.address[1]
            answers = {
                query: request(port, "GET", "/ui/state.json?" + query, headers=AUTH)
                for query in (
                    "state=bogus",
                    "status=failed",
                    "state=failed&state=remediating",
                    "host=" + quote("<img src=x>"),
                    "alertname=" + quote("a\nb"),
                    "alertname=" + "A" * 201,
                    "state=failed&&host=x",
                    "alertname=%ff",
                )
            }
        reasons = {query: answer.json["error"] for query, answer in answers.items()}
        assert all(answer.status == 400 for answer in answers.values()), reasons
        assert all(
            "default-src 'none'" in a.headers["content-security-policy"] for a in answers.values()
        )
        assert reasons["state=bogus"].startswith("state 'bogus' is not one of awaiting_approval, ")
        assert reasons["status=failed"] == (
            "unknown filter 'status': the board filters by state, alertname, host"
        )
        assert reasons["state=failed&state=remediating"] == (
            "filter state given twice: give each at most once"
        )
        assert reasons["host=%3Cimg%20src%3Dx%3E"] == (
            "host '<img src=x>' is not a hostname or IP address (optionally with :port)"
        )
        assert reasons["alertname=a%0Ab"] == "alertname must be 1-200 printable characters"
        assert reasons["state=failed&&host=x"].startswith("unreadable query string")
        assert reasons["alertname=%ff"].startswith("unreadable query string")


class BoardInBrowserTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_a_browser_shows_incidents_windows_and_breakers_and_escapes_labels(self):
        self.sensor_service._datastore_service = board_datastore()
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor, Browser() as browser:
            port = sensor.server.address[1]
            wait_for_snapshot(port)
            browser.open(
                f"http://sre:s3cret@127.0.0.1:{port}/ui", "document.querySelector('tr.incident')"
            )
            dom = browser.js("document.documentElement.outerHTML")
            title = browser.js("document.title")
        assert title == "PoundCake incident board"
        assert "&lt;img src=x onerror=" in dom  # the label shown as text
        assert "<img" not in dom
        for text in ("HighCPU", "QueueBacklog", "remediating", "remediated", "skipped", "dry run"):
            assert text in dom, text
        assert "(escalated)" in dom and "verification failed" in dom
        assert "kernel upgrade" in dom and "reset_breaker alertname=HostDown" in dom
        assert "2026-11-23T09:15:00.000000Z" in dom  # when the breaker tries again
        assert 'href="https://st2.test/#/history/6b04' in dom
        assert "records read" in dom

    def test_in_a_storm_a_browser_shows_acted_on_rows_first_filters_and_expands_them(self):
        self.sensor_service._datastore_service = storm_datastore()
        with running_sensor(self, state_poll_seconds=1, **BOARD) as sensor, Browser() as browser:
            port = sensor.server.address[1]
            wait_for_snapshot(port)
            board = f"http://sre:s3cret@127.0.0.1:{port}/ui"
            rows = "[...document.querySelectorAll('#incidents tr.incident')]"
            states = f"{rows}.map((tr) => tr.querySelector('.state').textContent)"
            browser.open(board, f"{rows}.length")

            # the acted-on first, grouped, most urgent first; the noise after
            shown = browser.js(states)
            assert shown[: len(STORM_ORDER)] == STORM_ORDER and len(shown) == 200
            groups = browser.js(
                "[...document.querySelectorAll('#incidents tr.group')].map((tr) => tr.textContent)"
            )
            assert groups == [
                "PoundCake must act, or is acting",
                "PoundCake acted",
                "Noted only: recorded, suppressed, or resolved with no remediation",
            ]
            assert browser.js("document.getElementById('matched').textContent") == (
                "5,000 incidents; showing the first 200, most urgent first."
            )
            note = browser.js("document.getElementById('counts-note').textContent")
            assert note.startswith("Counts of the 5,000 incidents the sensor holds, its limit")

            # a row expands into its history and its steps, linked to st2
            failed = f"{rows}.find((tr) => tr.querySelector('.state').textContent === 'failed')"
            browser.js(f"{failed}.querySelector('button.toggle').click()")
            browser.wait("document.querySelector('tr.detail')")
            detail = browser.js("document.querySelector('tr.detail').textContent")
            for text in (
                "first delivery",
                "remediation started",
                "verification failed: free space did not rise",
                "Steps (st2 executions)",
                "st2 run poundcake.get_alert fingerprint=",
            ):
                assert text in detail, text
            history = browser.js(
                "[...document.querySelector('tr.detail table').querySelectorAll("
                "':scope > tbody > tr')].map((tr) => tr.children[1].textContent)"
            )
            assert history == ["received", "remediating", "failed"]
            links = browser.js("[...document.querySelectorAll('tr.detail a')].map((a) => a.href)")
            failed_run = f"6b04{STORM_ORDER.index('failed'):020x}"
            assert links == [f"https://st2.test/#/history/{failed_run}/general"]
            browser.js(
                "document.querySelector('tr.detail').previousSibling.querySelector('button').click()"
            )
            browser.wait("!document.querySelector('tr.detail')")

            # an approval's inquiry is linked too
            waiting = f"{rows}[0]"
            browser.js(f"{waiting}.querySelector('button.toggle').click()")
            browser.wait("document.querySelector('tr.detail')")
            assert "approval required: production host" in browser.js(
                "document.querySelector('tr.detail').textContent"
            )
            inquiry = browser.js("[...document.querySelectorAll('tr.detail a')].map((a) => a.href)")
            assert inquiry == [f"https://st2.test/#/history/5e11{0:020x}/general"]

            # filters from the controls land in the URL, and the rows follow
            browser.js(
                "const s = document.getElementById('f-state'); s.value = 'remediating';"
                "s.dispatchEvent(new Event('change'))"
            )
            browser.wait(f"{rows}.length === 2")
            assert browser.js("location.search") == "?state=remediating"
            assert set(browser.js(states)) == {"remediating"}
            browser.js(
                "document.getElementById('f-alertname').value = 'ServiceDown';"
                "document.getElementById('f-host').value = 'web-1';"
                "document.getElementById('f-apply').click()"
            )
            browser.wait(f"{rows}.length === 1")
            assert (
                browser.js("location.search")
                == "?state=remediating&alertname=ServiceDown&host=web-1"
            )
            assert browser.js("document.getElementById('matched').textContent") == (
                "1 incident matches state=remediating, alertname=ServiceDown, host=web-1, "
                "most urgent first."
            )
            browser.js("history.back()")
            browser.wait(f"{rows}.length === 2")

            # a shared URL opens filtered, its filters shown in the controls
            browser.open(board + "?state=failed&alertname=DiskSpaceLow", f"{rows}.length")
            assert browser.js(states) == ["failed"]
            assert browser.js("document.getElementById('f-state').value") == "failed"
            assert browser.js("document.getElementById('f-alertname').value") == "DiskSpaceLow"
            browser.js("document.getElementById('f-clear').click()")
            browser.wait(f"{rows}.length === 200")

            # a bad filter says why
            browser.open(
                board + "?state=bogus", "document.getElementById('status').className === 'stale'"
            )
            status = browser.js("document.getElementById('status').textContent")
            assert status.startswith("bad filter: state 'bogus' is not one of")

            # the README's picture: the storm's board, the failure open
            browser.open(board, f"{rows}.length")
            browser.js(f"{failed}.querySelector('button.toggle').click()")
            browser.wait("document.querySelector('tr.detail')")
            browser.resize(1400, 1700)
            update = os.environ.get("POUNDCAKE_UPDATE_SCREENSHOT")
            shot = README_SCREENSHOT if update else os.path.join(tempfile.mkdtemp(), "board.png")
            browser.screenshot(shot)
        assert os.path.getsize(shot) > 10_000


@pytest.mark.parametrize("value", ["ftp://x", "javascript:alert(1)"])
def test_st2_web_url_must_be_http(value):
    from poundcake.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="st2_web_url"):
        load_settings({"bearer_token": "t", "st2_web_url": value})


def test_board_snapshot_is_json():
    board = Board("https://st2.test/")
    board.update([], [], [], 0, 5000)
    snapshot = json.loads(json.dumps(board.snapshot()))
    assert snapshot["counts"]["total"] == 0 and snapshot["incidents"] == []
