"""Real processes for end-to-end tests and the demo: the sensor (outside st2),
Alertmanager and Prometheus.

Everything listens on 127.0.0.1 with ports picked free at start.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml
from pack_paths import PACK_DIR

RUN_SENSOR = os.path.join(PACK_DIR, "tests", "lib", "run_sensor.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def http_get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except OSError:
        return None, b""


class SensorProcess:
    """tests/lib/run_sensor.py in a subprocess; triggers land in a JSON-lines file."""

    def __init__(self, config, eventlet=False, fail_first=0, dispatch_delay_ms=0.0):
        self.dir = tempfile.mkdtemp(prefix="poundcake-sensor-")
        self.port = free_port()
        self.config = {"listen_host": "127.0.0.1", "listen_port": self.port, **config}
        self.sink = os.path.join(self.dir, "triggers.jsonl")
        self.log = os.path.join(self.dir, "sensor.log")
        cfg = os.path.join(self.dir, "poundcake.yaml")
        with open(cfg, "w") as fp:
            yaml.safe_dump(self.config, fp)
        args = [sys.executable, RUN_SENSOR, "--config", cfg, "--sink", self.sink]
        args += ["--fail-first", str(fail_first), "--dispatch-delay-ms", str(dispatch_delay_ms)]
        if eventlet:
            args.append("--eventlet")
        self._log_fp = open(self.log, "w")
        self.proc = subprocess.Popen(args, stdout=self._log_fp, stderr=subprocess.STDOUT)
        wait_for(self._ready, 20, what=f"sensor /ready (log: {self.log})")

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"sensor exited early:\n{self.read_log()}")
        return http_get(self.base_url + "/ready")[0] == 200

    def triggers(self):
        if not os.path.exists(self.sink):
            return []
        with open(self.sink) as fp:
            return [json.loads(line) for line in fp if line.strip()]

    def metrics(self):
        return http_get(self.base_url + "/metrics")[1].decode()

    def read_log(self):
        with open(self.log) as fp:
            return fp.read()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fp.close()
        return self.proc.returncode

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class _Prometheus:
    """A Prometheus project binary (Debian's package) on a free loopback port, with
    its config and data in a temporary folder and its output in a log there."""

    binary = ""
    package = ""

    def _start(self, config, args):
        path = shutil.which(self.binary)
        if path is None:
            raise RuntimeError(
                f"{self.binary} not found: install Debian's {self.package} (scripts/bootstrap does)"
            )
        self.dir = tempfile.mkdtemp(prefix=f"poundcake-{self.binary}-")
        self.port = free_port()
        for name, content in config.items():
            with open(os.path.join(self.dir, name), "w") as fp:
                yaml.safe_dump(content, fp)
        self.log = os.path.join(self.dir, f"{self.binary}.log")
        self._log_fp = open(self.log, "w")
        self._command = [path, *args(self.dir), f"--web.listen-address=127.0.0.1:{self.port}"]
        self._run()

    def _run(self):
        self.proc = subprocess.Popen(self._command, stdout=self._log_fp, stderr=subprocess.STDOUT)
        wait_for(self._ready, 30, what=f"{self.binary} /-/ready (log: {self.log})")

    def restart(self):
        """Stop it and start it again on its port, with its data folder (what
        a restart in production keeps: Alertmanager's silences and
        notification log, never its alerts)."""
        self.proc.terminate()
        self.proc.wait(10)
        self._run()

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.binary} exited early:\n{self.read_log()}")
        return http_get(f"{self.url}/-/ready")[0] == 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def read_log(self):
        with open(self.log) as fp:
            return fp.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_fp.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class AlertmanagerProcess(_Prometheus):
    """Debian's prometheus-alertmanager with one webhook receiver at the sensor."""

    binary = "prometheus-alertmanager"
    package = "prometheus-alertmanager"

    def __init__(
        self,
        webhook_url,
        http_config,
        group_interval="1s",
        max_alerts=0,
        group_by=("alertname",),
        repeat_interval="1h",
        peers=None,
        config=None,
    ):
        """``peers``: None for a lone Alertmanager, else the cluster addresses of
        the other members of an HA pair (this one gossips on a free port).
        ``config``: a whole configuration instead of one webhook receiver at
        ``webhook_url`` (routes, several receivers)."""
        config = config or {
            "route": {
                "receiver": "poundcake",
                "group_by": list(group_by),
                "group_wait": "1s",
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [
                {
                    "name": "poundcake",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "max_alerts": max_alerts,
                            "http_config": http_config,
                        }
                    ],
                }
            ],
        }
        self.cluster_address = None
        cluster = ["--cluster.listen-address="]
        if peers is not None:
            self.cluster_address = f"127.0.0.1:{free_port()}"
            cluster = [f"--cluster.listen-address={self.cluster_address}"]
            cluster += ["--cluster.advertise-address=" + self.cluster_address]
            cluster += [f"--cluster.peer={p}" for p in peers]
        self._start(
            {"alertmanager.yml": config},
            lambda folder: [
                f"--config.file={folder}/alertmanager.yml",
                f"--storage.path={folder}/data",
                *cluster,
                "--log.level=debug",
            ],
        )

    def alerts(self, **filters):
        """GET /api/v2/alerts (``filter`` matchers as label=value pairs)."""
        query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in filters.items()])
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?{query}", timeout=5) as resp:
            return json.loads(resp.read())

    def silence(self, silence_id):
        """GET /api/v2/silence/<id>."""
        with urllib.request.urlopen(f"{self.url}/api/v2/silence/{silence_id}", timeout=5) as resp:
            return json.loads(resp.read())

    def post_alerts(self, alerts):
        """POST /api/v2/alerts (what Prometheus does)."""
        req = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200, resp.status


class PrometheusProcess(_Prometheus):
    """Debian's prometheus scraping one job's ``targets`` every second, evaluating
    ``rules`` (one group's list) every second and sending its alerts to
    ``alertmanager_url``."""

    binary = "prometheus"
    package = "prometheus"

    def __init__(self, job, targets, rules, alertmanager_url):
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [alertmanager_url.split("://", 1)[-1]]}]}
                ]
            },
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        }
        self._start(
            {"prometheus.yml": config, "rules.yml": {"groups": [{"name": job, "rules": rules}]}},
            lambda folder: [
                f"--config.file={folder}/prometheus.yml",
                f"--storage.tsdb.path={folder}/data",
            ],
        )

    def api(self, path, **params):
        """GET /api/v1/<path>: its ``data``."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as resp:
            return json.loads(resp.read())["data"]

    def alerts(self):
        """The alerts its rules hold now, pending and firing (GET /api/v1/alerts)."""
        return self.api("alerts")["alerts"]

    def targets(self):
        """The scrape targets with their health (GET /api/v1/targets)."""
        return self.api("targets")["activeTargets"]
