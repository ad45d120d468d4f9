"""A sensor service for running the sensor outside st2 (demo, e2e, bench).

It behaves like st2's on the points the pack depends on: ``dispatch`` checks
the payload against the trigger's declared ``payload_schema`` with st2's own
validator (:mod:`st2_schemas`) and, like st2, logs and drops an invalid one
(returns None) instead of raising. Each
accepted trigger is written as one JSON line to the sink. Knobs simulate a
slow or failing message bus.
"""

import json
import logging
import threading
import time

from st2_schemas import trigger_schemas, validate_trigger_payload


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

    def get_logger(self, name):
        return logging.getLogger(f"poundcake.{name}")

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
