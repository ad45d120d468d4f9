"""Nothing sticks: what the sensor's state poll does with an incident that
did not move as it should.

The poll already reads the records of the opted-in incidents the sensor
dispatched (:class:`~poundcake.incident_view.IncidentView`). Two things can
leave such a record wrong for good, and the poll closes both:

- **unrouted**: no record a while after the dispatch, and st2's trace of the
  tracking id holds no ``poundcake.process_alert`` execution: no rule handles
  the alertname (operators' rules live in their own packs, so the sensor
  cannot know beforehand). Recorded ``unrouted``; a ``process_alert`` that
  starts later still decides as usual.
- **overdue approval**: a record ``awaiting_approval`` past its expiry whose
  inquiry nobody answered (``expire_approval`` did not run): answered no, so
  ``process_alert`` records ``not_approved`` and escalates.
- **stuck**: a record that says ``remediating`` while its ``process_alert``
  has ended in st2 (failed, canceled, abandoned, or gone) without recording
  the end, or that has been remediating longer than any remediation can take
  (an action runner killed with SIGKILL leaves its executions running in st2
  for ever). Closed ``failed`` with why, and escalated once through
  ``escalation_action``.

Each write takes the incident's coordination lock, like every other writer,
and hands its transition to ``tell`` (messages, the escalation alert, the
silence's expiry) before it stores the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional

from poundcake.envelope import leave
from poundcake.incidents import last_entry, log, observe
from poundcake.st2_api import St2Api, St2ApiError
from poundcake.state_store import INCIDENT, Lock, StateStore, epoch, iso

if TYPE_CHECKING:
    from poundcake.transitions import Tell

ENDED = ("succeeded", "failed", "canceled", "abandoned", "timeout")
GRACE_SECONDS = 60  # an ended process_alert's last write may still be on its way


def unrouted_reason(trace: Optional[Mapping[str, Any]], alertname: str) -> Optional[str]:
    """Why the incident is unrouted, or None when a process_alert ran for it."""
    refs = [e.get("ref") for e in (trace or {}).get("action_executions") or []]
    if "poundcake.process_alert" in refs:
        return None
    return f"no remediation: no rule handles {alertname}"


def stuck_reason(
    record: Mapping[str, Any],
    execution: Optional[Mapping[str, Any]],
    now: float,
    stuck_after: float,
) -> Optional[str]:
    """Why a ``remediating`` record will never move by itself, or None."""
    if record.get("state") != "remediating":
        return None
    remediation = record.get("remediation") or {}
    execution_id = remediation.get("execution_id", "?")
    if execution is None:
        return f"its process_alert execution {execution_id} is gone from st2"
    status = execution.get("status")
    ended = execution.get("end_timestamp")
    if status in ENDED and ended and now - epoch(_utc(ended)) >= GRACE_SECONDS:
        return (
            f"its process_alert execution {execution_id} ended {status} "
            "without recording how the remediation ended"
        )
    started = remediation.get("started_at_ts", now)
    if now - started > stuck_after:
        return (
            f"it has been remediating {int(now - started)} s, longer than any remediation "
            f"can take (stuck_after_seconds: {int(stuck_after)}); st2 still says {status}"
        )
    return None


def _utc(stamp: str) -> str:
    """st2's ``2026-12-02T05:01:02.123456Z`` or ``...+00:00`` as ``...Z``."""
    return stamp.replace("+00:00", "Z") if not stamp.endswith("Z") else stamp


class Watchdog:
    def __init__(
        self,
        store: StateStore,
        api: Callable[[], St2Api],
        lock: Lock,
        escalation_action: str,
        unrouted_after: float,
        stuck_after: float,
        log_: Any,
        ttl: int = 0,
        tell: Optional[Tell] = None,
    ) -> None:
        self._store = store
        self._api = api
        self._lock = lock
        self._escalation_action = escalation_action
        self.unrouted_after = unrouted_after
        self._stuck_after = stuck_after
        self._log = log_
        self._ttl = ttl
        self._tell = tell

    def unrouted(self, payload: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """Record ``payload``'s incident unrouted if st2 ran no process_alert for it."""
        tracking_id = payload["tracking_id"]
        try:
            traces = self._api().checked("GET", f"/traces?trace_tag={tracking_id}&limit=10")
        except St2ApiError as exc:
            self._log.warning("%s: could not read its st2 trace: %s", tracking_id, exc)
            return None
        every = {
            "action_executions": [e for t in traces or [] for e in t.get("action_executions") or []]
        }
        reason = unrouted_reason(every, payload.get("alertname", ""))
        if reason is None:
            return None
        key = INCIDENT + tracking_id
        with self._lock(key):
            if self._store.get(key) is not None:  # process_alert got there meanwhile
                return None
            now = self._store.clock()
            record = observe(None, payload, now)
            log(record, "unrouted", now, reason)
            record.update(state="unrouted", reason=reason)
            self._told(record, None)
            self._store.put(key, record, ttl=self._ttl)
        self._log.warning("%s: %s", tracking_id, reason)
        return record

    def stuck(self, record: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """Close a remediating record that will never move by itself (failed, escalated)."""
        execution_id = (record.get("remediation") or {}).get("execution_id")
        now = self._store.clock()
        try:
            execution = self._execution(execution_id)
            reason = stuck_reason(record, execution, now, self._stuck_after)
            if (
                reason
                and execution
                and execution.get("status") == "running"
                and self._queued(execution_id)
            ):
                return None  # waiting its turn behind a concurrency policy, not hung
        except St2ApiError as exc:
            self._log.warning("%s: could not read its execution: %s", record["tracking_id"], exc)
            return None
        if reason is None:
            return None
        key = INCIDENT + record["tracking_id"]
        with self._lock(key):
            current = self._store.get(key)
            if current is None or current["state"] != "remediating":
                return None
            since = last_entry(current)
            escalated = self._escalate(current, reason)
            note = f"failed: {reason}" + (
                " (escalated)" if escalated else " (the escalation did not run)"
            )
            remediation = current.get("remediation") or {}
            remediation.update(
                outcome="failed", failure=reason, escalated=escalated, finished_at=iso(now)
            )
            current["remediation"] = remediation
            log(current, "failed", now, note)
            current.update(state="failed", reason=note)
            self._told(current, since)
            self._store.put(key, current, ttl=self._ttl)
        leave(self._store, self._lock, current, False, now)
        return current

    def approval_overdue(self, record: Mapping[str, Any]) -> bool:
        """Answer no to an approval past its expiry that nobody answered: the
        backstop for an expire_approval that never ran. Whether it answered."""
        asked = record.get("approval") or {}
        inquiry, expires = asked.get("inquiry_id"), asked.get("expires_at")
        if not inquiry or not expires or self._store.clock() < epoch(expires) + GRACE_SECONDS:
            return False
        comment = "no answer within approval_timeout_seconds (expired by the sensor's watchdog)"
        try:
            api = self._api()
            if not api.pending_inquiry(inquiry):
                return False
            api.respond(inquiry, {"approved": False, "comment": comment})
        except St2ApiError as exc:
            self._log.warning(
                "%s: could not expire inquiry %s: %s", record["tracking_id"], inquiry, exc
            )
            return False
        return True

    def _told(self, record: Dict[str, Any], since: Optional[Dict[str, Any]]) -> None:
        if self._tell is None:
            return
        try:
            self._tell(record, since)
        except Exception as exc:  # telling never stops the write (Transitions counts its own)
            self._log.error("%s: telling people failed: %s", record["tracking_id"], exc)

    def _queued(self, execution_id: str) -> bool:
        """Whether a descendant of the execution waits for a policy (delayed, ...)."""
        children = self._api().checked("GET", f"/executions/{execution_id}/children?depth=-1")
        waiting = ("requested", "scheduled", "delayed", "policy-delayed")
        return any(c.get("status") in waiting for c in children or [])

    def _execution(self, execution_id: Optional[str]) -> Optional[Mapping[str, Any]]:
        if not execution_id:
            return None
        response = self._api().call(
            "GET", f"/executions/{execution_id}?include_attributes=status,end_timestamp"
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise St2ApiError(f"GET /executions/{execution_id}: HTTP {response.status_code}")
        return response.json()

    def _escalate(self, record: Mapping[str, Any], reason: str) -> bool:
        message = (
            f"PoundCake closed {record.get('alertname')} on {record.get('instance')} as failed: "
            f"{reason} (tracking id {record['tracking_id']})"
        )
        try:
            self._api().run_later(
                self._escalation_action, {"message": message}, 0, record["tracking_id"]
            )
        except St2ApiError as exc:
            self._log.error("%s: escalation failed: %s", record["tracking_id"], exc)
            return False
        return True
