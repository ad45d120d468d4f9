"""Open ``PoundCakeEscalation`` alerts, kept in Alertmanager by the sensor.

A writer posts an incident's escalation once, with a far ``endsAt``, names
it in ``poundcake.escalation.<tracking_id>``, and the resolve ends it
(:mod:`poundcake.transitions`). Alertmanager holds alerts in memory only: a
restart forgets the escalation, and nobody is paged for it again
(Prometheus re-sends its alerts for the same reason). So every
``escalation_repost_seconds`` the sensor's state poll lists those names
(one call) and, for each, under the incident's lock (the writers hold it
while they post and store; another sensor pod takes it too), reads the
record and does what it says:

- the escalation is open: post it again as it was posted (labels,
  annotations, ``startsAt``, ``endsAt``); an Alertmanager that still holds
  it takes the same alert and pages nobody twice;
- the incident resolved but the end never reached Alertmanager (past the
  writer's retries): post the end and write it into the record;
- ended, lived out, or no record: drop the name.

Reading the record under the lock is what keeps a re-post from bringing
back an escalation its resolve just ended. The first Alertmanager failure
ends the round (counted, logged): the next round tries again.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional

from poundcake.alertmanager_api import Alertmanager, AlertmanagerError, escalation_again
from poundcake.state_store import ESCALATION_KEPT, INCIDENT, Lock, StateStore, epoch, iso

FIRING, ENDED, DROPPED = "firing", "ended", "dropped"


def open_escalation(record: Optional[Dict[str, Any]], now: float) -> Optional[Dict[str, Any]]:
    """The record's escalation bookkeeping if it is still to be kept: posted,
    not ended, not lived out."""
    notifications = (record or {}).get("notifications")
    book = notifications.get("escalation") if isinstance(notifications, dict) else None
    if not isinstance(book, dict) or book.get("ended_at"):
        return None
    try:
        return book if epoch(book["ends_at"]) > now else None
    except (KeyError, TypeError, ValueError):  # not an escalation this version wrote
        return None


class EscalationKeeper:
    def __init__(
        self,
        store: StateStore,
        lock: Lock,
        alertmanager: Alertmanager,
        every: float,
        resolved_ttl: int,
        metrics: Any,
        log: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._lock = lock
        self._am = alertmanager
        self._every = every
        self._resolved_ttl = resolved_ttl  # a resolved record's key TTL (incident_ttl_seconds)
        self._metrics = metrics
        self._log = log
        self._clock = clock
        self._due = 0.0

    def keep(self) -> Dict[str, int]:
        """A round, if one is due: how many escalations went out again, were
        ended, were dropped (none when no round was due)."""
        now = self._clock()
        if now < self._due:
            return {}
        self._due = now + self._every
        done = {FIRING: 0, ENDED: 0, DROPPED: 0}
        for key, _ in list(self._store.scan(ESCALATION_KEPT)):
            tracking_id = key[len(ESCALATION_KEPT) :]
            try:
                done[self._one(tracking_id, now)] += 1
            except AlertmanagerError as exc:  # down: the next round tries them all again
                self._metrics.notifications_failed.inc()
                self._log.warning(
                    "keeping PoundCakeEscalation alerts in %s failed at %s: %s",
                    self._am.url, tracking_id, exc,
                )  # fmt: skip
                return done
            except Exception as exc:  # st2api, a record another version wrote: the others go on
                self._log.warning("keeping the escalation of %s failed: %s", tracking_id, exc)
        self._metrics.escalations_open.set(done[FIRING])
        return done

    def _one(self, tracking_id: str, now: float) -> str:
        key = INCIDENT + tracking_id
        with self._lock(key):
            record = self._store.get(key)
            book = open_escalation(record, now)
            if book is None:
                self._store.delete(ESCALATION_KEPT + tracking_id)
                return DROPPED
            if record["state"] != "resolved":
                self._am.post_alerts([escalation_again(book)])
                return FIRING
            ended = iso(now)
            self._am.post_alerts([escalation_again(book, ended)])
            book.update(ends_at=ended, ended_at=ended, ended_by="the sensor's escalation keeper")
            self._store.put(key, record, ttl=self._resolved_ttl)
            self._store.delete(ESCALATION_KEPT + tracking_id)
            return ENDED
