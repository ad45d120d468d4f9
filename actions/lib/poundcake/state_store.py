"""PoundCake's records in the st2 datastore.

Every key is global (``local=False``) under ``poundcake.``: the sensor and
the actions run as different classes, and ``local=True`` would prefix each
key with ``poundcake.<ClassName>:``, hiding it from the others. Values are
JSON strings (the datastore stores strings).

The datastore has no compare-and-set, so each key has one writer, or writers
that a concurrency policy serialises:

- ``poundcake.incident.<tracking_id>``: opted-in alerts' records, written by
  ``process_alert``'s actions, ``resolve_incident`` and the sensor's watchdog,
  each under the incident's coordination lock (and ``process_alert``
  serialised per tracking id by ``policies/process_one_per_incident.yaml``);
  the records of other alerts from before the sensor's batches are read,
  never written again;
- ``poundcake.rate.<alert>``: the envelope's admissions, under its lock;
- ``poundcake.breaker_failure.<alert>.<tracking_id>``: one per failed
  incident, written by that incident's serialised ``process_alert``;
- ``poundcake.breaker_open.<alert>`` and ``poundcake.suppression.<id>``:
  written by operator actions, and by the breaker when it opens;
- ``poundcake.noise.<hour>.<writer>-<seq>`` (alerts no rule remediates, in
  batches: :mod:`poundcake.noise`) and the hourly indexes
  (:mod:`poundcake.index`): one sensor each, never rewritten (``<writer>``
  is new at every sensor start).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import time
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

# A named lock of st2's coordination backend (PoundCakeAction.lock): the
# datastore has no compare-and-set.
Lock = Callable[[str], AbstractContextManager]

PREFIX = "poundcake."
INCIDENT = PREFIX + "incident."
SUPPRESSION = PREFIX + "suppression."
BREAKER_FAILURE = PREFIX + "breaker_failure."
BREAKER_OPEN = PREFIX + "breaker_open."
NOISE = PREFIX + "noise."
# an open PoundCakeEscalation, by tracking id: what the sensor keeps in Alertmanager
ESCALATION_KEPT = PREFIX + "escalation."
PAGE = 100  # st2api's default api.max_page_size; st2 3.8 lists at most that per call
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}\Z")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hour(ts: float) -> str:
    """The UTC hour of ``ts`` as keys name it: ``YYYYMMDDHH``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%d%H")


def epoch(stamp: str) -> float:
    """Seconds since the epoch of a UTC ``...Z`` timestamp (any fraction length)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    parsed = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return parsed.timestamp() + (float("0." + fraction) if fraction else 0.0)


def alert_key(alertname: str) -> str:
    """A datastore-safe key part for an (untrusted) alertname."""
    if _SAFE_NAME.match(alertname):
        return alertname
    return "h" + hashlib.blake2b(alertname.encode(), digest_size=8).hexdigest()


class StateStore:
    """JSON records over an st2 datastore service (sensor or action service)."""

    def __init__(self, service: Any, clock=time.time) -> None:
        self._svc = service
        self.clock = clock
        self._list_page = _page_lister(service)
        self.calls = 0  # datastore calls made (each one an st2api request)

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        self.calls += 1
        raw = self._svc.get_value(key, local=False)
        return json.loads(raw) if raw else None

    def put(self, key: str, doc: Dict[str, Any], ttl: Optional[int] = None) -> None:
        """Write ``doc``; ``ttl`` seconds of st2 key TTL, ``0`` never expire,
        ``None`` leave as st2 does (no TTL on a new key).

        st2 keeps a key's old ``expire_timestamp`` when it is set again
        without a TTL (seen on the kit), so ``0`` deletes the key first."""
        value = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        self.calls += 1
        if ttl:
            self._svc.set_value(key, value, ttl=int(ttl), local=False)
            return
        if ttl == 0:
            self.calls += 1
            self._svc.delete_value(key, local=False)
        self._svc.set_value(key, value, local=False)

    def delete(self, key: str) -> bool:
        self.calls += 1
        return bool(self._svc.delete_value(key, local=False))

    def scan(
        self, prefix: str, page_bytes: Optional[int] = None, largest: Optional[int] = None
    ) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """Every (key, record) under ``prefix``, page by page (``page_bytes``:
        pages of about that many bytes, for values that may be large: the
        first of 10 keys, the next sized by what the keys so far weighed).
        ``largest``: the most a value under ``prefix`` may weigh (the sensor's
        batches: 1 MB); every page then holds ``page_bytes // largest`` keys,
        however light the first: keys list in name order, not by weight, and
        a page of 100 batches would be 100 MB (the kit's st2api fails on it)."""
        seen = set()
        offset = 0
        size = 10 if page_bytes else PAGE
        if page_bytes and largest:
            size = max(1, min(PAGE, page_bytes // largest))
        while True:
            page = self._list_page(prefix, offset, size)
            self.calls += 1
            fresh = [kvp for kvp in page or [] if kvp.name not in seen]
            for kvp in fresh:
                seen.add(kvp.name)
                if kvp.name.startswith(prefix):
                    yield kvp.name, json.loads(kvp.value)
            if len(page or []) < size or not fresh:
                return
            offset += len(page)
            if page_bytes and not largest:
                weight = max(len(kvp.value) for kvp in page)  # the heaviest, not the mean
                size = max(1, min(PAGE, int(page_bytes // max(weight, 1))))

    def records(self, prefix: str) -> List[Dict[str, Any]]:
        return [doc for _, doc in self.scan(prefix)]

    def any(self, prefix: str) -> bool:
        """Whether any key starts with ``prefix`` (one call, one key read)."""
        self.calls += 1
        return any(kvp.name.startswith(prefix) for kvp in self._list_page(prefix, 0, 1) or [])


def _page_lister(service: Any) -> Callable[..., List[Any]]:
    """``(prefix, offset[, limit]) -> one page of key-value pairs`` for this st2.

    st2 3.9 added ``limit``/``offset`` to the sensor and action services'
    ``list_values``. On 3.8 those take only ``local`` and ``prefix`` and return
    the first ``api.max_page_size`` keys, so paging goes through their
    ``datastore_service``, whose ``list_values`` already pages. A service
    that pages nowhere (st2 3.8's test mock) returns everything at once.
    """
    store = getattr(service, "datastore_service", None)
    for lister in (service.list_values, getattr(store, "list_values", None)):
        if lister is not None and _takes(lister, "offset"):
            return partial(_paged, lister)
    return partial(_unpaged, service.list_values)


def _paged(
    lister: Callable[..., List[Any]], prefix: str, offset: int, limit: int = PAGE
) -> List[Any]:
    return lister(local=False, prefix=prefix, limit=limit, offset=offset)


def _unpaged(
    lister: Callable[..., List[Any]], prefix: str, offset: int, limit: int = PAGE
) -> List[Any]:
    return [] if offset else lister(local=False, prefix=prefix)


def _takes(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):  # not introspectable: assume the oldest API
        return False
