from typing import Any, Dict

from poundcake import breaker, envelope
from poundcake.action import PoundCakeAction, Result
from poundcake.incidents import finish, last_entry, transitions
from poundcake.state_store import INCIDENT


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
        handed_over: bool = False,
        clear_timeout: int = 0,
    ) -> Result:
        store = self.store()
        tracking_id = alert["tracking_id"]
        key = INCIDENT + tracking_id
        ran = outcome in ("succeeded", "failed") and bool(workflow)
        with self.lock(key):  # resolve_incident writes this record too
            record = store.get(key)
            if record is None:
                return self.fail(f"no incident record for {tracking_id}; was it purged?")
            now = store.clock()
            since = last_entry(record)
            finish(record, outcome, workflow or "", now, failure, escalated, state, detail)
            dry_run = (record.get("remediation") or {}).get("dry_run")
            # it acted: follow the incident until its alert clears (the silence holds meanwhile)
            follow = record["state"] == "remediated" and not dry_run and (clear_timeout or 0) > 0
            self.transitions().tell(record, transitions(record, since), now, keep_silence=follow)
            resolved = record["state"] == "resolved"
            ttl = self.lifecycle("incident_ttl_seconds" if resolved else "unresolved_ttl_seconds")
            store.put(key, record, ttl=ttl)
        # only a remediation that ran for real and failed counts for the breaker
        counts = ran and outcome == "failed" and not handed_over
        counts = counts and not (record.get("remediation") or {}).get("dry_run")
        trial = envelope.leave(store, self.lock, record, not counts, now) if ran else None
        opened = None
        if counts and trial is None:
            opened = breaker.record_failure(
                store,
                record["alertname"],
                tracking_id,
                self.lifecycle("breaker_failures"),
                self.lifecycle("breaker_window_seconds"),
                self.lifecycle("breaker_cooldown_seconds"),
            )
        return True, {
            "tracking_id": tracking_id,
            "state": record["state"],
            "breaker_opened": opened is not None,
            "breaker": opened,
            "breaker_trial": trial,
            "await_clear": follow,
        }
