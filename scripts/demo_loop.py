"""The whole loop, on a real StackStorm: a real Prometheus scrapes a demo service,
ServiceDown fires through a real Alertmanager into the pack, st2 restarts the
service over SSH, Prometheus clears the alert and the incident resolves. Prints
the timeline and the commands to look with; exits 1 when the loop does not
complete. ``scripts/demo`` runs it (on the st2 kit: inside the kit's namespaces).

On the kit (``RIG`` set) the SSH target is this host, ``localhost``, whose
``systemctl`` is the acceptance suite's shim (``acceptance/lib/target.py``) in
the kit's own ``/usr/local/bin``: there the demo unit is a real process, which
the demo kills and the pack's restart brings back. Against your own st2
(``ST2_API_URL``) it needs ``--target HOST`` and installs nothing there, so it
prints what the loop would do and exits 2 (see the README's quick start).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(PACK_DIR, "acceptance", "lib"), os.path.join(PACK_DIR, "tests", "lib")]

from pack_install import BOARD_KEY, BOARD_REF, TOKEN_REF, install  # noqa: E402
from processes import AlertmanagerProcess, PrometheusProcess, free_port  # noqa: E402
from st2 import St2, wait_until  # noqa: E402
from story import parse_time, stamp  # noqa: E402
from target import Target  # noqa: E402

UNIT = "poundcake-demo"
JOB = "demo-svc"
WEBHOOK_URL = "http://127.0.0.1:9180/webhook"
BOARD_URL = "http://127.0.0.1:9180/ui"
BOARD_USER = "sre"
FOR = "2s"
Event = Tuple[str, float, str]  # (what, when: epoch seconds, where it was read)


class LoopIncomplete(RuntimeError):
    pass


def service_down_rule(unit: str = UNIT, job: str = JOB) -> Dict[str, Any]:
    """The alerting rule an operator writes: the service's scrape fails."""
    return {
        "alert": "ServiceDown",
        "expr": f'up{{job="{job}"}} == 0',
        "for": FOR,
        "labels": {"severity": "critical", "service": unit, "auto_remediate": "true"},
        "annotations": {"summary": f"{unit} is down on {{{{ $labels.instance }}}}"},
    }


def demo_config(ssh_user: str, host: str) -> Dict[str, Any]:
    """The pack config of the demo: only ``host`` may be remediated."""
    return {
        "listen_host": "127.0.0.1",
        "listen_port": 9180,
        "bearer_token": TOKEN_REF,
        "ssh_user": ssh_user,
        "allowed_hosts": [host],
        "escalation_action": "poundcake.log_escalation",
        "state_poll_seconds": 2,
        "board_username": BOARD_USER,
        "board_password": BOARD_REF,
    }


def format_timeline(events: List[Event], start: float) -> str:
    """One line an event, in time order, in seconds from ``start`` (the kill)."""
    width = max(len(what) for what, _, _ in events)
    lines = ["timeline (seconds from the kill):"]
    for what, when, source in sorted(events, key=lambda e: e[1]):
        lines.append(f"  {when - start:+7.1f} s  {what:<{width}}  {source}")
    return "\n".join(lines)


def http_ok(url: str, user: str = "", password: str = "") -> bool:
    request = urllib.request.Request(url)
    if user:
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


class Loop:
    """One run of the loop on the kit, and everything it starts (``close`` stops it)."""

    def __init__(self, st2: St2, rig: str, ssh_user: str) -> None:
        self.st2 = st2
        self.rig = rig
        self.ssh_user = ssh_user
        self.work = tempfile.mkdtemp(prefix="poundcake-demo-", dir="/var/tmp")
        self.target = Target("localhost", ssh_user, "/usr/local/bin", self.work)
        self.port = free_port()
        self.am: Optional[AlertmanagerProcess] = None
        self.prometheus: Optional[PrometheusProcess] = None
        self.events: List[Event] = []
        self.metrics_url = f"http://127.0.0.1:{self.port}/metrics"
        self.board_password = ""
        self.killed = 0.0
        self.tracking_id = ""
        self.fingerprint = ""

    def say(self, text: str) -> None:
        print(f"demo: {text}", flush=True)

    # ------------------------------------------------------------ set-up
    def start(self) -> None:
        self.target.install()
        site = os.path.join(self.work, "site")
        os.makedirs(site)
        with open(os.path.join(site, "metrics"), "w") as fp:
            fp.write("# TYPE demo_info gauge\ndemo_info 1\n")
        python = shutil.which("python3") or sys.executable
        argv = [python, "-m", "http.server", "--bind", "127.0.0.1", str(self.port)]
        self.target.process_unit(UNIT, argv + ["--directory", site])
        started = self.target.systemctl("start", UNIT)
        if started.returncode != 0:
            raise LoopIncomplete(f"the demo service did not start: {started.stderr}")
        wait_until(lambda: http_ok(self.metrics_url), 10, "an answer from the demo service", 0.2)
        self.say(f"demo service {UNIT}: a real process on localhost:{self.port}/metrics")
        self.say("installing the pack in st2 (allowed_hosts: [localhost])")
        secret = install(self.st2, demo_config(self.ssh_user, "localhost"), WEBHOOK_URL, self.rig)
        self.board_password = secret["board_password"]
        bearer = {"authorization": {"type": "Bearer", "credentials": secret["token"]}}
        self.am = AlertmanagerProcess(WEBHOOK_URL, bearer, group_by=("alertname", "instance"))
        self.prometheus = PrometheusProcess(
            JOB, [f"localhost:{self.port}"], [service_down_rule()], self.am.url
        )
        self.say(
            f"Prometheus on :{self.prometheus.port} scrapes localhost:{self.port} every 1 s "
            f"(rule ServiceDown: up == 0 for {FOR}); Alertmanager on :{self.am.port} "
            f"posts to the pack's sensor at {WEBHOOK_URL}"
        )
        wait_until(self._scraped_up, 30, "a successful scrape of the demo service", 0.2)

    def _scraped_up(self) -> bool:
        return any(t["health"] == "up" for t in self.prometheus.targets())

    # -------------------------------------------------------------- loop
    def run(self) -> None:
        self.killed = time.time()
        pid = self.target.crash_unit(UNIT)
        self.event("killed", self.killed, f"SIGKILL to {UNIT} (pid {pid})")
        self.say(f"killed {UNIT} (pid {pid}): the outage begins")
        alert = wait_until(
            lambda: self._prometheus_alert("firing"), 30, "ServiceDown firing in Prometheus", 0.2
        )
        self.event(
            "fired",
            parse_time(alert["activeAt"]),
            f"Prometheus: ServiceDown activeAt (firing after for: {FOR})",
        )
        firing = self.wait_trigger("firing", 60)
        self.tracking_id = firing["payload"]["tracking_id"]
        self.fingerprint = firing["payload"]["fingerprint"]
        self.event("dispatched", parse_time(firing["occurrence_time"]), "st2: poundcake.alert")
        self.say(f"the sensor dispatched poundcake.alert {self.tracking_id}")
        (enforcement,) = wait_until(
            lambda: [e for e in self.st2.enforcements(firing["id"]) if e.get("execution_id")],
            30,
            "the rule enforcement of the trigger",
        )
        process = self.st2.wait_execution(enforcement["execution_id"], 180)
        done = {e["action"]["ref"]: e for e in self.st2.children(process["id"])}
        remediation = done.get("poundcake.remediate_service_down")
        if process["status"] != "succeeded" or not remediation:
            raise LoopIncomplete(f"poundcake.process_alert {process['id']} {process['status']}")
        self.event(
            "remediation started",
            parse_time(remediation["start_timestamp"]),
            f"st2: poundcake.remediate_service_down {remediation['status']}",
        )
        restarts = [c for c in self.target.calls(UNIT, self.killed) if c["args"][0] == "restart"]
        if not restarts or restarts[0]["uid"] != 0:
            raise LoopIncomplete(f"no restart of {UNIT} as root on the target: {restarts}")
        self.event("restarted", restarts[0]["at"], "target: systemctl restart (uid 0, over SSH)")
        wait_until(
            lambda: http_ok(self.metrics_url), 10, f"an answer from the restarted {UNIT}", 0.2
        )
        self.say(f"{UNIT} is back; waiting for Prometheus to clear the alert")
        wait_until(lambda: not self._prometheus_alert(), 30, "Prometheus to clear ServiceDown", 0.2)
        resolved = self.wait_trigger("resolved", 60)
        ends = parse_time(resolved["payload"]["ends_at"])
        self.event("cleared", ends, "Prometheus: ServiceDown resolved (endsAt)")
        key = f"poundcake.incident.{self.tracking_id}"
        closed = wait_until(  # the resolve is written into the incident's record
            lambda: (r := self.st2.record(key)) and r.get("state") == "resolved" and r,
            60,
            "the resolve of the incident",
        )
        self.event("resolved", parse_time(closed["resolved_at"]), "st2: incident resolved_at")
        self.check_views()

    def event(self, what: str, when: float, source: str) -> None:
        self.events.append((what, when, source))

    def _prometheus_alert(self, state: str = "") -> Optional[Dict[str, Any]]:
        for alert in self.prometheus.alerts():
            if alert["labels"].get("alertname") == "ServiceDown" and state in ("", alert["state"]):
                return alert
        return None

    def wait_trigger(self, status: str, timeout: float) -> Dict[str, Any]:
        since = stamp(self.killed - 1)

        def find() -> Optional[Dict[str, Any]]:
            for ti in self.st2.trigger_instances("poundcake.alert", since):
                payload = ti["payload"]
                if payload["status"] == status and payload["labels"].get("service") == UNIT:
                    return ti
            return None

        return wait_until(find, timeout, f"a {status} poundcake.alert trigger in st2")

    def check_views(self) -> None:
        """What an operator reads afterwards says the same: the incident, its trace, the board."""
        shown = self.st2.run("poundcake.get_alert", fingerprint=self.fingerprint)
        current = (shown.get("result") or {}).get("result", {}).get("current", {})
        if current.get("state") != "resolved":
            raise LoopIncomplete(f"poundcake.get_alert shows the incident {current.get('state')}")
        outcome = (current.get("remediation") or {}).get("outcome")
        self.say(f"poundcake.get_alert: state resolved, remediation {outcome}")
        # one trace a dispatch under the tag: the firing's and the resolve's (a lone trace
        # the CLI shows whole, several as a list)
        traces = self.st2.cli("trace", "list", "--trace-tag", self.tracking_id)
        traces = [traces] if isinstance(traces, dict) else traces or []
        if len(traces) < 2:
            raise LoopIncomplete(f"st2 trace list --trace-tag {self.tracking_id}: {traces}")
        self.say(f"st2 trace list --trace-tag: {len(traces)} traces (the firing, the resolve)")
        if not http_ok(BOARD_URL, BOARD_USER, self.board_password):
            raise LoopIncomplete(f"the board at {BOARD_URL} does not answer")

    def report(self) -> None:
        print(format_timeline(self.events, self.killed))
        resolved = max(when for what, when, _ in self.events if what == "resolved")
        print(f"from the kill to the resolved incident: {resolved - self.killed:.1f} s")
        print("look with:")
        print(f"  st2 trace list --trace-tag {self.tracking_id}")
        print(f"  st2 run poundcake.get_alert fingerprint={self.fingerprint}")
        print(
            f"  the board: {BOARD_URL} (user {BOARD_USER}, password: "
            f"st2 key get {BOARD_KEY} --decrypt)"
        )

    # ---------------------------------------------------------- teardown
    def close(self) -> None:
        for process in (self.prometheus, self.am):
            if process is not None:
                process.close()
        if os.path.exists(os.path.join(self.work, "systemd", "units", UNIT + ".exec")):
            self.target.systemctl("stop", UNIT)
        self.target.uninstall()
        shutil.rmtree(self.work, ignore_errors=True)

    def diagnose(self) -> None:
        """Where to look when the loop stopped: what each part last said."""
        if self.prometheus is not None:
            print(f"  Prometheus alerts: {self.prometheus.alerts()}", file=sys.stderr)
        calls = self.target.calls(UNIT, self.killed)
        print(f"  target calls: {[(c['args'], c['uid']) for c in calls]}", file=sys.stderr)
        for name in ("st2sensorcontainer.log", "st2actionrunner.log"):
            path = os.path.join(self.rig, "logs", name)
            if os.path.exists(path):
                with open(path, errors="replace") as fp:
                    tail = fp.read().splitlines()[-15:]
                print(f"  {path}:\n    " + "\n    ".join(tail), file=sys.stderr)


def hold(rig: str) -> None:
    print(
        f"demo: the kit stays up until you press Enter. It runs in a network namespace of its "
        f"own: in another shell, sudo nsenter -t {os.getpid()} -n bash, then . {rig}/cli-env.sh "
        "and the commands above (the board: curl from there, or a browser on that namespace).",
        flush=True,
    )
    try:
        input()
    except EOFError:
        pass


def on_own_st2(target: Optional[str]) -> int:
    """Against the user's st2: say what the loop needs, and stop (it installs nothing)."""
    if not target:
        print(
            "demo: ST2_API_URL is set, so the demo would act through your st2: name the host "
            "it may act on with --target HOST",
            file=sys.stderr,
        )
        return 2
    print(
        f"demo: against your st2 ({os.environ['ST2_API_URL']}), the loop would:\n"
        f"  - install the pack with allowed_hosts: {json.dumps([target])} and the webhook "
        "token as an encrypted st2kv value\n"
        f"  - scrape a demo service on {target} with Prometheus (instance {target}:<port>), "
        f'rule ServiceDown (up == 0 for {FOR}, auto_remediate: "true", service: {UNIT}), '
        "through Alertmanager into the pack's sensor\n"
        f"  - kill it and let the pack run systemctl restart -- {UNIT}.service on {target} "
        "over SSH, then wait for Prometheus to clear the alert and the incident to resolve\n"
        f"It stops here: the demo installs nothing on {target} (no shims, no units), and "
        f"without a real {UNIT}.service there the restart has nothing to bring back.\n"
        "Run the full loop on the st2 kit (shared/st2-rig beside the repository: sudo bash "
        "scripts/demo), or the acceptance suite on a throwaway host (docs/acceptance.md).",
        file=sys.stderr,
    )
    return 2


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="the host the demo may act on (your own st2 only)")
    parser.add_argument("--ssh-user", default="stanley", help="the pack's ssh_user on the kit")
    parser.add_argument(
        "--no-hold", action="store_true", help="do not keep the kit up for a look afterwards"
    )
    args = parser.parse_args(argv)
    rig = os.environ.get("RIG")
    if not rig:
        return on_own_st2(args.target)
    st2 = St2()
    st2.ping()
    loop = Loop(st2, rig, args.ssh_user)
    began = time.monotonic()
    try:
        loop.start()
        loop.run()
        loop.report()
        print(f"demo: the loop completed ({time.monotonic() - began:.0f} s with its set-up)")
        if sys.stdin.isatty() and not args.no_hold:
            hold(rig)
        return 0
    except (LoopIncomplete, TimeoutError, AssertionError) as exc:
        print(f"demo: the loop did not complete: {exc}", file=sys.stderr)
        if loop.events:
            print(format_timeline(loop.events, loop.killed), file=sys.stderr)
        loop.diagnose()
        return 1
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
