"""Open ``PoundCakeEscalation`` alerts, kept in Alertmanager by the sensor.

A writer posts an incident's escalation once, with a far ``endsAt``, and
the resolve ends it (:mod:`poundcake.transitions`). Alertmanager holds
alerts in memory only: a restart forgets that escalation, and nobody is
paged for it again (Prometheus re-sends its alerts for the same reason).
So the sensor's state poll re-posts every escalation its view shows open,
every ``escalation_repost_seconds``, as it was posted (labels, annotations,
``startsAt``, ``endsAt``) and to the Alertmanager it was posted to: one it
still holds takes the re-post as the same alert and pages nobody twice. An
escalation whose end was never posted (Alertmanager unreachable at the
resolve, through the writer's retries) gets its end posted here, once per
sensor run. One POST per Alertmanager a round, no datastore call.

It sees what the view holds: every incident PoundCake must act on comes
first there, and after a restart the records the start read back (the
opted-in ones of the last 6 h).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from poundcake.alertmanager_api import Alertmanager, AlertmanagerError
from poundcake.state_store import epoch, iso

DEFAULT_REPOST_SECONDS = 300
_PART = 500  # alerts per POST
_ENDED_KEPT = 10_000


def kept(doc: Mapping[str, Any], fallback_url: str, now: float) -> Optional[Tuple[str, Dict]]:
    """``(Alertmanager URL, alert)`` to post for the incident ``doc`` (as
    shown), or None: no escalation, ended, lived out, or nowhere to post."""
    book = (doc.get("notifications") or {}).get("escalation")
    if not book or book.get("ended_at"):
        return None
    url = book.get("alertmanager_url") or fallback_url
    try:
        alive = url and epoch(book["ends_at"]) > now
        alert = {
            "labels": book["labels"],
            "annotations": book["annotations"],
            "startsAt": book["starts_at"],
            "endsAt": iso(now) if doc.get("state") == "resolved" else book["ends_at"],
        }
    except (KeyError, TypeError, ValueError):  # a record from another version
        return None
    return (url, alert) if alive else None


class EscalationKeeper:
    def __init__(
        self,
        every: float,
        metrics: Any,
        log: Any,
        fallback_url: str = "",
        clock: Callable[[], float] = time.time,
        client: Callable[[str], Alertmanager] = Alertmanager,
    ) -> None:
        self._every = every
        self._metrics = metrics
        self._log = log
        self._url = fallback_url
        self._clock = clock
        self._client = client
        self._due = 0.0
        self._ended: Dict[str, None] = {}  # ends posted this run, oldest first

    def keep(self, shown: Iterable[Mapping[str, Any]]) -> int:
        """Re-post the open escalations of ``shown`` (and post the ends a
        resolve left unposted) if a round is due; return how many went."""
        now = self._clock()
        if now < self._due:
            return 0
        self._due = now + self._every
        by_url: Dict[str, List[Tuple[str, bool, Dict]]] = {}
        for doc in shown:
            found = kept(doc, self._url, now)
            ending = doc.get("state") == "resolved"
            if found is None or (ending and doc["tracking_id"] in self._ended):
                continue
            by_url.setdefault(found[0], []).append((doc["tracking_id"], ending, found[1]))
        firing = sum(not ending for items in by_url.values() for _, ending, _ in items)
        self._metrics.escalations_open.set(firing)
        posted = 0
        for url, items in by_url.items():
            for start in range(0, len(items), _PART):
                part = items[start : start + _PART]
                try:
                    self._client(url).post_alerts([alert for _, _, alert in part])
                except AlertmanagerError as exc:
                    self._metrics.notifications_failed.inc()
                    self._log.warning(
                        "re-posting %d PoundCakeEscalation alert(s) to %s failed: %s",
                        len(part), url, exc,
                    )  # fmt: skip
                    continue
                posted += len(part)
                for tracking_id, ending, _ in part:
                    if ending:
                        self._ended[tracking_id] = None
        while len(self._ended) > _ENDED_KEPT:
            del self._ended[next(iter(self._ended))]
        return posted
