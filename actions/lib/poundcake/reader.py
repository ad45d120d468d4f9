"""Reading incidents back: the per-incident records and the sensor's batches.

Two kinds of record show an incident: the per-incident records st2's actions
write for alerts a rule remediates (and that the sensor wrote for the others
before its batches), one get each, the resolve written in; and the sensor's
batches (:mod:`poundcake.noise`), one get per batch for all the incidents in
it. The hourly index (:mod:`poundcake.index`) says which to read; a
:class:`Reader` reads each batch once, and knows the resolves of the hours
it was given.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from poundcake import index, noise
from poundcake.incidents import view
from poundcake.index import Entry, Hour
from poundcake.lifecycle_config import Retention
from poundcake.state_store import INCIDENT, StateStore, epoch


def incidents(store: StateStore) -> Iterator[Dict[str, Any]]:
    """Every per-incident record, as read (page by page, so a caller that
    keeps only what it needs holds only that)."""
    for _, doc in store.scan(INCIDENT):
        yield view(doc)


def newest_first(doc: Mapping[str, Any]) -> Tuple[str, str]:
    """Sort key: the incident that started last first (then the last created)."""
    return (doc.get("starts_at", ""), doc.get("created_at", ""))


class Reader:
    """Shows incidents from index rows, reading each batch once.

    Fed the hours of a walk back from now (:meth:`take`), it knows every
    resolve that may have closed an incident of an hour it has passed.
    After ``max_reads`` single reads of per-incident records it reads all of
    them at once (100 a call) instead.
    """

    def __init__(
        self, store: StateStore, retention: Retention, max_reads: Optional[int] = None
    ) -> None:
        self.store = store
        self.retention = retention
        self._max_reads = max_reads
        self._batches: Dict[str, List[Dict[str, Any]]] = {}
        self._closes: Dict[str, List[index.Resolve]] = defaultdict(list)
        self._records: Optional[Dict[str, Dict[str, Any]]] = None
        self.reads = 0

    def take(self, hour: Hour) -> None:
        for resolve in hour.resolves:
            self._closes[resolve.fingerprint].append(resolve)

    def state(self, tracking_id: str, entries: List[Entry]) -> Optional[str]:
        """The state of a batched incident from its rows alone (``None``: it
        has a per-incident record, read it; ``""``: gone)."""
        if not entries or any(e.opted_in or not e.where for e in entries):
            return None
        fingerprint = tracking_id.rsplit("-", 1)[0]
        first = min(epoch(e.at) for e in entries if e.at) if any(e.at for e in entries) else 0.0
        closed = [epoch(r.at) for r in self._closes.get(fingerprint, ()) if epoch(r.at) >= first]
        if any(e.state == "resolved" for e in entries) or closed:
            at = min(closed) if closed else max(epoch(e.at) for e in entries if e.at)
            return "" if self.retention.gone(at, self.store.clock()) else "resolved"
        return max(entries, key=lambda e: e.at).state

    def show(self, tracking_id: str, entries: List[Entry]) -> Optional[Dict[str, Any]]:
        """One incident as operators see it (``None``: not recorded, or gone)."""
        batches = list(dict.fromkeys(e.where for e in entries if e.where))
        if not batches:  # a per-incident record
            return self._record(tracking_id)
        legacy = self._record(tracking_id) if any(not e.where for e in entries) else None
        events = [
            ev for key in batches for ev in self.batch(key) if ev["tracking_id"] == tracking_id
        ]
        fingerprint = tracking_id.rsplit("-", 1)[0]
        events += [close_event(r) for r in self._closes.get(fingerprint, ())]
        start = {tracking_id: legacy} if legacy is not None else None
        record = noise.replay(events, start).get(tracking_id)
        if record is None or not noise.retained(record, self.store.clock(), self.retention):
            return None
        return record

    def batch(self, key: str) -> List[Dict[str, Any]]:
        """The events of one batch (``[]``: expired)."""
        if key not in self._batches:
            doc = self.store.get(key)
            self._batches[key] = doc["events"] if doc else []
        return self._batches[key]

    def _record(self, tracking_id: str) -> Optional[Dict[str, Any]]:
        if self._records is None and self._max_reads is not None and self.reads >= self._max_reads:
            self._records = {doc["tracking_id"]: doc for doc in incidents(self.store)}
        if self._records is not None:
            return self._records.get(tracking_id)
        self.reads += 1
        return shown(self.store, tracking_id)


def close_event(resolve: index.Resolve) -> Dict[str, Any]:
    return {
        "tracking_id": resolve.tracking_id,
        "fingerprint": resolve.fingerprint,
        "status": "resolved",
        "at": resolve.at,
    }


def by_incident(entries: Iterable[Entry]) -> Dict[str, List[Entry]]:
    rows: Dict[str, List[Entry]] = defaultdict(list)
    for entry in entries:
        rows[entry.tracking_id].append(entry)
    return rows


def shown(store: StateStore, tracking_id: str) -> Optional[Dict[str, Any]]:
    """One per-incident record as :func:`incidents` shows it (None: not
    written, or expired)."""
    record = store.get(INCIDENT + tracking_id)
    if record is None:
        return None
    return view(record)
