"""Run the sensor under a BaseSensorTestCase the way st2's wrapper does:
setup(), run() in its own thread, cleanup() at the end."""

import contextlib
import threading

TOKEN = "tok-123"
ALERT_TRIGGERS = ("poundcake.alert", "poundcake.alert_recorded")
BATCH_TRIGGER = "poundcake.alerts_recorded"


def alert_payloads(triggers):
    """Every alert the dispatched ``triggers`` carried, as one payload each
    (a ``poundcake.alerts_recorded`` part's alerts with its delivery's fields)."""
    out = []
    for t in triggers:
        payload = t["payload"]
        if t["trigger"] in ALERT_TRIGGERS:
            out.append(payload)
        elif t["trigger"] == BATCH_TRIGGER:
            envelope = {k: v for k, v in payload.items() if k not in ("alerts", "part", "parts")}
            envelope.pop("alert_count")
            out += [{**envelope, **alert} for alert in payload["alerts"]]
    return out


def base_config(**overrides):
    config = {
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "bearer_token": TOKEN,
        "record_hold_seconds": 0.5,  # not 15 s per test
    }
    config.update(overrides)
    return config


@contextlib.contextmanager
def running_sensor(test_case, **config_overrides):
    """Yield the started sensor; its port is ``sensor.server.address[1]``."""
    sensor = test_case.get_sensor_instance(config=base_config(**config_overrides))
    sensor.setup()
    thread = threading.Thread(target=sensor.run, name="sensor-run", daemon=True)
    thread.start()
    try:
        yield sensor
    finally:
        sensor.cleanup()
        thread.join(timeout=10)
        assert not thread.is_alive(), "sensor run() did not return after cleanup()"
