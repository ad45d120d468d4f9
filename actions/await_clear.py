import time
from typing import Any, Dict, Optional

from poundcake.action import PoundCakeAction, Result
from poundcake.clearance import Prometheus, PrometheusError
from poundcake.incidents import log
from poundcake.state_store import INCIDENT, StateStore, iso


class AwaitClear(PoundCakeAction):
    """After a remediation acted, wait for its alert to clear (inside process_alert).

    Cleared: its resolve arrived (the record says resolved), or, with
    prometheus_url set, the alert's own expression holds no series of the
    alert's labels any more. Else, after timeout_seconds, not cleared: the
    caller records not_cleared and escalates with what was done.
    """

    def run(self, alert: Dict[str, Any], timeout_seconds: int, poll_seconds: float = 5) -> Result:
        store = self.store()
        url = self.config_dict().get("prometheus_url") or ""
        prometheus = Prometheus(url) if url else None
        deadline = time.monotonic() + timeout_seconds
        answer: Dict[str, Any] = {"tracking_id": alert["tracking_id"], "cleared": False}
        while True:
            by = self._cleared(store, alert, prometheus, answer)
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
        answer: Dict[str, Any],
    ) -> Optional[str]:
        """What says the alert cleared (``resolve``, ``prometheus``), or None."""
        key = INCIDENT + alert["tracking_id"]
        if (store.get(key) or {}).get("state") == "resolved":
            return "resolve"
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

    def _note(self, store: StateStore, key: str, note: str) -> None:
        with self.lock(key):
            record = store.get(key)
            if record is None or record["state"] == "resolved":
                return
            now = store.clock()
            record.setdefault("verification", {}).update(prometheus=note, at=iso(now))
            log(record, record["state"], now, note)
            store.put(key, record, ttl=self.lifecycle("unresolved_ttl_seconds"))
