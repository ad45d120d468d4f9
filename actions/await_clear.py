import time
from typing import Any, Dict, Optional

from poundcake.action import PoundCakeAction, Result
from poundcake.alertmanager_api import Alertmanager, AlertmanagerError, held
from poundcake.clearance import Prometheus, PrometheusError
from poundcake.incidents import log
from poundcake.resolution import close_incidents
from poundcake.state_store import INCIDENT, StateStore, iso

SEEN_IN_ALERTMANAGER = (
    "resolved in Alertmanager (its API no longer lists the alert; PoundCake's silence "
    "held the webhook's resolve)"
)


class AwaitClear(PoundCakeAction):
    """After a remediation acted, wait for its alert to clear (inside process_alert).

    Cleared: its resolve arrived (the record says resolved), or, with
    prometheus_url set, the alert's own expression holds no series of the
    alert's labels any more. While PoundCake holds a silence for the alert
    (silence_while_remediating) the resolve cannot come by webhook: then
    Alertmanager's API says, and the resolve is written here, which expires
    the silence. Else, after timeout_seconds, not cleared: the caller
    records not_cleared (which expires the silence) and escalates with what
    was done.
    """

    def run(self, alert: Dict[str, Any], timeout_seconds: int, poll_seconds: float = 5) -> Result:
        store = self.store()
        config = self.config_dict()
        prometheus = Prometheus(config["prometheus_url"]) if config.get("prometheus_url") else None
        url = config.get("alertmanager_url") or ""
        alertmanager = Alertmanager(url) if url else None
        deadline = time.monotonic() + timeout_seconds
        answer: Dict[str, Any] = {"tracking_id": alert["tracking_id"], "cleared": False}
        while True:
            by = self._cleared(store, alert, prometheus, alertmanager, answer)
            if by:
                return True, {**answer, "cleared": True, "by": by}
            left = deadline - time.monotonic()
            if left <= 0:
                return True, answer
            time.sleep(min(poll_seconds, left))

    def _cleared(
        self,
        store: StateStore,
        alert: Dict[str, Any],
        prometheus: Optional[Prometheus],
        alertmanager: Optional[Alertmanager],
        answer: Dict[str, Any],
    ) -> Optional[str]:
        """What says the alert cleared (``resolve``, ``alertmanager``, ``prometheus``), or None."""
        key = INCIDENT + alert["tracking_id"]
        record = store.get(key) or {}
        if record.get("state") == "resolved":
            return "resolve"
        if alertmanager is not None and held(record, store.clock()):
            return self._asked_alertmanager(store, alert, alertmanager, answer)
        if prometheus is None:
            return None
        try:
            firing = prometheus.still_firing(alert)
        except PrometheusError as exc:
            answer["prometheus"] = f"could not verify: {exc}"
            return None
        if firing is None:
            return None
        if firing:
            answer["prometheus"] = f"still firing: {len(firing)} series"
            return None
        note = "the alert's expression holds no series of its labels"
        self._note(store, key, f"Prometheus at {prometheus.url}: {note}")
        return "prometheus"

    def _asked_alertmanager(
        self,
        store: StateStore,
        alert: Dict[str, Any],
        alertmanager: Alertmanager,
        answer: Dict[str, Any],
    ) -> Optional[str]:
        try:
            if alertmanager.firing(alert.get("alertname", ""), alert["fingerprint"]):
                answer["alertmanager"] = "still firing (silenced by PoundCake)"
                return None
        except (AlertmanagerError, ValueError, KeyError, TypeError) as exc:  # a bad answer too
            answer["alertmanager"] = f"could not ask: {exc}"
            return None
        ttl = self.lifecycle("incident_ttl_seconds")
        tell = self.telling(store)
        close_incidents(store, alert, "let_finish", ttl, self.lock, tell, SEEN_IN_ALERTMANAGER)
        return "alertmanager"

    def _note(self, store: StateStore, key: str, note: str) -> None:
        with self.lock(key):
            record = store.get(key)
            if record is None or record["state"] == "resolved":
                return
            now = store.clock()
            record.setdefault("verification", {}).update(prometheus=note, at=iso(now))
            log(record, record["state"], now, note)
            store.put(key, record, ttl=self.lifecycle("unresolved_ttl_seconds"))
