"""A sensor service for running the sensor outside st2 (demo, e2e, bench).

It behaves like st2's on the points the pack depends on: ``dispatch`` checks
the payload against the trigger's declared ``payload_schema`` with st2's own
validator (:mod:`st2_schemas`) and, like st2, logs and drops an invalid one
(returns None) instead of raising. Each
accepted trigger is written as one JSON line to the sink. Knobs simulate a
slow or failing message bus. The datastore is a dict with st2's key naming,
so the sensor's state poll reads an empty datastore instead of failing.

Nothing here imports ``st2tests``: st2's ``st2tests.base`` eventlet-patches
the process at import, and the demo and the ``threads`` e2e runs must stay
on OS threads.
"""

import json
import logging
import threading
import time
from types import SimpleNamespace

from st2_schemas import trigger_schemas, validate_trigger_payload

LOCAL_KEY_PREFIX = "poundcake.AlertmanagerWebhookSensor:"  # st2's local=True prefix
MAX_PAGE_SIZE = 100  # st2api's default api.max_page_size: a listing without limit gets this many


class DispatchFailure(RuntimeError):
    """Simulated broker failure."""


class LocalSensorService:
    def __init__(self, sink, dispatch_delay=0.0, fail_first=0, validate=True):
        self._sink = sink
        self._lock = threading.Lock()
        self._delay = dispatch_delay
        self._fail_left = fail_first
        self._schemas = trigger_schemas() if validate else None
        self.dispatched = 0
        self.dropped = 0
        self._values = {}

    def get_logger(self, name):
        return logging.getLogger(f"poundcake.{name}")

    # st2's SensorService datastore methods, with their signatures; values
    # are kept as strings and listed as objects with .name and .value, as st2.
    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        start = (LOCAL_KEY_PREFIX if local else "") + (prefix or "")
        with self._lock:
            items = sorted(self._values.items())
        found = [SimpleNamespace(name=k, value=v) for k, v in items if k.startswith(start)]
        offset = offset or 0
        return found[offset : offset + (limit or MAX_PAGE_SIZE)]

    def get_value(self, name, local=True, decrypt=False):
        with self._lock:
            return self._values.get(_key(name, local))

    def set_value(self, name, value, ttl=None, local=True, encrypt=False):
        with self._lock:
            self._values[_key(name, local)] = str(value)
        return True

    def delete_value(self, name, local=True):
        with self._lock:
            return self._values.pop(_key(name, local), None) is not None

    def dispatch(self, trigger, payload=None, trace_tag=None):
        if self._delay:
            time.sleep(self._delay)
        with self._lock:
            if self._fail_left > 0:
                self._fail_left -= 1
                raise DispatchFailure("simulated message bus failure")
        if self._schemas is not None:
            try:
                validate_trigger_payload(self._schemas[trigger], payload)
            except Exception as exc:  # st2 drops on any error, a bad schema included
                logging.getLogger("poundcake.local").warning(
                    "dropping %s: payload fails its schema: %s", trigger, exc
                )
                with self._lock:
                    self.dropped += 1
                return None
        line = None
        if self._sink is not None:
            line = json.dumps({"trigger": trigger, "trace_tag": trace_tag, "payload": payload})
        with self._lock:
            self.dispatched += 1
            if line is not None:
                self._sink.write(line + "\n")
                self._sink.flush()
        return {"trigger": trigger, "payload": payload, "trace_tag": trace_tag}


def _key(name, local):
    return LOCAL_KEY_PREFIX + name if local else name
