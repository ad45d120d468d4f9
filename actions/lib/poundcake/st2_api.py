"""st2's API, with the URL and token st2 gives every action run.

st2 sets ``ST2_ACTION_API_URL`` and ``ST2_ACTION_AUTH_TOKEN`` for each
action it runs. The pack uses the API only for what no action parameter can
do: cancel a remediation, answer an inquiry nobody answered, schedule a
delayed execution, start a notifier's action and wait for it.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Mapping, Optional

import requests

# st2's final execution states (st2common/constants/action.py)
DONE = ("succeeded", "failed", "timeout", "canceled", "abandoned")


class St2ApiError(ValueError):
    """st2's API refused or could not be reached; the message says which."""


class St2Api:
    def __init__(self, url: str, token: Optional[str], timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> St2Api:
        """From an action's environment, or a sensor's (st2's sensor container
        gives each sensor ``ST2_API_URL`` and a token of its own)."""
        url = env.get("ST2_ACTION_API_URL") or env.get("ST2_API_URL")
        if not url:
            raise St2ApiError("ST2_ACTION_API_URL/ST2_API_URL is not set: not running under st2?")
        return cls(url, env.get("ST2_ACTION_AUTH_TOKEN") or env.get("ST2_AUTH_TOKEN"))

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        headers = {"X-Auth-Token": self.token} if self.token else {}
        try:
            return requests.request(
                method, self.url + path, json=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise St2ApiError(f"st2 API {method} {path} failed: {exc}") from exc

    def checked(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(method, path, body)
        if response.status_code >= 400:
            raise St2ApiError(
                f"st2 API {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content else None

    def cancel(self, execution_id: str) -> None:
        """Cancel an execution; one that already ended is not an error."""
        response = self.call("DELETE", f"/executions/{execution_id}")
        finished = response.status_code == 400 and "cannot be canceled" in response.text
        if response.status_code not in (200, 202, 204) and not finished:
            raise St2ApiError(
                f"cancel of {execution_id} failed: HTTP {response.status_code} {response.text}"
            )

    def run_later(
        self,
        action: str,
        parameters: Dict[str, Any],
        delay_seconds: float,
        trace_tag: str,
        trace_id: Optional[str] = None,
    ) -> str:
        """Schedule ``action`` (st2 holds it ``delayed``; 0: now); its execution id.

        It joins the trace ``trace_id`` names, else it starts a trace tagged
        ``trace_tag``."""
        trace = {"id_": trace_id} if trace_id else {"trace_tag": trace_tag}
        body = {
            "action": action,
            "parameters": parameters,
            "delay": int(delay_seconds * 1000),
            "context": {"trace_context": trace},
        }
        return self.checked("POST", "/executions", body)["id"]

    def own_trace(self, env: Mapping[str, str] = os.environ) -> Optional[str]:
        """The id of the trace the running action is in (None outside st2, or if st2 has none)."""
        execution_id = env.get("ST2_ACTION_EXECUTION_ID")
        if not execution_id:
            return None
        traces = self.checked("GET", f"/traces?execution={execution_id}&limit=1") or []
        return traces[0]["id"] if traces else None

    def parameters(self, ref: str) -> Dict[str, Any]:
        """An action's parameters merged over its runner's, as st2 checks a request."""
        return self.checked("GET", f"/actions/views/parameters/{ref}")["parameters"]

    def wait(self, execution_id: str, seconds: float, poll: float = 0.5) -> Dict[str, Any]:
        """The execution once it ended; St2ApiError if it runs longer than ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            execution = self.checked("GET", f"/executions/{execution_id}")
            if execution.get("status") in DONE:
                return execution
            if time.monotonic() > deadline:
                raise St2ApiError(
                    f"execution {execution_id} still {execution.get('status')} after {seconds} s"
                )
            time.sleep(poll)

    def pending_inquiry(self, inquiry_id: str) -> bool:
        """Whether the inquiry still waits for an answer (st2 answers 400 for
        one already answered, 404 for one it does not know)."""
        response = self.call("GET", f"/inquiries/{inquiry_id}")
        if response.status_code in (400, 404):
            return False
        if response.status_code >= 400:
            raise St2ApiError(
                f"st2 API GET /inquiries/{inquiry_id}: HTTP {response.status_code} "
                f"{response.text[:300]}"
            )
        return True

    def respond(self, inquiry_id: str, response: Dict[str, Any]) -> None:
        self.checked("PUT", f"/inquiries/{inquiry_id}", {"id": inquiry_id, "response": response})
