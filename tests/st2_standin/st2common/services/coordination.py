"""Stand-in for st2common.services.coordination (st2 wraps tooz).

``get_coordinator(start_heart=True, use_cache=True)`` returns a coordinator
whose ``get_lock(name)`` gives a lock like tooz's: a context manager that
blocks until acquired, one per name across the process (the tests' many
"action runs" share one process, as they share one datastore). st2 without
a coordination backend hands out a no-op lock instead; the stand-in models
a configured backend, the one the pack's caps need.
"""

import threading

_LOCKS = {}
_GUARD = threading.Lock()


class _Lock:
    def __init__(self, name):
        self.name = name
        with _GUARD:
            self._lock = _LOCKS.setdefault(name, threading.Lock())

    def acquire(self, blocking=True):
        return self._lock.acquire(blocking)

    def release(self):
        self._lock.release()
        return True

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class _Coordinator:
    def get_lock(self, name):
        return _Lock(name)


COORDINATOR = _Coordinator()


def get_coordinator(start_heart=True, use_cache=True):
    return COORDINATOR
