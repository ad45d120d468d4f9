from typing import Any, Dict

from poundcake.action import PoundCakeAction, Result
from poundcake.envelope import Verdict
from poundcake.incidents import Decision, apply, decide, last_entry, observe, transitions
from poundcake.routing import RoutingError, resolve
from poundcake.state_store import INCIDENT
from poundcake.suppressions import stored_windows


class RecordAlert(PoundCakeAction):
    """Record a delivery of an alert, decide whether it may be remediated, and with what.

    Runs inside poundcake.process_alert, which a concurrency policy serialises
    per tracking id: this read-decide-write is the critical section that makes
    remediation exactly-once. The routing (a rule's workflow, or the alert's
    automation_runbook through the config's allow-list) and the safety
    envelope (kill switch, scope, approval, rate: poundcake.envelope) are
    decided here too, so the record and the escalation say why when nothing
    runs, and no separate action run is spent on them.
    """

    def run(
        self,
        alert: Dict[str, Any],
        execution_id: str,
        workflow: str = "",
        runbook: str = "",
        dry_run: bool = False,
        host: str = "",
    ) -> Result:
        key = INCIDENT + alert["tracking_id"]
        with self.lock(key):  # resolve_incident writes this record too
            return self._record(key, alert, execution_id, workflow, runbook, dry_run, host)

    def _record(self, key, alert, execution_id, workflow, runbook, dry_run, host) -> Result:
        store = self.store()
        now = store.clock()
        stored = store.get(key)
        since = last_entry(stored)
        record = observe(stored, alert, now)
        decision = decide(
            record,
            bool(workflow or runbook),
            stored_windows(store),
            False,
            now,
            self.lifecycle("re_remediate_after_seconds"),
        )
        remediation, failure = "", ""
        verdict = Verdict(decision.state, decision.note)
        if decision.remediate:
            try:
                remediation = resolve(workflow, runbook, self.config_dict())
            except RoutingError as exc:
                failure = f"no remediation run: {exc}"
                decision = Decision(False, "unrouted", failure)
                verdict = Verdict("unrouted", failure, escalate=True)
            if remediation:
                instance = host or alert.get("instance", "")
                verdict = self.door(store).check(alert, instance, remediation, now, dry_run)
                decision = Decision(verdict.remediate, verdict.state, verdict.reason)
        apply(record, decision, execution_id, now, dry_run, remediation)
        if verdict.approval:
            record["approval"] = {"why": verdict.approval["why"], "asked_at": record["updated_at"]}
        # awaiting_approval is told by note_approval, with the command that approves
        moved = [e for e in transitions(record, since) if e["state"] != "awaiting_approval"]
        told = self.transitions()
        told.tell(record, moved, now, execution_id)
        told.store(store, key, record, self.lifecycle("unresolved_ttl_seconds"), now)
        self.logger.info("%s: %s (%s)", alert["tracking_id"], decision.state, decision.note)
        return True, {
            "tracking_id": alert["tracking_id"],
            "remediate": decision.remediate,
            "remediation": remediation,
            "failure": failure,
            "state": decision.state,
            "note": decision.note,
            "host": verdict.host,
            "escalate": verdict.escalate,
            "approval": verdict.approval,
        }
