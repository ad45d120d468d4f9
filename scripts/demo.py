"""Drive the local demo: fire three alerts, then resolve them, and print every
trigger the sensor dispatches as one JSON line on stdout. Logs go to stderr."""

import argparse
import os
import sys
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))

from processes import AlertmanagerProcess, SensorProcess, wait_for  # noqa: E402

TOKEN = "demo-token"


def stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


HOSTS = ("web-1", "web-2", "db-1")


def demo_alerts(starts, ends=None, hosts=HOSTS):
    alerts = []
    for host in hosts:
        alert = {
            "labels": {
                "alertname": "ServiceDown",
                "instance": host,
                "service": "nginx",
                "severity": "critical",
                "auto_remediate": "true",
            },
            "annotations": {"summary": f"nginx is down on {host}"},
            "startsAt": stamp(starts),
            "generatorURL": "http://prometheus.local/graph?g0.expr=up%3D%3D0",
        }
        if ends:
            alert["endsAt"] = stamp(ends)
        alerts.append(alert)
    return alerts


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eventlet", action="store_true", help="monkey-patch like st2")
    args = parser.parse_args()
    log = sys.stderr
    sensor = SensorProcess({"bearer_token": TOKEN}, eventlet=args.eventlet)
    am = AlertmanagerProcess(
        sensor.base_url + "/webhook",
        {"authorization": {"type": "Bearer", "credentials": TOKEN}},
    )
    printed = 0

    def flush():
        nonlocal printed
        with open(sensor.sink) if os.path.exists(sensor.sink) else open(os.devnull) as fp:
            lines = fp.read().splitlines()
        for line in lines[printed:]:
            print(line, flush=True)
        printed = len(lines)
        return printed

    try:
        print(f"demo: sensor on {sensor.base_url}/webhook, Alertmanager on :{am.port}", file=log)
        starts = datetime.now(timezone.utc)  # older than group_wait would split the group
        print("demo: Prometheus fires ServiceDown on 3 hosts", file=log)
        am.post_alerts(demo_alerts(starts))
        wait_for(lambda: flush() >= 3, 30, what="3 firing triggers")
        print(
            "demo: web-3 joins the group; Alertmanager re-sends all 4 alerts and the "
            "sensor dispatches only the new one (3 duplicates suppressed)",
            file=log,
        )
        all_hosts = HOSTS + ("web-3",)
        am.post_alerts(demo_alerts(starts, hosts=all_hosts))
        wait_for(lambda: flush() >= 4, 30, what="the 4th firing trigger")
        print("demo: the alerts resolve", file=log)
        am.post_alerts(demo_alerts(starts, ends=datetime.now(timezone.utc), hosts=all_hosts))
        wait_for(lambda: flush() >= 8, 30, what="4 resolved triggers")
        time.sleep(1.5)
        flush()
        metrics = [
            line
            for line in sensor.metrics().splitlines()
            if line.startswith(
                (
                    "poundcake_triggers_dispatched_total",
                    "poundcake_duplicates_suppressed_total",
                    "poundcake_webhook_requests_total",
                )
            )
        ]
        print("demo: sensor metrics:\n  " + "\n  ".join(metrics), file=log)
        print(f"demo: done, {printed} triggers dispatched", file=log)
    finally:
        am.close()
        sensor.close()


if __name__ == "__main__":
    main()
