"""A sensor service for running the sensor outside st2 (demo, e2e, bench).

It behaves like st2's on the points the pack depends on: ``dispatch`` checks
the payload against the trigger's declared ``payload_schema`` with st2's own
validator (:mod:`st2_schemas`) and, like st2, logs and drops an invalid one
(returns None) instead of raising. Each
accepted trigger is written as one JSON line to the sink. Knobs simulate a
slow or failing message bus. The datastore is st2's in-memory mock, so the
sensor's state poll reads an empty datastore instead of failing.
"""

import json
import logging
import threading
import time

from st2_schemas import trigger_schemas, validate_trigger_payload
from st2tests.mocks.datastore import MockDatastoreService


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
        self.datastore = MockDatastoreService(
            logger=self.get_logger("datastore"),
            pack_name="poundcake",
            class_name="AlertmanagerWebhookSensor",
        )

    def get_logger(self, name):
        return logging.getLogger(f"poundcake.{name}")

    # st2's SensorService datastore methods, with their signatures.
    def list_values(self, local=True, prefix=None, limit=None, offset=0):
        return self.datastore.list_values(local=local, prefix=prefix, limit=limit, offset=offset)

    def get_value(self, name, local=True, decrypt=False):
        return self.datastore.get_value(name, local=local, decrypt=decrypt)

    def set_value(self, name, value, ttl=None, local=True, encrypt=False):
        return self.datastore.set_value(name, value, ttl=ttl, local=local, encrypt=encrypt)

    def delete_value(self, name, local=True):
        return self.datastore.delete_value(name, local=local)

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
