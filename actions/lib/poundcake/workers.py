"""Run many small blocking calls concurrently, with one global bound.

st2 runs each sensor in an eventlet monkey-patched process, where one
``sensor_service.dispatch`` costs 6-35 ms and only overlaps with others on
green threads. Outside st2 (the demo, the benchmark) the same code runs on
OS threads. Either way the pool has ``size`` workers for the whole process,
so a storm of deliveries cannot open unbounded connections to the broker.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator


def eventlet_is_active() -> bool:
    """True when eventlet has monkey-patched the thread module (as st2 does)."""
    eventlet = sys.modules.get("eventlet")
    if eventlet is None:
        return False
    from eventlet import patcher

    return bool(patcher.is_monkey_patched("thread"))


class WorkerPool:
    """``size`` workers shared by every caller; :meth:`drain` fans a batch out."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("worker pool size must be at least 1")
        self.size = size
        if eventlet_is_active():
            from eventlet.greenpool import GreenPool

            self._green = GreenPool(size)
            self._threads = None
            self.kind = "eventlet green threads"
        else:
            self._green = None
            self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="poundcake")
            self.kind = "OS threads"

    def drain(self, func: Callable[[Any], None], items: Iterable[Any]) -> None:
        """Start workers that call ``func`` on every item; return at once.

        Workers pull from one shared iterator, so a slow call delays only its
        own worker. ``func`` must record its own outcome and not raise.
        """
        batch = list(items)
        shared: Iterator[Any] = iter(batch)

        def worker() -> None:
            for item in shared:
                func(item)

        for _ in range(min(self.size, len(batch))):
            if self._green is not None:
                self._green.spawn_n(worker)
            else:
                self._threads.submit(worker)

    def close(self) -> None:
        """Take no more work; a dispatch still running is not waited for."""
        if self._threads is not None:
            self._threads.shutdown(wait=False)
