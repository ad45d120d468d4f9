"""Cleared, not just acted: the incident waits for its alert to clear, and
asks Prometheus itself (never the host generatorURL names)."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from loopback_http import send_json
from orquesta import statuses
from orquesta_harness import run_workflow
from pack_actions import BASE_CONFIG, ActionHandler, shared_datastore
from test_envelope import payload, process_inputs
from test_lifecycle import record
from test_workflows import Shell

from poundcake.clearance import expression, matching

EXPR = 'up{job="node"} == 0'
GENERATOR = "http://prom.evil.example:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1"


def test_the_expression_is_read_from_generator_url_and_nothing_else():
    assert expression(GENERATOR) == EXPR
    assert expression("http://x/graph?g0.tab=1") is None
    assert expression("") is None


def test_only_the_series_of_the_alerts_labels_count():
    labels = {"alertname": "NodeDown", "job": "node", "instance": "web-1:9100", "severity": "x"}
    series = [
        {"metric": {"__name__": "up", "job": "node", "instance": "web-1:9100"}},
        {"metric": {"__name__": "up", "job": "node", "instance": "web-2:9100"}},
    ]
    assert matching(series, labels) == [{"job": "node", "instance": "web-1:9100"}]


class FakePrometheus:
    """/api/v1/query answering from ``series`` (a list the test changes)."""

    def __init__(self):
        self.series = []
        self.queries = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                outer.queries.append((urlsplit(self.path).path, query.get("query", [""])[0]))
                body = {
                    "status": "success",
                    "data": {"resultType": "vector", "result": outer.series},
                }
                send_json(self, 200, body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def prometheus():
    fake = FakePrometheus()
    yield fake
    fake.close()


def remediate(doc, config, datastore=None):
    datastore = datastore if datastore is not None else shared_datastore()
    handler = ActionHandler(
        {**BASE_CONFIG, "allowed_hosts": ["web-*"], **config}, Shell(), datastore
    )
    run = run_workflow(
        "process_alert.yaml",
        {**process_inputs(doc), "clear_timeout": config.get("clear_timeout_seconds", 0)},
        handler,
    )
    return run, record(datastore, doc["tracking_id"])


def test_an_alert_still_firing_after_the_timeout_is_not_cleared_and_escalated():
    run, rec = remediate(payload(), {"clear_timeout_seconds": 1})
    assert run.status == statuses.FAILED
    assert rec["state"] == "not_cleared" and "still firing 1 s after" in rec["reason"]
    assert [h["state"] for h in rec["history"]][-2:] == ["remediated", "not_cleared"]
    messages = [c.params["message"] for c in run.calls_to("poundcake.log_escalation")]
    assert len(messages) == 1 and "is not_cleared" in messages[0]
    assert "restarted and active" in messages[0]  # what was done


def test_prometheus_saying_the_condition_is_gone_clears_it(prometheus):
    doc = payload(instance="web-1:9100")
    doc["generator_url"] = GENERATOR
    prometheus.series = [{"metric": {"__name__": "up", "job": "node", "instance": "web-9:9100"}}]
    config = {"clear_timeout_seconds": 5, "prometheus_url": prometheus.url}
    run, rec = remediate(doc, config)
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    assert "holds no series of its labels" in rec["verification"]["prometheus"]
    assert prometheus.queries == [("/api/v1/query", EXPR)]  # asked at prometheus_url only


def test_prometheus_still_seeing_the_series_ends_not_cleared(prometheus):
    doc = payload(instance="web-1:9100")
    doc["generator_url"] = GENERATOR
    doc["labels"]["job"] = "node"
    prometheus.series = [{"metric": {"__name__": "up", "job": "node", "instance": "web-1:9100"}}]
    config = {"clear_timeout_seconds": 1, "prometheus_url": prometheus.url}
    run, rec = remediate(doc, config)
    assert rec["state"] == "not_cleared" and "still firing: 1 series" in rec["reason"]


def test_a_resolve_within_the_timeout_ends_resolved():
    datastore = shared_datastore()
    doc = payload()
    resolved = dict(doc, status="resolved")

    def resolve_soon():
        import time

        from pack_actions import run_python_action

        time.sleep(0.5)
        run_python_action("resolve_incident", {"alert": resolved}, {}, datastore)

    threading.Thread(target=resolve_soon).start()
    run, rec = remediate(doc, {"clear_timeout_seconds": 5}, datastore)
    assert run.status == statuses.SUCCEEDED
    assert rec["state"] == "resolved"
    assert [h["state"] for h in rec["history"]][-2:] == ["remediated", "resolved"]
