"""The door every remediation the pack starts goes through.

``process_alert`` asks it twice at most: in ``record_alert`` (before any
question to a human) and, when approval was required, in
``admit_remediation`` after the answer. In order:

1. the kill switch: config ``remediation_enabled: false``, or the datastore
   key ``poundcake.remediation_enabled`` set to ``false`` by an operator
   (``st2 key set poundcake.remediation_enabled false``; read at each
   check, no reload) → ``refused``;
2. the scope (:mod:`poundcake.scope`): the host, and the unit when the alert
   names one → ``refused``;
3. approval (:mod:`poundcake.approval`) → ``awaiting_approval`` (in observe
   mode only noted: a dry run changes nothing, so nobody is asked);
4. the rate and blast radius (:mod:`poundcake.rate_limit`), per alertname
   and per workflow → ``rate_limited``;
5. the circuit breaker (:mod:`poundcake.breaker`) → ``skipped``; a
   half-open breaker lets this one through as its trial.

Only a ``remediating`` verdict lets ``remediate`` be requested, with the
normalized host the per-host policy keys on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from poundcake import approval, breaker, rate_limit
from poundcake.lifecycle_config import DEFAULTS
from poundcake.scope import St2Host, TargetRejected, host_in_scope, unit_in_scope
from poundcake.state_store import PREFIX, Lock, StateStore

KILL_SWITCH_KEY = PREFIX + "remediation_enabled"
_ON = ("true", "1", "yes", "on", "enabled")


@dataclass(frozen=True)
class Verdict:
    state: str  # remediating | refused | rate_limited | skipped | awaiting_approval
    reason: str
    host: str = ""
    escalate: bool = False
    approval: Dict[str, Any] = field(default_factory=dict)

    @property
    def remediate(self) -> bool:
        return self.state == "remediating"


def kill_switch(config: Mapping[str, Any], stored: Optional[str]) -> Optional[str]:
    """Why remediation is switched off, or None."""
    if config.get("remediation_enabled") is False:
        return "kill switch: remediation_enabled is false in the pack config"
    # fail safe: any value but a clear "on" (a typo such as "disable" too) is off
    if stored is not None and stored.strip().strip('"').lower() not in _ON:
        return (
            f"kill switch: the datastore key {KILL_SWITCH_KEY} is {stored.strip()!r} "
            f"(st2 key set {KILL_SWITCH_KEY} true turns remediation back on)"
        )
    return None


def leave(
    store: StateStore, lock: Lock, record: Mapping[str, Any], succeeded: Optional[bool], now: float
) -> Optional[str]:
    """Give back what the door handed an incident whose remediation ended: its
    rate slots, and the breaker's half-open trial if it was one (``succeeded``
    None: it ended neither way, e.g. canceled). What the breaker did, if anything."""
    workflow = (record.get("remediation") or {}).get("workflow", "")
    alertname, tracking_id = record.get("alertname", ""), record["tracking_id"]
    rate_limit.release(store, lock, rate_limit.subjects(alertname, workflow), tracking_id)
    return breaker.trial_ended(store, lock, alertname, tracking_id, succeeded, now)


class Door:
    """The envelope's checks, over the pack config, the datastore and a lock."""

    def __init__(
        self,
        config: Mapping[str, Any],
        store: StateStore,
        lock: Lock,
        read_switch: Any,
        st2_host: Optional[St2Host] = None,
    ) -> None:
        self.config = config
        self.store = store
        self.lock = lock
        self.read_switch = read_switch  # () -> the raw datastore value or None
        self._st2_host = st2_host

    @property
    def st2_host(self) -> St2Host:
        if self._st2_host is None:
            self._st2_host = St2Host.here()
        return self._st2_host

    def check(
        self,
        alert: Mapping[str, Any],
        instance: Any,
        remediation: str,
        now: float,
        dry_run: bool = False,
        answered: bool = False,
    ) -> Verdict:
        """The verdict for ``remediation`` of ``alert`` on ``instance``.

        ``answered``: a human approved already (approval is not asked again).
        """
        reason = kill_switch(self.config, self.read_switch())
        if reason:
            return Verdict("refused", reason, escalate=True)
        try:
            host = host_in_scope(instance, self.config, self.st2_host)
            labels = alert.get("labels") or {}
            if labels.get("service"):
                unit_in_scope(labels["service"], self.config.get("allowed_services") or ())
        except TargetRejected as exc:
            return Verdict("refused", f"out of scope, nothing was run: {exc}", escalate=True)
        note = ""
        why = approval.required(
            self.config, alert.get("alertname", ""), alert.get("severity", ""), remediation
        )
        if why and not answered:
            if not dry_run:
                asked = approval.ask(alert["tracking_id"], self.config, why)
                reason = f"waiting for a human: {why}"
                return Verdict("awaiting_approval", reason, host, approval=asked)
            note = f"; would have asked for approval ({why})"
        alertname, tracking_id = alert.get("alertname", ""), alert["tracking_id"]
        names = rate_limit.subjects(alertname, remediation)
        limits = rate_limit.Limits.from_config(self.config)
        admission = rate_limit.admit(self.store, self.lock, names, tracking_id, host, limits, now)
        if not admission.admitted:
            return Verdict("rate_limited", admission.reason, host, admission.escalate)
        cooldown = self.config.get(
            "breaker_cooldown_seconds", DEFAULTS["breaker_cooldown_seconds"][0]
        )
        skipped = breaker.admit(self.store, self.lock, alertname, tracking_id, cooldown, now)
        if skipped:
            rate_limit.release(self.store, self.lock, names, tracking_id)
            return Verdict("skipped", skipped, host)
        return Verdict("remediating", f"in scope ({host}){note}", host)
