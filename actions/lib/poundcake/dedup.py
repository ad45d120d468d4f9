"""Bounded memory of what was dispatched recently, with in-flight claims.

Alertmanager re-sends the same alert on repeat_interval, on group changes,
on retries after a 5xx and once per peer in an HA pair. The sensor must
dispatch one trigger per (incident, status) and still never acknowledge an
alert that was not dispatched. So a key is first *claimed* (pending), and
only a successful dispatch *commits* it for ``window`` seconds; a failed one
releases it. A second delivery that meets a pending claim waits for it
instead of racing it.

Memory is bounded by ``max_entries``: the oldest entries go first. Entries
are kept in expiry order (every commit uses the same window), so expiry and
eviction both pop from the front in O(1).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, List, Optional, Union


class Batch:
    """Claims taken together (one delivery's); one event for all of them.

    One event per delivery rather than per alert keeps a 1,000-alert
    delivery from creating 1,000 condition variables.
    """

    __slots__ = ("_done", "_open", "_lock")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._open = 0
        self._lock = threading.Lock()

    def _add(self) -> None:
        with self._lock:
            self._open += 1

    def _finish_one(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                self._done.set()

    def wait(self, timeout: Optional[float]) -> bool:
        """True when every claim of the batch has ended within ``timeout``."""
        with self._lock:
            if self._open == 0:
                return True
        return self._done.wait(timeout)


class Claim:
    """A dispatch in progress; others may wait for its outcome."""

    __slots__ = ("batch", "done", "ok")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.done = False
        self.ok = False
        batch._add()

    def wait(self, timeout: Optional[float]) -> bool:
        """True when the claim ended in a successful dispatch within ``timeout``."""
        return (self.done or (self.batch.wait(timeout) and self.done)) and self.ok

    def _end(self, ok: bool) -> None:
        self.ok = ok
        self.done = True
        self.batch._finish_one()


_Entry = Union[float, Claim]


class DedupCache:
    def __init__(
        self,
        window: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 0 or max_entries < 1:
            raise ValueError("window must be >= 0 and max_entries >= 1")
        self.window = window
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def claim(self, key: str, batch: Batch) -> tuple[Optional[Claim], Optional[Claim]]:
        """Try to take ``key`` as part of ``batch``.

        Returns ``(mine, None)`` when the caller must dispatch and then call
        :meth:`commit` or :meth:`release` with ``mine``; ``(None, theirs)``
        when another dispatch of the key is in flight; ``(None, None)`` when
        the key was dispatched within the window (a duplicate).
        """
        return self.claim_many([key], batch)[0]

    def claim_many(
        self, keys: List[str], batch: Batch
    ) -> List[tuple[Optional[Claim], Optional[Claim]]]:
        """:meth:`claim` for each key, under one lock (one delivery's alerts)."""
        results = []
        entries = self._entries
        with self._lock:
            now = self._clock()
            self._expire(now)
            for key in keys:
                entry = entries.get(key)
                if isinstance(entry, Claim):
                    results.append((None, entry))
                elif entry is not None and entry > now:
                    results.append((None, None))
                else:
                    mine = Claim(batch)
                    entries[key] = mine
                    entries.move_to_end(key)
                    results.append((mine, None))
            self._evict()
        return results

    def commit(self, key: str, claim: Claim) -> None:
        with self._lock:
            if self.window > 0:
                self._entries[key] = self._clock() + self.window
                self._entries.move_to_end(key)
                self._evict()
            elif self._entries.get(key) is claim:
                del self._entries[key]
        claim._end(ok=True)

    def release(self, key: str, claim: Claim) -> None:
        with self._lock:
            if self._entries.get(key) is claim:
                del self._entries[key]
        claim._end(ok=False)

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            key, entry = next(iter(entries.items()))
            if isinstance(entry, Claim) or entry > now:
                return
            entries.popitem(last=False)

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evictions += 1
