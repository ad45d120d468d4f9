"""Open ``PoundCakeEscalation`` alerts, kept in Alertmanager by the sensor.

A writer posts an incident's escalation once, with a far ``endsAt``, and
names it, the alert with it, in ``poundcake.escalation.<tracking_id>``
(whether the post worked or not; the key's TTL is the escalation's
lifetime); the resolve ends it (:mod:`poundcake.transitions`).
Alertmanager holds alerts in memory only: a restart forgets the
escalation, and nobody is paged for it again (Prometheus re-sends its
alerts for the same reason). So every ``escalation_repost_seconds`` the
sensor's state poll lists those names (one call) and, for each, under the
incident's lock (the writers hold it while they post and store; another
sensor pod takes it too), reads the record and does what it says:

- the escalation is open: post it again as it was posted (labels,
  annotations, ``startsAt``, ``endsAt``); an Alertmanager that still holds
  it, and its notification log, takes the same alert and pages nobody twice;
- the record has none (the writer's post failed, or its record was not
  stored): post the name's copy, and write it into the record;
- the incident resolved but the end never reached Alertmanager (past the
  writer's retries): post the end, and write it into the record;
- ended: drop the name. A record that cannot be read (st2's datastore
  service answers an error as "no such key") or an escalation that lived
  out is left to the key's TTL.

Reading the record under the lock is what keeps a re-post from bringing
back an escalation its resolve just ended. An unreachable Alertmanager (or
a 5xx) ends the round, counted and logged: the next round tries again; one
it refuses (4xx) is counted and logged, and the round goes on.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional

from poundcake.alertmanager_api import (
    Alertmanager,
    AlertmanagerError,
    escalation_again,
    escalation_book,
)
from poundcake.notifiers import bookkeeping
from poundcake.state_store import ESCALATION_KEPT, INCIDENT, Lock, StateStore, epoch, iso

FIRING, ENDED, DROPPED, LEFT = "firing", "ended", "dropped", "left"
KEEPER = "the sensor's escalation keeper"


def book_of(record: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """The record's escalation bookkeeping (``notifications.escalation``), if any."""
    notifications = (record or {}).get("notifications")
    book = notifications.get("escalation") if isinstance(notifications, dict) else None
    return book if isinstance(book, dict) else None


def lived_out(book: Mapping[str, Any], now: float) -> bool:
    try:
        return epoch(book["ends_at"]) <= now
    except (KeyError, TypeError, ValueError):  # not an escalation this version wrote
        return True


class EscalationKeeper:
    def __init__(
        self,
        store: StateStore,
        lock: Lock,
        alertmanager: Alertmanager,
        every: float,
        ttl: Mapping[str, int],
        metrics: Any,
        log: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``ttl``: the records' key TTL, ``resolved`` and ``unresolved``, as
        the writers store them (``incident_ttl_seconds``, ``unresolved_ttl_seconds``)."""
        self._store = store
        self._lock = lock
        self._am = alertmanager
        self._every = every
        self._ttl = ttl
        self._metrics = metrics
        self._log = log
        self._clock = clock
        self._due = 0.0

    def keep(self) -> Dict[str, int]:
        """A round, if one is due: how many escalations went out again, were
        ended, were dropped, were left to their TTL (empty when none was due)."""
        now = self._clock()
        if now < self._due:
            return {}
        self._due = now + self._every
        done = {FIRING: 0, ENDED: 0, DROPPED: 0, LEFT: 0}
        for key, marker in list(self._store.scan(ESCALATION_KEPT)):
            tracking_id = key[len(ESCALATION_KEPT) :]
            try:
                done[self._one(tracking_id, marker, now)] += 1
            except AlertmanagerError as exc:
                self._metrics.notifications_failed.inc()
                self._log.warning(
                    "keeping the PoundCakeEscalation of %s in %s failed: %s",
                    tracking_id, self._am.url, exc,
                )  # fmt: skip
                if exc.retryable:  # down: the next round tries them all again
                    return done
            except Exception as exc:  # st2api, a record another version wrote: the others go on
                self._log.warning("keeping the escalation of %s failed: %s", tracking_id, exc)
        self._metrics.escalations_open.set(done[FIRING])
        return done

    def _one(self, tracking_id: str, marker: Mapping[str, Any], now: float) -> str:
        key = INCIDENT + tracking_id
        with self._lock(key):
            record = self._store.get(key)
            if record is None:  # unreadable now, or gone: the name's TTL ends it
                return LEFT
            book = book_of(record)
            resolved = record.get("state") == "resolved"
            if book is not None and book.get("ended_at"):
                self._store.delete(ESCALATION_KEPT + tracking_id)
                return DROPPED
            if book is not None and lived_out(book, now):
                return LEFT
            if book is None:  # the writer's post failed, or its record was not stored
                alert = marker.get("alert")
                if not isinstance(alert, dict):
                    self._store.delete(ESCALATION_KEPT + tracking_id)
                    return DROPPED
                book = {**escalation_book(alert, self._am.url), "posted_by": KEEPER}
                bookkeeping(record)["escalation"] = book  # stored only once posted
                if not resolved:
                    self._am.post_alerts([alert])
                    self._store.put(key, record, ttl=self._ttl["unresolved"])
                    return FIRING
            elif not resolved:
                self._am.post_alerts([escalation_again(book)])
                return FIRING
            ended = iso(now)
            self._am.post_alerts([escalation_again(book, ended)])
            book.update(ends_at=ended, ended_at=ended, ended_by=KEEPER)
            self._store.put(key, record, ttl=self._ttl["resolved"])
            self._store.delete(ESCALATION_KEPT + tracking_id)
            return ENDED
