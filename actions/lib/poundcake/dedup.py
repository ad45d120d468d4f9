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
from typing import Callable, Optional, Union


class Claim:
    """A dispatch in progress; others may wait for its outcome."""

    __slots__ = ("_done", "ok")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.ok = False

    def wait(self, timeout: Optional[float]) -> bool:
        """True when the claim ended in a successful dispatch within ``timeout``."""
        return self._done.wait(timeout) and self.ok

    @property
    def done(self) -> bool:
        return self._done.is_set()


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

    def claim(self, key: str) -> tuple[Optional[Claim], Optional[Claim]]:
        """Try to take ``key``.

        Returns ``(mine, None)`` when the caller must dispatch and then call
        :meth:`commit` or :meth:`release` with ``mine``; ``(None, theirs)``
        when another dispatch of the key is in flight; ``(None, None)`` when
        the key was dispatched within the window (a duplicate).
        """
        with self._lock:
            now = self._clock()
            self._expire(now)
            entry = self._entries.get(key)
            if isinstance(entry, Claim):
                return None, entry
            if entry is not None and entry > now:
                return None, None
            mine = Claim()
            self._entries[key] = mine
            self._entries.move_to_end(key)
            self._evict()
            return mine, None

    def commit(self, key: str, claim: Claim) -> None:
        with self._lock:
            if self.window > 0:
                self._entries[key] = self._clock() + self.window
                self._entries.move_to_end(key)
                self._evict()
            elif self._entries.get(key) is claim:
                del self._entries[key]
        claim.ok = True
        claim._done.set()

    def release(self, key: str, claim: Claim) -> None:
        with self._lock:
            if self._entries.get(key) is claim:
                del self._entries[key]
        claim._done.set()

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
