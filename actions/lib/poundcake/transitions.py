"""What an incident's transition sets off besides its record: the messages,
the escalation alert in Alertmanager, the silence while PoundCake works.

Every writer of an opted-in incident (``record_alert``, ``admit_remediation``,
``finish_remediation``, ``await_clear``, ``note_approval``,
``resolve_incident``, the sensor's watchdog) hands the transitions of its write here, under the
incident's lock and before it stores the record, so what was told is
stored with the state that told it, once:

- each notifier that takes the transition gets one ``poundcake.notify``
  execution, started through st2's API and not waited for: a notifier
  that fails (or st2 refusing its parameters) never changes the
  remediation, its state or its reason; it is counted in the record's
  ``notifications`` and logged;
- an escalating transition posts ``PoundCakeEscalation`` once per
  incident (with ``alertmanager_url``) and names it in
  ``poundcake.escalation.<tracking_id>``, so the sensor keeps it in
  Alertmanager (:mod:`poundcake.escalations`); the resolve ends it;
- ``remediating`` (not a dry run) creates the silence
  (``silence_while_remediating``); every other transition expires it,
  but ``remediated`` when ``await_clear`` follows, which expires it once
  Alertmanager no longer lists the alert, or at its timeout.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from poundcake import notifiers as tell
from poundcake.alertmanager_api import (
    Alertmanager,
    AlertmanagerError,
    escalation_again,
    escalation_alert,
    escalation_book,
    held,
    silence_for,
    unsilenceable,
)
from poundcake.incidents import transitions
from poundcake.st2_api import St2Api, St2ApiError
from poundcake.state_store import ESCALATION_KEPT, StateStore, iso

# (record, its last history entry before the write): what a writer tells of it
Tell = Callable[[Dict[str, Any], Optional[Dict[str, Any]]], None]

NOTIFY = "poundcake.notify"
DEFAULT_SILENCE_MAX = 900
MONTH = 30 * 86400
# The escalation's end is tried again after these pauses: it is told once (at
# the resolve), and an end lost to a blip would page on to its far endsAt.
END_RETRY_SECONDS = (1.0, 3.0)


class Transitions:
    def __init__(
        self,
        config: Mapping[str, Any],
        logger: Any,
        st2: Callable[[], St2Api] = St2Api.from_env,
        alertmanager: Optional[Alertmanager] = None,
        sleep: Callable[[float], None] = time.sleep,
        store: Optional[StateStore] = None,
    ) -> None:
        self.config = config
        self.logger = logger
        self._st2 = st2
        self._sleep = sleep
        self._store = store  # where an open escalation is named for the sensor
        self._trace: Optional[Tuple[St2Api, Optional[str]]] = None
        url = config.get("alertmanager_url") or ""
        self.alertmanager = alertmanager or (Alertmanager(url) if url else None)
        self.config_error = ""
        try:
            self.notifiers = tell.notifiers(config)
        except tell.NotifierConfigError as exc:
            self.notifiers = []
            self.config_error = str(exc)

    def tell(
        self,
        record: Dict[str, Any],
        entries: List[Dict[str, Any]],
        now: float,
        execution_id: str = "",
        keep_silence: bool = False,
    ) -> None:
        """Tell of ``record`` entering each state of ``entries`` (its history
        entries, from ``incidents.transitions``)."""
        for entry in entries:
            state = entry["state"]
            if state not in tell.TRANSITIONS:
                continue
            try:
                told = {**record, "reason": entry["note"]}  # why it entered this state
                fields = tell.fields(told, state, self.config, execution_id)
            except Exception as exc:  # a bug: the write goes on
                self._failed(record, f"telling of {state}", f"{type(exc).__name__}: {exc}", now)
                continue
            # each part on its own: the silence failing oddly still lets the page out
            parts = (
                ("silence", partial(self._silence, keep=keep_silence)),
                ("escalation alert", self._escalation),
                ("notifiers", self._notify),
            )
            for what, part in parts:
                try:
                    part(record, state, now, fields)
                except Exception as exc:  # a bug or a config st2 let through: the write goes on
                    why = f"{type(exc).__name__}: {exc}"
                    self._failed(record, f"{what} of {state}", why, now)

    # ------------------------------------------------------------ messages
    def _notify(self, record: Dict[str, Any], state: str, now: float, fields: Dict) -> None:
        if self.config_error:
            self._failed(record, "notifiers", self.config_error, now)
            return
        for notifier in tell.due(self.notifiers, record, state):
            parameters = {
                "tracking_id": record["tracking_id"],
                "notifier": notifier.name,
                "transition": state,
                "fields": fields,
            }
            try:
                api, trace = self._api()
                started = api.run_later(NOTIFY, parameters, 0, record["tracking_id"], trace)
            except St2ApiError as exc:
                self._failed(record, f"notifier {notifier.name}", str(exc), now)
                started = ""
            tell.told(record, notifier.name, state, iso(now), started)

    def _api(self) -> Tuple[St2Api, Optional[str]]:
        """st2's API, and the trace of the writer's execution: the messages
        join it (``st2 trace get`` shows them with what they tell of)."""
        if self._trace is None:
            api = self._st2()
            self._trace = (api, api.own_trace())
        return self._trace

    # -------------------------------------------------- escalation alert
    def _escalation(self, record: Dict[str, Any], state: str, now: float, fields: Dict) -> None:
        if self.alertmanager is None:
            return
        book = tell.bookkeeping(record)
        posted = book.get("escalation")
        if state in tell.ESCALATIONS and not posted:
            ttl = self.config.get("unresolved_ttl_seconds") or MONTH
            alert = escalation_alert(record, state, fields, iso(now), iso(now + ttl))
            if self._post(record, alert, now, "escalation alert"):
                book["escalation"] = escalation_book(alert, self.alertmanager.url)
            self._keep(record, alert, ttl, now)  # posted or not: the sensor posts it again
        elif state == "resolved" and posted and not posted.get("ended_at"):
            alert = escalation_again(posted, iso(now))
            what = "end of the escalation alert"
            if self._post(record, alert, now, what, END_RETRY_SECONDS):
                posted.update(ends_at=alert["endsAt"], ended_at=iso(now))

    def _keep(self, record: Dict[str, Any], alert: Dict, ttl: int, now: float) -> None:
        """Name the escalation for the sensor, with the alert itself: it
        re-posts it until the record says it ended, and posts it if this
        post failed (:mod:`poundcake.escalations`)."""
        if self._store is None:
            return
        tracking_id = record["tracking_id"]
        marker = {"tracking_id": tracking_id, "alert": alert}
        try:
            self._store.put(ESCALATION_KEPT + tracking_id, marker, ttl=ttl)
        except Exception as exc:  # st2api: it was posted; only an Alertmanager restart loses it
            why = f"{type(exc).__name__}: {exc}"
            self._failed(record, "keeping the escalation alert", why, now)

    def _post(
        self, record: Dict[str, Any], alert: Dict, now: float, what: str, retry: Tuple = ()
    ) -> bool:
        """Post ``alert``, again after each pause of ``retry`` while the
        failure is one a retry can cure; the last failure is counted in the record."""
        for pause in (*retry, None):
            try:
                self.alertmanager.post_alerts([alert])
                return True
            except AlertmanagerError as exc:
                if pause is None or not exc.retryable:
                    self._failed(record, what, str(exc), now)
                    return False
                self.logger.warning(
                    "%s: %s failed (%s); trying again in %.0f s",
                    record["tracking_id"], what, exc, pause,
                )  # fmt: skip
                self._sleep(pause)
        return False

    # ------------------------------------------------------------ silence
    def _silence(
        self, record: Dict[str, Any], state: str, now: float, fields: Dict, keep: bool = False
    ) -> None:
        if state == "remediating":
            dry = (record.get("remediation") or {}).get("dry_run")
            if self.config.get("silence_while_remediating") and not dry and not held(record, now):
                self._create_silence(record, now, fields)
        elif not (state == "remediated" and keep):
            self.expire_silence(record, now, f"the incident is {state}")

    def _create_silence(self, record: Dict[str, Any], now: float, fields: Dict) -> None:
        if self.alertmanager is None:
            why = "silence_while_remediating needs alertmanager_url"
            self._failed(record, "silence", why, now)
            return
        refused = unsilenceable(record)
        if refused:
            self._failed(record, "silence", f"no silence made: {refused}", now)
            return
        bound = self.config.get("silence_max_seconds") or DEFAULT_SILENCE_MAX
        ends = iso(now + bound)
        silence = silence_for(record, iso(now), ends, fields.get("execution_url", ""))
        try:
            silence_id = self.alertmanager.create_silence(silence)
        except AlertmanagerError as exc:
            self._failed(record, "silence", str(exc), now)
            return
        record["silence"] = {"id": silence_id, "created_at": iso(now), "ends_at": ends}

    def store(self, store: Any, key: str, record: Dict[str, Any], ttl: int, now: float) -> None:
        """Store the record ``tell`` was handed; if st2 refuses the write, the
        silence it may have made is expired first (its id would be lost with
        the record, and it would mute the alert to its bound), then the error
        goes on to the caller."""
        try:
            store.put(key, record, ttl=ttl)
        except Exception:
            self.expire_silence(record, now, "the incident's record could not be stored")
            raise

    def expire_silence(self, record: Dict[str, Any], now: float, why: str) -> None:
        """Expire the silence PoundCake holds for the incident, if any."""
        silence = held(record, now)
        if silence is None or self.alertmanager is None:
            return
        try:
            self.alertmanager.expire_silence(silence["id"])
        except AlertmanagerError as exc:
            self._failed(record, "silence expiry", str(exc), now)
            return
        silence.update(expired_at=iso(now), expired_because=why)

    def _failed(self, record: Dict[str, Any], what: str, error: str, now: float) -> None:
        self.logger.error("%s: telling people failed: %s: %s", record["tracking_id"], what, error)
        tell.failed(record, what, error, iso(now))


def teller(
    config: Mapping[str, Any],
    logger: Any,
    st2: Callable[[], St2Api] = St2Api.from_env,
    clock: Callable[[], float] = time.time,
    reuse: bool = False,
    store: Optional[StateStore] = None,
) -> Tell:
    """A ``Tell`` for writers that hand over a record and its last entry
    before the write (``close_incidents``, the watchdog). Each call asks
    ``st2`` afresh (the sensor's token is renewed between calls), unless
    ``reuse``: an action's run tells of all its records with one API client
    and one look-up of its own trace."""
    kept = Transitions(config, logger, st2, store=store) if reuse else None

    def tell(record: Dict[str, Any], since: Optional[Dict[str, Any]]) -> None:
        told = kept or Transitions(config, logger, st2, store=store)
        told.tell(record, transitions(record, since), clock())

    return tell
