"""Real processes for end-to-end tests: the sensor (outside st2) and Alertmanager.

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

ALERTMANAGER = "prometheus-alertmanager"
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


class AlertmanagerProcess:
    """Debian's prometheus-alertmanager with one webhook receiver at the sensor."""

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
        binary = shutil.which(ALERTMANAGER)
        if binary is None:
            raise RuntimeError(
                f"{ALERTMANAGER} not found: install Debian's prometheus-alertmanager "
                "(scripts/bootstrap does)"
            )
        self.dir = tempfile.mkdtemp(prefix="poundcake-am-")
        self.port = free_port()
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
        cfg = os.path.join(self.dir, "alertmanager.yml")
        with open(cfg, "w") as fp:
            yaml.safe_dump(config, fp)
        self.log = os.path.join(self.dir, "alertmanager.log")
        self._log_fp = open(self.log, "w")
        self.cluster_address = None
        cluster = ["--cluster.listen-address="]
        if peers is not None:
            self.cluster_address = f"127.0.0.1:{free_port()}"
            cluster = [f"--cluster.listen-address={self.cluster_address}"]
            cluster += ["--cluster.advertise-address=" + self.cluster_address]
            cluster += [f"--cluster.peer={p}" for p in peers]
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.path={self.dir}/data",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *cluster,
                "--log.level=debug",
            ],
            stdout=self._log_fp,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 30, what=f"alertmanager /-/ready (log: {self.log})")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"alertmanager exited early:\n{self.read_log()}")
        return http_get(f"http://127.0.0.1:{self.port}/-/ready")[0] == 200

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

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
            f"http://127.0.0.1:{self.port}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200, resp.status

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
