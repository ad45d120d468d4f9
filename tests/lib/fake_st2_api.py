"""st2's API as the pack's actions call it (``poundcake.st2_api.St2Api``), on loopback.

- ``POST /v1/executions`` refuses what st2's ``create_request`` refuses
  (``st2_actions.check_request``: 400 with st2's message). A
  ``poundcake.notify`` execution is kept for the test to run, in the order
  policy ``notify_in_order`` would run them (``run_notifications``);
  ``core.http`` runs as st2's http runner runs it (the request is made; 2xx
  succeeded, else failed; a JSON answer parsed into ``body``); any other
  action ends as ``answers[ref](parameters)`` says (``(status, result)``),
  else succeeded.
- ``GET /v1/executions/<id>``, ``GET /v1/actions/views/parameters/<ref>``
  (the action's parameters merged over its runner's), ``GET /v1/traces``
  (none: executions here start traces by their tag), ``DELETE
  /v1/executions/<id>``.

Set ``ST2_ACTION_API_URL`` to ``url`` (as st2 does for every action run).
"""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from loopback_http import send_json
from st2_actions import RequestRejected, check_request, merged_parameters

_IDS = itertools.count(1)


def _http_runner(params):
    """What st2's http runner records for a core.http request."""
    body = params.get("body")
    try:
        response = requests.request(
            params.get("method") or "GET",
            params["url"],
            data=body.encode() if isinstance(body, str) else body,
            headers=params.get("headers") or {},
            params=params.get("params"),
            timeout=params.get("timeout") or 60,
        )
    except requests.RequestException as exc:
        return "failed", {"error": str(exc)}
    parsed = response.headers.get("Content-Type", "").split(";")[0] == "application/json"
    result = {
        "status_code": response.status_code,
        "body": response.json() if parsed else response.text,
        "parsed": parsed,
        "headers": dict(response.headers),
    }
    return ("succeeded" if 200 <= response.status_code < 300 else "failed"), result


class FakeSt2Api:
    def __init__(self, answers=None):
        self.answers = dict(answers or {})
        self.executions = {}  # id -> execution, in creation order
        self.refused = []  # (ref, parameters, message)
        self.pending = []  # poundcake.notify executions not run yet
        self.trace_lookups = 0  # GET /v1/traces (a writer looking up its own trace)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, doc):
                send_json(self, status, doc)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self._send(*outer._create(body))

            def do_GET(self):
                if self.path.startswith("/v1/actions/views/parameters/"):
                    ref = self.path.rsplit("/", 1)[1]
                    try:
                        self._send(200, {"parameters": merged_parameters(ref)})
                    except RequestRejected as exc:
                        self._send(404, {"faultstring": str(exc)})
                    return
                if self.path.startswith("/v1/traces?"):  # no execution here is in a trace
                    outer.trace_lookups += 1
                    self._send(200, [])
                    return
                execution = outer.executions.get(self.path.rsplit("/", 1)[1])
                self._send(200, execution) if execution else self._send(404, {})

            def do_DELETE(self):
                self._send(202, {})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _create(self, body):
        ref, params = body["action"], body.get("parameters") or {}
        try:
            check_request(ref, params)
        except RequestRejected as exc:
            self.refused.append((ref, params, str(exc)))
            return 400, {"faultstring": str(exc)}
        execution = {
            "id": f"{next(_IDS):024x}",
            "action": {"ref": ref},
            "parameters": params,
            "context": body.get("context") or {},
            "delay": body.get("delay"),
            "status": "requested",
            "result": None,
        }
        with self._lock:
            self.executions[execution["id"]] = execution
        if ref == "poundcake.notify":
            self.pending.append(execution)
        elif not body.get("delay"):
            if ref == "core.http":
                status, result = _http_runner(params)
            else:
                status, result = self.answers.get(ref, lambda p: ("succeeded", {}))(params)
            execution.update(status=status, result=result)
        return 201, execution

    def of(self, ref):
        """Every execution of ``ref`` st2 accepted, in order."""
        return [e for e in self.executions.values() if e["action"]["ref"] == ref]

    def run_notifications(self, run_action):
        """Run the pending poundcake.notify executions one at a time, oldest
        first (``run_action(parameters) -> (ok, result)``); their results."""
        results = []
        while self.pending:
            execution = self.pending.pop(0)
            ok, result = run_action(execution["parameters"])
            execution.update(status="succeeded" if ok else "failed", result=result)
            results.append((ok, result))
        return results

    def close(self):
        self.server.shutdown()
        self.server.server_close()
