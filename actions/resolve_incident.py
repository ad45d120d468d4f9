import os
from typing import Any, Dict, List, Optional

import requests

from poundcake.action import PoundCakeAction, Result
from poundcake.incidents import open_incidents
from poundcake.state_store import INCIDENT, RESOLVED, iso


class ResolveIncident(PoundCakeAction):
    """Mark an alert's open incidents resolved; with on_resolve: cancel, stop their remediation.

    A resolve closes every open incident of its fingerprint, not only the one
    its tracking id names: Alertmanager keeps the earliest startsAt it was
    given, and a restarted Prometheus sends a new one, so the resolve may
    carry another startsAt than the firing did. Each resolve is recorded
    before any cancel, so a failing cancel never loses it.
    """

    def run(self, alert: Dict[str, Any]) -> Result:
        store = self.store()
        mode = self.lifecycle("on_resolve")
        tracking_id = alert["tracking_id"]
        candidates = dict(store.scan(f"{INCIDENT}{alert['fingerprint']}-"))
        already = {key[len(RESOLVED) :] for key, _ in store.scan(RESOLVED + alert["fingerprint"])}
        records: List[Optional[Dict[str, Any]]] = list(open_incidents(candidates.values(), already))
        if not records and not candidates and tracking_id not in already:
            records = [None]  # resolved before its firing was recorded: remember the resolve
        resolved = [self._resolve(alert, record, mode) for record in records]
        errors: List[str] = []
        for doc in resolved:
            for running in doc["canceled"]:
                error = self._cancel(running)
                if error:
                    errors.append(f"{doc['tracking_id']} recorded resolved, but {error}")
        if errors:
            return self.fail("; ".join(errors))
        return True, {
            "tracking_id": tracking_id,
            "on_resolve": mode,
            "resolved": [doc["tracking_id"] for doc in resolved],
            "canceled": [c for doc in resolved for c in doc["canceled"]],
            "note": "; ".join(doc["note"] for doc in resolved),
        }

    def _resolve(
        self, alert: Dict[str, Any], record: Optional[Dict[str, Any]], mode: str
    ) -> Dict[str, Any]:
        """Write the resolve of one incident (``record`` None: none was recorded yet)."""
        store = self.store()
        tracking_id = record["tracking_id"] if record else alert["tracking_id"]
        running = (
            (record.get("remediation") or {}).get("execution_id")
            if record and record["state"] == "remediating"
            else None
        )
        cancel = bool(running) and mode == "cancel"
        note = "resolved by Alertmanager"
        if tracking_id != alert["tracking_id"]:
            note += f" (the resolve carried another startsAt: {alert['tracking_id']})"
        if cancel:
            note += f"; remediation {running} canceled (on_resolve: cancel)"
        elif running:
            note += f"; remediation {running} left to finish (on_resolve: let_finish)"
        doc = {
            "tracking_id": tracking_id,
            "resolved_at": iso(store.clock()),
            "ends_at": alert.get("ends_at"),
            "request_id": alert.get("request_id"),
            "note": note,
            "canceled": [running] if cancel else [],
        }
        # Kept past the purge age (the sensor purges at incident_ttl_seconds).
        store.put(RESOLVED + tracking_id, doc, ttl=2 * self.lifecycle("incident_ttl_seconds"))
        return doc

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
