"""The sensor's own view of recent incidents, kept without rereading the datastore.

Every incident starts as an alert the sensor took, so the sensor already
knows most of what the records say: it wrote the records of alerts no rule
remediates itself (:mod:`poundcake.recorder`). What it cannot see is what
st2's actions write for opted-in alerts (``process_alert`` deciding and
finishing, ``resolve_incident`` closing). So it *watches* those incidents,
from their dispatch until their record settles, and the state poll reads
only the watched keys. A poll's cost then follows the remediations in
flight, never the incidents retained (st2 keeps them for days).

The view holds ``limit`` incidents (what the board and the metrics show):
every one PoundCake acted on or must act on, then the newest of the rest
(:func:`~poundcake.incidents.attention`), so a storm of noise cannot push
the one remediation out. It is seeded once when the sensor starts, from what
:func:`poundcake.queries.recent` reads back (the opted-in incidents of the
last ``watch_seconds`` and the newest of the sensor's batches, however many
records are retained).
"""

from __future__ import annotations

import copy
import heapq
import threading
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from poundcake.incidents import attention
from poundcake.noise import apply_event
from poundcake.reader import newest_first
from poundcake.resolution import close
from poundcake.state_store import epoch

# States an opted-in incident's record settles in until its alert resolves.
_UNSETTLED = ("received", "awaiting_approval", "remediating")
WATCH_SECONDS = 6 * 3600  # longer than any remediation's timeout


def _kept_first(doc: Mapping[str, Any]) -> Tuple[bool, str, str]:
    """Larger is kept: acted on or to act on before noted only, then newer before older."""
    return (attention(doc)[0] < 2, *newest_first(doc))


class IncidentView:
    def __init__(self, limit: int = 5000, watch_seconds: float = WATCH_SECONDS) -> None:
        self._limit = limit
        self._watch_seconds = watch_seconds
        self._lock = threading.Lock()
        self._shown: Dict[str, Dict[str, Any]] = {}
        # tracking_id -> (give up at, settled only by a resolve)
        self._watched: Dict[str, Tuple[float, bool]] = {}
        # tracking_id -> (dispatched at, the firing payload): for the watchdog
        self._firing: Dict[str, Tuple[float, Mapping[str, Any]]] = {}

    def seed(self, shown: Iterable[Dict[str, Any]], now: float) -> None:
        """Take what the sensor's start read back (:func:`poundcake.queries.recent`,
        or every record on an install from before the index) under what the
        sensor saw since it started; watch what is in flight."""
        until = now + self._watch_seconds
        in_flight = []

        def noting_in_flight() -> Iterator[Dict[str, Any]]:
            for doc in shown:
                if doc["state"] in _UNSETTLED:
                    in_flight.append(doc["tracking_id"])
                yield doc

        # One pass, at most ``limit`` records held: the read may be 100,000.
        newest = heapq.nlargest(self._limit, noting_in_flight(), key=_kept_first)
        with self._lock:
            for doc in newest:
                self._shown.setdefault(doc["tracking_id"], doc)
            for tracking_id in in_flight:
                self._watched.setdefault(tracking_id, (until, False))
            self._trim()

    def put(self, doc: Dict[str, Any]) -> None:
        """One incident as shown now (the recorder's write, a watched read)."""
        with self._lock:
            self._shown[doc["tracking_id"]] = doc
            if len(self._shown) > self._limit * 1.25:
                self._trim()

    def take_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """What the recorder stored (:mod:`poundcake.noise` events): each
        applied to the incident in view, a resolve to every open incident of
        its fingerprint, as readers replay them."""
        with self._lock:
            by_fingerprint: Dict[str, List[Dict[str, Any]]] = {}
            for doc in self._shown.values():
                by_fingerprint.setdefault(doc["fingerprint"], []).append(doc)
            for ev in events:
                mine = by_fingerprint.setdefault(ev["fingerprint"], [])
                shown = [d for d in mine if d["tracking_id"] == ev["tracking_id"]]
                if ev["status"] == "resolved":
                    for i, doc in enumerate(mine):
                        if doc["state"] != "resolved" and doc["tracking_id"] != ev["tracking_id"]:
                            # a copy: the board may still hold the shown one
                            closed = mine[i] = copy.deepcopy(doc)
                            close(closed, ev, epoch(ev["at"]))
                            self._shown[closed["tracking_id"]] = closed
                doc = apply_event(copy.deepcopy(shown[0]) if shown else None, ev)
                self._shown[doc["tracking_id"]] = doc
                mine[:] = [d for d in mine if d["tracking_id"] != doc["tracking_id"]] + [doc]
            if len(self._shown) > self._limit * 1.25:
                self._trim()

    def watch(self, payload: Mapping[str, Any], now: float) -> None:
        """Follow an opted-in alert st2 was just given. A resolve closes every
        open incident of its fingerprint, so those are watched too."""
        resolved = payload["status"] == "resolved"
        until = now + self._watch_seconds
        with self._lock:
            self._watched[payload["tracking_id"]] = (until, resolved)
            if not resolved:
                self._firing[payload["tracking_id"]] = (now, payload)
            if resolved:
                for doc in self._shown.values():
                    if doc["fingerprint"] == payload["fingerprint"] and doc["state"] != "resolved":
                        self._watched[doc["tracking_id"]] = (until, True)

    def watching(self, now: float) -> List[str]:
        """The tracking ids to read on this poll (expired watches dropped)."""
        with self._lock:
            for tracking_id, (until, _) in list(self._watched.items()):
                if until <= now:
                    del self._watched[tracking_id]
            for tracking_id in list(self._firing):
                if tracking_id not in self._watched:
                    del self._firing[tracking_id]
            return list(self._watched)

    def firing(self, tracking_id: str) -> Optional[Tuple[float, Mapping[str, Any]]]:
        """When the sensor dispatched a watched firing, and its payload."""
        with self._lock:
            return self._firing.get(tracking_id)

    def settle(self, tracking_id: str, doc: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        """Take a watched incident's read (``None``: not written yet); stop
        watching once it settled. Returns what the view showed before."""
        with self._lock:
            before = self._shown.get(tracking_id)
            if doc is None:
                return before
            self._shown[tracking_id] = doc
            _, by_resolve = self._watched.get(tracking_id, (0, False))
            if doc["state"] == "resolved" or (not by_resolve and doc["state"] not in _UNSETTLED):
                self._watched.pop(tracking_id, None)
                self._firing.pop(tracking_id, None)
            return before

    @property
    def limit(self) -> int:
        return self._limit

    def shown(self) -> List[Dict[str, Any]]:
        """The incidents in view (at most ``limit``), newest first."""
        with self._lock:
            self._trim()
            return sorted(self._shown.values(), key=newest_first, reverse=True)

    def _trim(self) -> None:
        if len(self._shown) <= self._limit:
            return
        keep = heapq.nlargest(self._limit, self._shown.values(), key=_kept_first)
        self._shown = {doc["tracking_id"]: doc for doc in keep}
