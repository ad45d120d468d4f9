"""Alerts no rule remediates cost st2 no execution: the sensor records them."""

import json
import time

from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from deliveries import make_delivery
from pack_actions import open_window, run_python_action, shared_datastore
from sensor_harness import TOKEN, running_sensor
from st2tests.base import BaseSensorTestCase
from webhook_client import bearer, request

from poundcake import index
from poundcake.state_store import INCIDENT, StateStore
from poundcake.tracking import request_time


def wait_for(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RecorderTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def setUp(self):
        super().setUp()
        self.datastore = shared_datastore()
        self.sensor_service._datastore_service = self.datastore

    def record(self, tracking_id, prefix=INCIDENT):
        raw = self.datastore.get_value(prefix + tracking_id, local=False)
        return json.loads(raw) if raw else None

    def post(self, sensor, body):
        return request(sensor.server.address[1], "POST", "/webhook", body, bearer(TOKEN))

    def test_noise_is_recorded_by_the_sensor_and_remediations_go_first(self):
        noise = make_delivery(5)
        wanted = make_delivery(1, offset=99, auto_remediate="true", alertname="ServiceDown")
        noise["alerts"] += wanted["alerts"]  # the opted-in alert arrives last
        with running_sensor(self, dispatch_concurrency=1) as sensor:
            answer = self.post(sensor, noise)
            noisy = answer.json["tracking_ids"][:5]
            wait_for(lambda: all(self.record(t) for t in noisy[:5]), "the noise's records")
        assert answer.status == 200
        dispatched = [t["payload"] for t in self.get_dispatched_triggers()]
        assert dispatched[0]["alertname"] == "ServiceDown", "the remediation goes to st2 first"
        assert len(dispatched) == 6, "every alert still becomes a trigger instance"
        opted = dispatched[0]["tracking_id"]
        assert self.record(opted) is None, "process_alert owns the opted-in incident"
        for tracking_id in noisy[:5]:
            record = self.record(tracking_id)
            assert record["state"] == "recorded"
            assert record["history"][-1]["note"].startswith("no remediation rule")

    def test_a_stopping_sensor_writes_what_it_holds(self):
        """st2 stops a sensor with SIGTERM and kills it 5 s later: the records
        held back (here for a minute) are written before cleanup() returns."""
        with running_sensor(self, record_hold_seconds=60) as sensor:
            answer = self.post(sensor, make_delivery(20))
            held = answer.json["tracking_ids"]
            time.sleep(0.3)
            assert not any(self.record(t) for t in held), "held, not written yet"
            started = time.monotonic()
            sensor.cleanup()
            took = time.monotonic() - started
        assert all(self.record(t) for t in held), "cleanup() left records unwritten"
        assert took < 4, took

    def test_the_sensor_indexes_what_it_dispatched_for_the_queries(self):
        with running_sensor(self, record_hold_seconds=0) as sensor:
            answer = self.post(sensor, make_delivery(3))
            ids = answer.json["tracking_ids"]
            wait_for(lambda: all(self.record(t) for t in ids), "the records")
        # cleanup() wrote the index (it flushes every 15 s while running)
        store = StateStore(self.datastore)
        request_id = answer.json["request_id"]
        assert sorted(index.delivered(store, request_id, request_time(request_id))) == sorted(ids)
        ok, listed = run_python_action("list_alerts", {}, datastore=self.datastore)
        assert ok and sorted(a["tracking_id"] for a in listed) == sorted(ids)
        ok, shown = run_python_action(
            "get_request", {"request_id": request_id}, datastore=self.datastore
        )
        assert ok and sorted(a["tracking_id"] for a in shown["alerts"]) == sorted(ids)

    def test_remediations_get_a_head_start_and_only_mixed_deliveries_wait(self):
        dispatch, times = self.sensor_service.dispatch, []

        def timed(trigger, payload=None, trace_tag=None):
            times.append((time.monotonic(), payload["labels"].get("auto_remediate")))
            return dispatch(trigger, payload, trace_tag)

        self.sensor_service.dispatch = timed
        mixed = make_delivery(3, alertname="Noise")
        mixed["alerts"] += make_delivery(1, offset=9, auto_remediate="true")["alerts"]
        with running_sensor(self, remediation_head_start_seconds=0.6) as sensor:
            started = time.monotonic()
            assert self.post(sensor, mixed).status == 200
            answered = time.monotonic() - started
            first_noise = min(t for t, opted in times if opted is None)
            wanted = [t for t, opted in times if opted == "true"]
            assert len(wanted) == 1 and first_noise - wanted[0] >= 0.6
            assert answered < 0.6 + 1.0, "the head start counts once per delivery"
            times.clear()
            started = time.monotonic()
            self.post(sensor, make_delivery(3, offset=20))  # noise only: no wait
            assert time.monotonic() - started < 0.5 and len(times) == 3
            times.clear()
            started = time.monotonic()
            self.post(sensor, mixed)  # a re-send: nothing new to give a head start to
            assert time.monotonic() - started < 0.5 and not times

    def test_a_resolve_closes_the_recorded_incident_and_queries_see_it(self):
        with running_sensor(self) as sensor:
            firing = self.post(sensor, make_delivery(2))
            ids = firing.json["tracking_ids"]
            wait_for(lambda: all(self.record(t) for t in ids), "the firing records")
            self.post(sensor, make_delivery(2, status="resolved"))
            closed = lambda: all(self.record(t)["state"] == "resolved" for t in ids)  # noqa: E731
            wait_for(closed, "the resolves")
            board = sensor._poller  # the view has it without reading the records back
            assert {d["tracking_id"]: d["state"] for d in board._view.shown()} == {
                t: "resolved" for t in ids
            }
        record = self.record(ids[0])
        assert record["resolved_at"] and record["history"][-1]["note"] == "resolved by Alertmanager"
        kvp = self.datastore._datastore_items[INCIDENT + ids[0]]
        assert kvp.ttl == 3 * 24 * 3600, "st2 purges it incident_ttl_seconds after the resolve"
        fingerprint = record["fingerprint"]
        ok, shown = run_python_action(
            "get_alert", {"fingerprint": fingerprint}, datastore=self.datastore
        )
        assert ok and shown["current"]["state"] == "resolved"

    def test_a_maintenance_window_is_recorded_on_noise_too(self):
        window = open_window(self.datastore, "instance", "host0", "rack move", "bob", minutes=10)
        with running_sensor(self, state_poll_seconds=1) as sensor:
            sensor._poller.poll_once()  # the windows the recorder decides with
            ids = self.post(sensor, make_delivery(1)).json["tracking_ids"]
            wait_for(lambda: self.record(ids[0]), "the record")
        record = self.record(ids[0])
        assert record["state"] == "suppressed"
        assert record["suppressed_by"]["suppression_id"] == window["suppression_id"]
