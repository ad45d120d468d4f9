from typing import Any, Dict, Optional

from poundcake import envelope
from poundcake.action import PoundCakeAction, Result
from poundcake.resolution import close_incidents
from poundcake.st2_api import St2Api, St2ApiError


class ResolveIncident(PoundCakeAction):
    """Close an opted-in alert's open incidents; with on_resolve: cancel, stop their remediation.

    The resolves are recorded before any cancel, so a failing cancel never
    loses them. (The sensor closes the incidents of alerts that did not opt
    in itself, without an execution.)
    """

    def run(self, alert: Dict[str, Any]) -> Result:
        mode = self.lifecycle("on_resolve")
        store = self.store()
        ttl = self.lifecycle("incident_ttl_seconds")
        docs = close_incidents(store, alert, mode, ttl, self.lock, self.telling(store))
        errors = []
        for doc in docs:
            for running in doc["canceled"]:
                # a canceled remediation never records its end: the door's slots go back here
                envelope.leave(store, self.lock, doc["record"], None, store.clock())
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
        try:
            St2Api.from_env().cancel(execution_id)
        except St2ApiError as exc:
            return f"cannot cancel {execution_id}: {exc}"
        return None
