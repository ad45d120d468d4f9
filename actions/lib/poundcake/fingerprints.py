"""Which of the sensor's batches hold a fingerprint's events, for ``get_alert``.

A fingerprint's incidents of alerts no rule remediates are events in the
sensor's batches (:mod:`poundcake.noise`), many alerts to a key, so no key
name says where they are; and walking the hourly index for them would cost
a call per hour and per hundred keys the sensor wrote (a flush every 15 s).
So the index writer keeps a map *batch key → fingerprints* at two levels,
written with its other keys (never rewritten):

- ``poundcake.fingerprints.r.<YYYYMMDDHH>.<writer>-<seq>``: one key per
  flush that stored batches, kept :data:`RECENT_HOURS` hours;
- ``poundcake.fingerprints.h.<shard>.<YYYYMMDDHH>.<writer>-<seq>``: the same,
  compacted when the hour has passed (at the first flush after it, and when
  the sensor stops), in :data:`SHARDS` shards by the fingerprint's first hex
  digit, kept as long as the records. A shard holds an hour in one key or a
  few, so ``get_alert`` lists a few keys per hour retained (100 a call), not
  a few hundred.

``get_alert`` (and ``get_request``) read the fingerprint's shard and the
recent keys of the hours not compacted yet, then the batches they name. What
a crash costs: the hour it happened in is never compacted, so once its
recent keys expire (:data:`RECENT_HOURS` after it) ``get_alert`` misses its
batched alerts (``list_alerts`` and ``alert_stats`` still find them through
the hourly index).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Iterable, List, Set, Tuple

from poundcake.sizes import size, split
from poundcake.state_store import PREFIX, StateStore, hour

FINGERPRINTS = PREFIX + "fingerprints."
RECENT = FINGERPRINTS + "r."
HOURLY = FINGERPRINTS + "h."
SHARDS = 4
RECENT_HOURS = 3
# Fingerprints held for compaction before an hour is written early (memory bound).
MAX_HELD = 100_000
_HOUR = 3600
_OVERHEAD = size({"batches": {}})

# One document to write: (key prefix with its hour, document, kept how long: "recent" or "hourly")
Write = Tuple[str, Dict[str, Any], str]


def shard(fingerprint: str) -> str:
    return str(int(fingerprint[0], 16) * SHARDS // 16)


class FingerprintIndex:
    """The index writer's part: collects batch keys and their fingerprints."""

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self._recent: Dict[str, Set[str]] = defaultdict(set)  # batch key -> fingerprints
        self._hourly: Dict[str, Dict[str, Set[str]]] = defaultdict(lambda: defaultdict(set))
        self._held = 0
        self._max_held = max_held

    @property
    def pending(self) -> int:
        """Entries waiting for the next flush (not those held until their hour is over)."""
        return sum(len(f) for f in self._recent.values())

    def add(self, key: str, fingerprints: Iterable[str], hour: str) -> None:
        """The batch ``key`` (written in ``hour``) holds events of ``fingerprints``."""
        for fingerprint in fingerprints:
            self._recent[key].add(fingerprint)
            self._hourly[hour][key].add(fingerprint)
            self._held += 1

    def writes(self, hour: str, everything: bool = False) -> List[Write]:
        """What to write now that it is ``hour``, taken from what is held:
        the recent entries, and every hour before this one compacted (this
        one too when ``everything``, or when too much is held)."""
        out: List[Write] = []
        if self._recent:
            for doc in _docs(self._recent):
                out.append((f"{RECENT}{hour}.", doc, "recent"))
            self._recent = defaultdict(set)
        for done in [h for h in self._hourly if h != hour or everything or self._full()]:
            batches = self._hourly.pop(done)
            by_shard: Dict[str, Dict[str, Set[str]]] = defaultdict(lambda: defaultdict(set))
            for key, fingerprints in batches.items():
                self._held -= len(fingerprints)
                for fingerprint in fingerprints:
                    by_shard[shard(fingerprint)][key].add(fingerprint)
            for part, entries in sorted(by_shard.items()):
                out += [(f"{HOURLY}{part}.{done}.", doc, "hourly") for doc in _docs(entries)]
        return out

    def keep(self, write: Write, hour: str) -> None:
        """Take back a document that could not be written, for the next flush."""
        prefix, doc, kind = write
        for key, fingerprints in doc["batches"].items():
            if kind == "recent":
                self._recent[key].update(fingerprints)
            else:
                self._hourly[prefix.rsplit(".", 2)[-2]][key].update(fingerprints)
                self._held += len(fingerprints)

    def _full(self) -> bool:
        return self._held > self._max_held


def _docs(entries: Dict[str, Set[str]]) -> List[Dict[str, Any]]:
    items = [(key, sorted(fingerprints)) for key, fingerprints in entries.items()]
    return [{"batches": dict(part)} for part in split(items, base=_OVERHEAD, measure=size)]


class Lookup:
    """Finds the batches of fingerprints, reading each shard (and the recent
    keys) at most once: a delivery's thousand fingerprints cost what one does."""

    def __init__(self, store: StateStore, page_bytes: int) -> None:
        self._store = store
        self._page_bytes = page_bytes
        self._read: Dict[str, List[Dict[str, Any]]] = {}

    def batches_of(self, fingerprint: str) -> List[str]:
        """The batch keys that hold events of ``fingerprint``: its shard of the
        compacted hours, and the recent keys of every hour they are kept (an
        hour a crash left uncompacted stays found as long; the next hour
        too, for a clock ahead)."""
        now = self._store.clock()
        prefixes = [f"{HOURLY}{shard(fingerprint)}."]
        prefixes += [f"{RECENT}{hour(now + k * _HOUR)}." for k in range(1, -RECENT_HOURS - 1, -1)]
        found = [
            key
            for prefix in prefixes
            for doc in self._docs(prefix)
            for key, fingerprints in doc.get("batches", {}).items()
            if fingerprint in fingerprints
        ]
        return list(dict.fromkeys(found))

    def _docs(self, prefix: str) -> List[Dict[str, Any]]:
        if prefix not in self._read:
            scan = self._store.scan(prefix, self._page_bytes)
            self._read[prefix] = [doc for _, doc in scan]
        return self._read[prefix]
