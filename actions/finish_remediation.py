from typing import Any, Dict

from poundcake import breaker, rate_limit
from poundcake.action import PoundCakeAction, Result
from poundcake.incidents import finish
from poundcake.state_store import INCIDENT, RESOLVED


class FinishRemediation(PoundCakeAction):
    """Record how an incident ended, give back its rate slot, and count a
    failed remediation for the circuit breaker."""

    def run(
        self,
        alert: Dict[str, Any],
        outcome: str,
        workflow: str = "",
        failure: str = "",
        escalated: bool = False,
        state: str = "",
        detail: str = "",
    ) -> Result:
        store = self.store()
        tracking_id = alert["tracking_id"]
        record = store.get(INCIDENT + tracking_id)
        if record is None:
            return self.fail(f"no incident record for {tracking_id}; was it purged?")
        resolved = store.get(RESOLVED + tracking_id)
        ran = outcome in ("succeeded", "failed") and bool(workflow)
        finish(
            record,
            outcome,
            workflow or "",
            store.clock(),
            resolved,
            failure or "",
            escalated,
            state or "",
            detail or "",
        )
        store.put(INCIDENT + tracking_id, record, ttl=self.lifecycle("unresolved_ttl_seconds"))
        if ran:
            rate_limit.release(store, self.lock, record["alertname"], tracking_id)
        opened = None
        if ran and outcome == "failed":
            opened = breaker.record_failure(
                store,
                record["alertname"],
                tracking_id,
                self.lifecycle("breaker_failures"),
                self.lifecycle("breaker_window_seconds"),
            )
        return True, {
            "tracking_id": tracking_id,
            "state": record["state"],
            "breaker_opened": opened is not None,
            "breaker": opened,
        }
