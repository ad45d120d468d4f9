"""A real StackStorm, through its REST API and its CLI.

The suite talks to whatever st2 the environment names, with the st2 CLI's
own variables: ``ST2_API_URL`` (default the st2 kit's
``http://127.0.0.1:9101/v1``) and ``ST2_AUTH_TOKEN`` or ``ST2_API_KEY``
(none on the kit, whose auth is off). The CLI is used where the operator
would use it (``st2 trace list --trace-tag``, ``st2 run``); the API for
polling, which would otherwise start a CLI process per check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional

import requests

DEFAULT_API = "http://127.0.0.1:9101/v1"
DONE = ("succeeded", "failed", "canceled", "timeout", "abandoned")


class St2Error(RuntimeError):
    pass


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class St2:
    def __init__(self) -> None:
        self.api = os.environ.get("ST2_API_URL", DEFAULT_API).rstrip("/")
        self.session = requests.Session()
        if os.environ.get("ST2_AUTH_TOKEN"):
            self.session.headers["X-Auth-Token"] = os.environ["ST2_AUTH_TOKEN"]
        elif os.environ.get("ST2_API_KEY"):
            self.session.headers["St2-Api-Key"] = os.environ["ST2_API_KEY"]
        self.cli_path = shutil.which("st2")

    # -------------------------------------------------------------- REST
    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.api}/{path}", params=params, timeout=30)
        if response.status_code >= 400:
            raise St2Error(f"GET {path} {params}: HTTP {response.status_code} {response.text}")
        return response.json()

    def count(self, path: str, **params: Any) -> int:
        """How many ``path`` holds (st2's X-Total-Count), reading one."""
        response = self.session.get(f"{self.api}/{path}", params=dict(params, limit=1), timeout=30)
        if response.status_code >= 400:
            raise St2Error(f"GET {path} {params}: HTTP {response.status_code} {response.text}")
        return int(response.headers["X-Total-Count"])

    def send(self, method: str, path: str, body: Any) -> Any:
        response = self.session.request(method, f"{self.api}/{path}", json=body, timeout=30)
        if response.status_code >= 400:
            raise St2Error(f"{method} {path}: HTTP {response.status_code} {response.text}")
        return response.json() if response.text else None

    def ping(self) -> None:
        try:
            self.get("actions", limit=1)
        except (requests.RequestException, St2Error) as exc:
            raise St2Error(
                f"st2 API at {self.api} does not answer ({exc}): start the st2 kit "
                "(scripts/acceptance does) or set ST2_API_URL and ST2_AUTH_TOKEN/ST2_API_KEY"
            ) from exc

    def run(self, ref: str, timeout: float = 120, **parameters: Any) -> Dict[str, Any]:
        """Run an action (as ``st2 run`` does: POST /executions) and wait for its end."""
        execution = self.send("POST", "executions", {"action": ref, "parameters": parameters})
        return self.wait_execution(execution["id"], timeout)

    def execution(self, execution_id: str) -> Dict[str, Any]:
        return self.get(f"executions/{execution_id}")

    def wait_execution(self, execution_id: str, timeout: float = 120) -> Dict[str, Any]:
        def done() -> Optional[Dict[str, Any]]:
            execution = self.execution(execution_id)
            return execution if execution["status"] in DONE else None

        return wait_until(done, timeout, f"execution {execution_id} to finish")

    def children(self, execution_id: str) -> List[Dict[str, Any]]:
        """Every descendant execution (the execution tree, flattened)."""
        return self.get(f"executions/{execution_id}/children", depth=-1)

    def executions(self, ref: str, limit: int = 100, **filters: Any) -> List[Dict[str, Any]]:
        return self.get("executions", action=ref, limit=limit, **filters)

    def trigger_instances(self, trigger: str, since: str, limit: int = 200) -> List[Dict[str, Any]]:
        return self.get(
            "triggerinstances",
            trigger=trigger,
            timestamp_gt=since,
            limit=limit,
            include_attributes="id,payload,occurrence_time,status",
        )

    def enforcements(self, trigger_instance_id: str) -> List[Dict[str, Any]]:
        return self.get("ruleenforcements", trigger_instance=trigger_instance_id)

    def key(self, name: str, decrypt: bool = False) -> Optional[Dict[str, Any]]:
        response = self.session.get(
            f"{self.api}/keys/{name}", params={"decrypt": str(decrypt).lower()}, timeout=30
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise St2Error(f"GET keys/{name}: HTTP {response.status_code} {response.text}")
        return response.json()

    def record(self, name: str) -> Optional[Dict[str, Any]]:
        """A PoundCake JSON record from the datastore (``poundcake.<...>``)."""
        kvp = self.key(name)
        return json.loads(kvp["value"]) if kvp else None

    def set_secret(self, name: str, value: str) -> None:
        self.send("PUT", f"keys/{name}", {"name": name, "value": value, "secret": True})

    def set_pack_config(self, pack: str, values: Dict[str, Any]) -> None:
        """PUT /configs/<pack> (what ``st2 pack config`` does): validated and stored."""
        self.send("PUT", f"configs/{pack}", values)

    # --------------------------------------------------------------- CLI
    def cli(self, *args: str, timeout: float = 120, as_json: bool = True) -> Any:
        """``st2 <args> -j``, parsed (``as_json=False``: plain ``st2 <args>``,
        its stdout); the operator's own view of st2."""
        if self.cli_path is None:
            raise St2Error("the st2 CLI is not on PATH (the kit's: . $RIG/cli-env.sh)")
        env = dict(os.environ, ST2_API_URL=self.api, ST2_COLORIZE="off")
        done = subprocess.run(
            [self.cli_path, *args, *(["-j"] if as_json else [])],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if done.returncode != 0:
            raise St2Error(f"st2 {' '.join(args)}: exit {done.returncode}: {done.stderr}")
        if not as_json:
            return done.stdout
        return json.loads(done.stdout) if done.stdout.strip() else None

    def forget_key(self, name: str) -> None:
        """Delete a datastore key if it exists."""
        response = self.session.delete(f"{self.api}/keys/{name}", timeout=30)
        if response.status_code not in (204, 404):
            raise St2Error(f"DELETE keys/{name}: HTTP {response.status_code} {response.text}")
