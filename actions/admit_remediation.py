from typing import Any, Dict, Optional

from poundcake import approval
from poundcake.action import PoundCakeAction, Result
from poundcake.envelope import Verdict
from poundcake.incidents import Decision, apply, last_entry, log, transitions
from poundcake.state_store import INCIDENT


class AdmitRemediation(PoundCakeAction):
    """After a human answered (or did not): not_approved, or the envelope again.

    A workflow paused on its inquiry holds no slot and may have waited long:
    the kill switch, the scope and the rate are checked anew here, inside the
    same serialised process_alert, just before remediate is requested.
    """

    def run(
        self,
        alert: Dict[str, Any],
        execution_id: str,
        remediation: str,
        host: str = "",
        answer: Optional[Dict[str, Any]] = None,
        dry_run: bool = False,
    ) -> Result:
        store = self.store()
        key = INCIDENT + alert["tracking_id"]
        with self.lock(key):  # note_approval writes this record too
            return self._admit(store, key, alert, execution_id, remediation, host, answer, dry_run)

    def _admit(self, store, key, alert, execution_id, remediation, host, answer, dry_run) -> Result:
        now = store.clock()
        record = store.get(key)
        if record is None:
            return self.fail(f"no incident record for {alert['tracking_id']}; was it purged?")
        since = last_entry(record)
        said = approval.verdict(answer)
        if record["state"] == "resolved":
            verdict = Verdict("resolved", "resolved while waiting for approval: nothing was run")
        elif not said["approved"]:
            why = said["comment"] or "a human answered approved: false"
            verdict = Verdict("not_approved", f"not approved: {why}", escalate=True)
        else:
            log(
                record,
                "approved",
                now,
                "approved" + (f": {said['comment']}" if said["comment"] else ""),
            )
            instance = host or alert.get("instance", "")
            verdict = self.door(store).check(alert, instance, remediation, now, dry_run, True)
        record.setdefault("approval", {}).update(answered_at=record.get("updated_at"), **said)
        apply(
            record,
            Decision(verdict.remediate, verdict.state, verdict.reason),
            execution_id,
            now,
            dry_run,
            remediation,
        )
        told = self.transitions()
        told.tell(record, transitions(record, since), now, execution_id)
        told.store(store, key, record, self.lifecycle("unresolved_ttl_seconds"), now)
        return True, {
            "tracking_id": alert["tracking_id"],
            "remediate": verdict.remediate,
            "state": verdict.state,
            "note": verdict.reason,
            "host": verdict.host,
            "escalate": verdict.escalate,
        }
