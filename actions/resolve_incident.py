import os
from typing import Any, Dict, Optional

import requests

from poundcake.action import PoundCakeAction, Result
from poundcake.state_store import INCIDENT, RESOLVED, iso


class ResolveIncident(PoundCakeAction):
    """Mark an incident resolved; with on_resolve: cancel, stop its remediation.

    The resolve is recorded first, so a failing cancel never loses it.
    """

    def run(self, alert: Dict[str, Any]) -> Result:
        store = self.store()
        tracking_id = alert["tracking_id"]
        mode = self.lifecycle("on_resolve")
        record = store.get(INCIDENT + tracking_id)
        running = (
            (record.get("remediation") or {}).get("execution_id")
            if record and record["state"] == "remediating"
            else None
        )
        cancel = bool(running) and mode == "cancel"
        note = "resolved by Alertmanager"
        if cancel:
            note += f"; remediation {running} canceled (on_resolve: cancel)"
        elif running:
            note += f"; remediation {running} left to finish (on_resolve: let_finish)"
        doc = {
            "resolved_at": iso(store.clock()),
            "ends_at": alert.get("ends_at"),
            "request_id": alert.get("request_id"),
            "note": note,
            "canceled": [running] if cancel else [],
        }
        # Kept past the purge age (the sensor purges at incident_ttl_seconds).
        store.put(RESOLVED + tracking_id, doc, ttl=2 * self.lifecycle("incident_ttl_seconds"))
        if cancel:
            error = self._cancel(running)
            if error:
                return self.fail(f"{tracking_id} recorded resolved, but {error}")
        return True, {"tracking_id": tracking_id, "on_resolve": mode, **doc}

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
