import os
from typing import Any, Dict, Optional

import requests

from poundcake.action import PoundCakeAction, Result
from poundcake.resolution import close_incidents


class ResolveIncident(PoundCakeAction):
    """Close an opted-in alert's open incidents; with on_resolve: cancel, stop their remediation.

    The resolves are recorded before any cancel, so a failing cancel never
    loses them. (The sensor closes the incidents of alerts that did not opt
    in itself, without an execution.)
    """

    def run(self, alert: Dict[str, Any]) -> Result:
        mode = self.lifecycle("on_resolve")
        keep = 2 * self.lifecycle("incident_ttl_seconds")
        docs = close_incidents(self.store(), alert, mode, keep)
        errors = []
        for doc in docs:
            for running in doc["canceled"]:
                error = self._cancel(running)
                if error:
                    errors.append(f"{doc['tracking_id']} recorded resolved, but {error}")
        if errors:
            return self.fail("; ".join(errors))
        return True, {
            "tracking_id": alert["tracking_id"],
            "on_resolve": mode,
            "resolved": [doc["tracking_id"] for doc in docs],
            "canceled": [c for doc in docs for c in doc["canceled"]],
            "note": "; ".join(doc["note"] for doc in docs),
        }

    def _cancel(self, execution_id: str) -> Optional[str]:
        """Cancel through st2's API with the token st2 gives every action; None or an error."""
        api = os.environ.get("ST2_ACTION_API_URL")
        token = os.environ.get("ST2_ACTION_AUTH_TOKEN")
        if not api or not token:
            return "cannot cancel: ST2_ACTION_API_URL/ST2_ACTION_AUTH_TOKEN are not set"
        try:
            response = requests.delete(
                f"{api.rstrip('/')}/executions/{execution_id}",
                headers={"X-Auth-Token": token},
                timeout=10,
            )
        except requests.RequestException as exc:
            return f"cancel of {execution_id} failed: {exc}"
        finished = response.status_code == 400 and "cannot be canceled" in response.text
        if response.status_code not in (200, 202, 204) and not finished:
            return f"cancel of {execution_id} failed: HTTP {response.status_code} {response.text}"
        return None
