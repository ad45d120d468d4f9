from typing import Any, Dict, Optional

from poundcake import notifiers as tell
from poundcake.action import PoundCakeAction, Result
from poundcake.st2_api import St2Api, St2ApiError
from poundcake.state_store import INCIDENT, iso


class Notify(PoundCakeAction):
    """One notifier's message of one transition (started by the transition's writer).

    Renders the notifier's templates with the fields of the transition and
    the incident's thread, checks them against the parameters the action
    declares (st2 refuses any other), runs the action and waits for it,
    then keeps the thread id it returned in the incident record, under the
    incident's lock. Policy notify_in_order runs one per incident at a
    time, so a thread's first message is kept before the next is rendered.
    A failure is counted in the record's notifications and logged; the
    remediation never waits for it.
    """

    def run(
        self,
        tracking_id: str,
        notifier: str,
        transition: str,
        fields: Dict[str, Any],
        wait_seconds: int = 120,
    ) -> Result:
        try:
            found = {n.name: n for n in tell.notifiers(self.config_dict())}
        except tell.NotifierConfigError as exc:
            return self._failed(tracking_id, notifier, str(exc))
        chosen = found.get(notifier)
        if chosen is None:
            return self._failed(tracking_id, notifier, f"no notifier {notifier!r} is configured")
        record = self.store().get(INCIDENT + tracking_id) or {}
        thread = tell.thread_of(record, chosen)
        if chosen.follows != chosen.name and not thread:
            note = f"{chosen.follows} kept no thread for this incident: nothing to follow up"
            return True, {"tracking_id": tracking_id, "sent": False, "note": note}
        try:
            fields = {**fields, "thread_id": thread}
            execution = self._send(chosen, fields, tracking_id, wait_seconds)
        except St2ApiError as exc:
            return self._failed(tracking_id, notifier, str(exc))
        if execution["status"] != "succeeded":
            error = _error(execution.get("result"))
            why = f"{chosen.action} execution {execution['id']} {execution['status']}: {error}"
            return self._failed(tracking_id, notifier, why)
        kept = None
        if chosen.thread and not thread:
            kept = tell.pick(execution.get("result"), chosen.thread)
            if kept:
                self._keep(tracking_id, chosen.name, kept)
        return True, {
            "tracking_id": tracking_id,
            "sent": True,
            "transition": transition,
            "action": chosen.action,
            "execution_id": execution["id"],
            "thread_id": kept or thread,
        }

    def _send(
        self, chosen: tell.Notifier, fields: Dict[str, Any], tracking_id: str, wait: int
    ) -> Dict[str, Any]:
        api = St2Api.from_env()
        declared = api.parameters(chosen.action)
        parameters = chosen.render(fields)
        refused = tell.refusals(parameters, declared, chosen.action)
        if refused:
            raise St2ApiError(f"st2 would refuse it, nothing was sent: {'; '.join(refused)}")
        typed = tell.typed(parameters, declared)
        started = api.run_later(chosen.action, typed, 0, tracking_id, api.own_trace())
        return api.wait(started, wait)

    def _keep(self, tracking_id: str, name: str, thread: str) -> None:
        self._write(tracking_id, lambda r: tell.bookkeeping(r)["threads"].update({name: thread}))

    def _failed(self, tracking_id: str, notifier: str, error: str) -> Result:
        self.logger.error("%s: notifier %s failed: %s", tracking_id, notifier, error)
        now = self.store().clock()
        what = f"notifier {notifier}"
        self._write(tracking_id, lambda r: tell.failed(r, what, error, iso(now), writer=False))
        return False, {"tracking_id": tracking_id, "error": f"notifier {notifier}: {error}"}

    def _write(self, tracking_id: str, change: Any) -> None:
        store = self.store()
        key = INCIDENT + tracking_id
        with self.lock(key):
            record = store.get(key)
            if record is None:  # purged meanwhile: nothing to keep it in
                return
            change(record)
            resolved = record["state"] == "resolved"
            ttl = self.lifecycle("incident_ttl_seconds" if resolved else "unresolved_ttl_seconds")
            store.put(key, record, ttl=ttl)


def _error(result: Optional[Any]) -> str:
    """The gist of a failed execution's result (st2 runners differ)."""
    if not isinstance(result, dict):
        return str(result)[:300]
    for key in ("error", "stderr", "body"):
        if result.get(key):
            return str(result[key])[:300]
    if result.get("status_code"):
        return f"HTTP {result['status_code']}"
    return str(result)[:300]
