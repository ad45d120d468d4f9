"""Alert storms on a real st2: what noise costs and what it does to remediation.

Run against a st2 with the pack installed and configured by the acceptance
suite's conftest (``bash scripts/acceptance -k bench`` does exactly that, on
the st2 kit, and runs this as its last step), or by hand on a kit:

    . $RIG/cli-env.sh && RIG=$RIG .venv/bin/python bench/bench_st2.py

Prints: st2 executions per alert that no rule remediates; the time until
every incident of a 50-, 500- and 1,000-alert storm is queryable; the start
latency of a ServiceDown remediation alone, behind 60 and 1,000 noise alerts
in the same delivery, and behind 60 delivered just before; and, with 1k, 10k
and 100k incident records stored (seeded by ``seed_incidents.py`` on the
kit), the sensor's state poll and startup read (from its /metrics) and
list_alerts (newest 50; one alertname's newest 10), get_alert and get_request.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(PACK_DIR, "acceptance", "lib"), os.path.join(PACK_DIR, "tests", "lib")]

from st2 import St2, wait_until  # noqa: E402
from story import parse_time, stamp  # noqa: E402

WEBHOOK_URL = os.environ.get("POUNDCAKE_WEBHOOK_URL", "http://127.0.0.1:9180/webhook")


def delivery(alerts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A v4 webhook body, as Alertmanager 0.25 sends it."""
    return {
        "receiver": "poundcake",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench",
        "version": "4",
        "groupKey": '{}:{bench="' + uuid.uuid4().hex + '"}',
        "truncatedAlerts": 0,
    }


def alert(alertname: str, run: str, i: int, **labels: str) -> Dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, "instance": f"noise-{i}", "run": run, **labels},
        "annotations": {"summary": "bench"},
        "startsAt": stamp(time.time()),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.bench/graph",
        "fingerprint": uuid.uuid4().hex[:16],
    }


def post(token: str, body: Dict[str, Any]) -> Dict[str, Any]:
    """POST as Alertmanager does: a 503 is sent again (1 s later) until a 200;
    the answer carries how many tries it took."""
    request = urllib.request.Request(
        WEBHOOK_URL,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    for tries in range(1, 31):
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return dict(json.loads(answer.read()), tries=tries)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            time.sleep(1)
    raise RuntimeError("the sensor answered 503 thirty times")


def executions_for(st2: St2, since: str, tracking_ids: List[str]) -> int:
    """st2 executions started since ``since`` for any of these incidents."""
    wanted = set(tracking_ids)
    found = st2.get(
        "executions", timestamp_gt=since, limit=1000, include_attributes="id,parameters"
    )
    mine = 0
    for execution in found:
        params = execution.get("parameters") or {}
        alert = params.get("alert") if isinstance(params.get("alert"), dict) else {}
        if params.get("tracking_id") in wanted or alert.get("tracking_id") in wanted:
            mine += 1
    return mine


def all_recorded(st2: St2, tracking_ids: List[str]) -> bool:
    wanted = set(tracking_ids)
    seen = set()
    offset = 0
    while True:
        page = st2.get("keys", prefix="poundcake.incident.", limit=100, offset=offset)
        seen.update(k["name"][len("poundcake.incident.") :] for k in page)
        if len(page) < 100:
            return wanted <= seen
        offset += 100


def trigger_instances_since(st2: St2, since: str) -> int:
    """Trigger instances st2's rules engine has taken since ``since``: the
    storm's own, and the ``core.st2.key_value_pair.*`` ones st2 emits for
    every datastore write (st2 has no switch for those)."""
    count = offset = 0
    while True:
        page = st2.get(
            "triggerinstances",
            timestamp_gt=since,
            limit=100,
            offset=offset,
            include_attributes="id",
        )
        count += len(page)
        if len(page) < 100:
            return count
        offset += 100


def quiet(st2: St2, token: str, since: str, settle: float = 3) -> int:
    """Wait until the sensor's recorder has written what it holds and st2's
    rules engine has worked through the trigger instances it holds (the
    newest 100 all processed, and no new one for ``settle`` seconds); return
    how many occurred since ``since``.

    The rules engine stores a trigger instance as soon as it takes it off
    the bus and only then weighs it against the rules, so a backlog shows as
    instances still pending, not as new ones; it works through them in
    order, so the newest are the last done. (st2's ``status`` filter is not
    answered on the kit's database, hence the look at the newest.)"""
    last, deadline = -1, time.time() + 900
    while time.time() < deadline:
        held = sensor_metrics(token, "poundcake_record_queue")["poundcake_record_queue"]
        newest = st2.get("triggerinstances", limit=100, include_attributes="id,status")
        busy = held > 0 or any(ti.get("status") in ("pending", "processing") for ti in newest)
        total = st2.count("triggerinstances")
        if not busy and total == last:
            return trigger_instances_since(st2, since)
        last = -1 if busy else total
        time.sleep(settle if not busy else 1)
    raise RuntimeError("st2's rules engine still had trigger instances pending after 900 s")


def storm(st2: St2, token: str, size: int) -> Dict[str, float]:
    run = uuid.uuid4().hex[:8]
    quiet(st2, token, stamp(time.time() - 1))  # nothing left over from before
    since = stamp(time.time() - 1)
    started = time.time()
    answer = post(token, delivery([alert("BenchNoise", run, i) for i in range(size)]))
    answered = time.time() - started
    wait_until(lambda: all_recorded(st2, answer["tracking_ids"]), 600, f"{size} records", 1)
    queryable = time.time() - started
    taken = quiet(st2, token, since)
    drained = time.time() - started - 3  # the last settle found nothing new
    return {
        "trigger_instances": taken,
        "answer_s": answered,
        "tries": answer["tries"],
        "queryable_s": queryable,
        "drained_s": drained,
        "executions_per_alert": executions_for(st2, since, answer["tracking_ids"]) / size,
    }


def remediation_start(st2: St2, token: str, noise_same: int, noise_before: int, target) -> float:
    run = uuid.uuid4().hex[:8]
    unit = f"bench-{run}"
    target.unit(unit, "failed")
    quiet(st2, token, stamp(time.time() - 1))  # start from a quiet st2
    if noise_before:
        post(token, delivery([alert("BenchNoise", run, i) for i in range(noise_before)]))
    alerts = [alert("BenchNoise", run, i) for i in range(noise_same)]
    alerts.append(
        alert("ServiceDown", run, 0, instance="localhost", service=unit, auto_remediate="true")
    )
    posted = time.time()
    answer = post(token, delivery(alerts))
    tracking_id = answer["tracking_ids"][-1]

    def started():
        for e in st2.executions("poundcake.remediate_service_down", limit=20):
            if e["parameters"].get("tracking_id") == tracking_id and e.get("start_timestamp"):
                return e
        return None

    execution = wait_until(started, 600, "the remediation to start", 0.5)
    st2.wait_execution(execution["id"], 120)
    return parse_time(execution["start_timestamp"]) - posted


SCALES = (1_000, 10_000, 100_000)


def sensor_metrics(token: str, prefix: str = "poundcake_state_") -> Dict[str, float]:
    """The samples on the sensor's /metrics whose names start with ``prefix``."""
    url = WEBHOOK_URL.rsplit("/", 1)[0] + "/metrics"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return {
        name: float(value)
        for name, _, value in (line.partition(" ") for line in text.splitlines())
        if name.startswith(prefix)
    }


def board_read(password: str) -> float:
    """Seconds to fetch the board's ``/ui/state.json`` (the newest incidents,
    from the sensor's memory) as user ``sre``."""
    url = WEBHOOK_URL.rsplit("/", 1)[0] + "/ui/state.json"
    credentials = base64.b64encode(f"sre:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {credentials}"})
    started = time.time()
    with urllib.request.urlopen(request, timeout=10) as answer:
        json.loads(answer.read())
    return time.time() - started


def seed(rig: str, start: int, stop: int) -> None:
    """Incident records ``start`` to ``stop`` into the kit's database (``0, 0``: remove)."""
    script = os.path.join(HERE, "seed_incidents.py")
    command = f'. "{rig}/env.sh" && python "{script}" {start} {stop}'
    subprocess.run(["bash", "-c", command], check=True, stdout=subprocess.DEVNULL)


def scale_costs(st2: St2, token: str, rig: str, board_password: str) -> Dict[int, Dict[str, float]]:
    """At 1k, 10k and 100k stored incident records: the sensor's startup read,
    one steady state poll (from its /metrics), list_alerts, get_alert and the
    board's read of the newest incidents."""
    out: Dict[int, Dict[str, float]] = {}
    stored = 0
    try:
        for scale in SCALES:
            seed(rig, stored, scale)
            stored = scale
            subprocess.run(
                [f"{rig}/rig.sh", "restart", "st2sensorcontainer"],
                check=True,
                stdout=subprocess.DEVNULL,
            )

            def polled() -> Dict[str, float]:
                try:
                    figures = sensor_metrics(token)
                except OSError:
                    return {}
                return figures if figures.get("poundcake_state_poll_calls") else {}

            figures = wait_until(polled, 900, f"a state poll over {scale} records", 1)
            started = time.time()
            st2.get("keys", prefix="poundcake.suppression.", limit=100)  # one small list
            one_call = time.time() - started
            listed = st2.run("poundcake.list_alerts", timeout=900, limit=50)
            filtered = st2.run("poundcake.list_alerts", timeout=900, alertname="Seeded7", limit=10)
            got = st2.run("poundcake.get_alert", fingerprint=f"5eed{scale - 1:012x}")
            request = st2.run("poundcake.get_request", timeout=900, request_id=seeded_request(st2))
            out[scale] = {
                "seed_calls": figures["poundcake_state_seed_calls"],
                "seed_s": figures["poundcake_state_seed_seconds"],
                "poll_calls": figures["poundcake_state_poll_calls"],
                "poll_s": figures["poundcake_state_poll_seconds"],
                "watched": figures["poundcake_state_watched"],
                "one_call_s": one_call,
                "list_alerts_s": took(listed),
                "list_filtered_s": took(filtered),
                "get_alert_s": took(got),
                "get_request_s": took(request),
                "board_s": board_read(board_password),
            }
            for execution in (listed, filtered, got, request):
                assert execution["status"] == "succeeded", execution
            assert len(listed["result"]["result"]) == 50 and len(filtered["result"]["result"]) == 10
    finally:
        seed(rig, 0, 0)
    return out


def seeded_request(st2: St2) -> str:
    """A request id of a seeded delivery (from the seeder's index keys)."""
    for kvp in st2.get("keys", prefix="poundcake.delivered.", limit=100):
        if ".5eed-" in kvp["name"]:
            return next(iter(json.loads(kvp["value"])["requests"]))
    raise RuntimeError("no seeded delivery in the index")


def took(execution: Dict[str, Any]) -> float:
    return parse_time(execution["end_timestamp"]) - parse_time(execution["start_timestamp"])


def main(st2: St2, token: str, board_password: str, target) -> Dict[str, Any]:
    print("alert storms on real st2 (the pack's sensor, rules and workflows)")
    out: Dict[str, Any] = {"storms": {}, "remediation_start_s": {}}
    alone = out["remediation_start_s"]["alone"] = remediation_start(st2, token, 0, 0, target)
    print(f"remediation start alone: {alone:.1f} s after the post")
    for same, before in ((60, 0), (0, 60), (1000, 0), (0, 1000)):
        latency = remediation_start(st2, token, same, before, target)
        out["remediation_start_s"][f"same{same}_before{before}"] = latency
        where = f"{same} noise alerts in the same delivery" if same else f"{before} just before"
        print(f"remediation start behind {where}: {latency:.1f} s ({latency / alone:.1f}x alone)")
    for size in (50, 500, 1000):
        figures = out["storms"][size] = storm(st2, token, size)
        print(
            f"storm of {size:5d} unremediated alerts: 200 after {figures['answer_s']:.2f} s "
            f"({figures['tries']} POST(s)), "
            f"all queryable after {figures['queryable_s']:.1f} s, "
            f"st2 quiet after {figures['drained_s']:.1f} s "
            f"({figures['trigger_instances']} trigger instances), "
            f"{figures['executions_per_alert']:.2f} st2 executions per alert"
        )
    rig = os.environ.get("RIG")
    if not rig:
        print("scale figures not measured: they seed records into the st2 kit's database (RIG)")
        return out
    for scale, costs in scale_costs(st2, token, rig, board_password).items():
        out.setdefault("scales", {})[scale] = costs
        print(
            f"with {scale:6d} incident records: a state poll makes {costs['poll_calls']:.0f} "
            f"datastore calls in {costs['poll_s']:.2f} s ({costs['watched']:.0f} incidents "
            f"in flight, two calls each; one st2api list of a small "
            f"prefix: {costs['one_call_s']:.2f} s; the sensor's startup read: "
            f"{costs['seed_calls']:.0f} calls, {costs['seed_s']:.1f} s); "
            f"list_alerts runs {costs['list_alerts_s']:.1f} s "
            f"(alertname=Seeded7 limit=10: {costs['list_filtered_s']:.1f} s), "
            f"get_alert {costs['get_alert_s']:.1f} s, "
            f"get_request {costs['get_request_s']:.1f} s, "
            f"the board's newest incidents {costs['board_s']:.3f} s"
        )
    return out


if __name__ == "__main__":
    from target import Target

    client = St2()
    client.ping()
    secret = client.key("poundcake_webhook_token", decrypt=True)
    board = client.key("poundcake_board_password", decrypt=True)
    if secret is None or board is None:
        sys.exit("the pack is not configured here: run it through scripts/acceptance -k bench")
    tgt = Target("localhost", "stanley", "/usr/local/bin", "/var/tmp/poundcake-acceptance")
    tgt.install()
    try:
        main(client, secret["value"], board["value"], tgt)
    finally:
        tgt.uninstall()
