"""Alerts no rule remediates cost st2 no execution, one dispatch per delivery
and about one datastore write per delivery: the sensor records them in batches."""

import time

from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from deliveries import make_delivery
from pack_actions import open_window, run_python_action, shared_datastore
from sensor_harness import TOKEN, alert_payloads, running_sensor
from st2tests.base import BaseSensorTestCase
from webhook_client import bearer, request

from poundcake import sizes
from poundcake.state_store import INCIDENT, NOISE
from poundcake.triggers import BATCH_TRIGGER


def wait_for(predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class CountingDatastore:
    """st2's mock datastore, counting the writes (each one a trigger instance in st2)."""

    def __init__(self, datastore):
        self._datastore = datastore
        self.writes = 0

    def set_value(self, *args, **kwargs):
        self.writes += 1
        return self._datastore.set_value(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._datastore, name)


class RecorderTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def setUp(self):
        super().setUp()
        self.datastore = CountingDatastore(shared_datastore())
        self.sensor_service._datastore_service = self.datastore

    def post(self, sensor, body):
        return request(sensor.server.address[1], "POST", "/webhook", body, bearer(TOKEN))

    def action(self, name, **params):
        ok, result = run_python_action(name, params, datastore=self.datastore)
        assert ok, result
        return result

    def shown(self, fingerprint):
        ok, result = run_python_action(
            "get_alert", {"fingerprint": fingerprint}, datastore=self.datastore
        )
        return result["current"] if ok else None

    def batches(self):
        return [k for k in self.datastore._datastore_items if k.startswith(NOISE)]

    def test_noise_is_recorded_by_the_sensor_and_remediations_go_first(self):
        noise = make_delivery(5)
        wanted = make_delivery(1, offset=99, auto_remediate="true", alertname="ServiceDown")
        noise["alerts"] += wanted["alerts"]  # the opted-in alert arrives last
        with running_sensor(self, dispatch_concurrency=1) as sensor:
            answer = self.post(sensor, noise)
            fingerprints = [a["fingerprint"] for a in noise["alerts"][:5]]
            wait_for(lambda: all(self.shown(f) for f in fingerprints), "the noise's records")
        assert answer.status == 200
        triggers = self.get_dispatched_triggers()
        assert [t["trigger"] for t in triggers] == ["poundcake.alert", BATCH_TRIGGER]
        assert triggers[0]["payload"]["alertname"] == "ServiceDown", "the remediation goes first"
        assert len(alert_payloads(triggers)) == 6, "every alert is in st2, with its tracking id"
        opted = triggers[0]["payload"]["tracking_id"]
        assert self.datastore.get_value(INCIDENT + opted, local=False) is None, (
            "process_alert owns the opted-in incident"
        )
        for fingerprint in fingerprints:
            record = self.shown(fingerprint)
            assert record["state"] == "recorded"
            assert record["history"][-1]["note"].startswith("no remediation rule")
            assert record["request_ids"] == [answer.json["request_id"]]

    def test_a_delivery_of_1000_costs_st2_one_trigger_and_a_few_writes(self):
        with running_sensor(self, record_hold_seconds=0) as sensor:
            answer = self.post(sensor, make_delivery(1000))
            wait_for(lambda: self.batches(), "the batch")
        assert answer.status == 200 and answer.json["dispatched"] == 1000
        triggers = self.get_dispatched_triggers()
        assert len(triggers) == 1 and triggers[0]["trigger"] == BATCH_TRIGGER
        # the batch, the index of its incidents, the delivery's index entry
        assert self.datastore.writes <= 0.01 * 1000, self.datastore.writes
        assert len(triggers) + self.datastore.writes <= 0.01 * 1000
        stats = self.action("alert_stats", hours=24 * 30)
        assert stats["by_status"] == {"recorded": 1000}

    def test_a_stopping_sensor_writes_what_it_holds(self):
        """st2 stops a sensor with SIGTERM and kills it 5 s later: the records
        held back (here for a minute) are written before cleanup() returns."""
        body = make_delivery(20)
        with running_sensor(self, record_hold_seconds=60) as sensor:
            answer = self.post(sensor, body)
            time.sleep(0.3)
            assert not self.batches(), "held, not written yet"
            started = time.monotonic()
            sensor.cleanup()
            took = time.monotonic() - started
        assert took < 4, took
        shown = self.action("get_request", request_id=answer.json["request_id"])
        assert len(shown["alerts"]) == 20, "cleanup() left records unwritten"

    def test_every_query_finds_a_batched_alert(self):
        body = make_delivery(3)
        with running_sensor(self, record_hold_seconds=0) as sensor:
            answer = self.post(sensor, body)
            wait_for(lambda: self.batches(), "the batch")
        ids = sorted(answer.json["tracking_ids"])
        listed = self.action("list_alerts")
        assert sorted(a["tracking_id"] for a in listed) == ids
        shown = self.action("get_request", request_id=answer.json["request_id"])
        assert sorted(a["tracking_id"] for a in shown["alerts"]) == ids
        got = self.action("get_alert", fingerprint=body["alerts"][1]["fingerprint"])
        assert got["current"]["tracking_id"] in ids
        assert got["current"]["request_ids"] == [answer.json["request_id"]]
        stats = self.action("alert_stats", hours=24 * 30)
        assert stats["total"] == 3 and stats["by_severity"] == {"warning": 3}

    def test_remediations_get_a_head_start_and_only_mixed_deliveries_wait(self):
        dispatch, times = self.sensor_service.dispatch, []

        def timed(trigger, payload=None, trace_tag=None):
            times.append((time.monotonic(), trigger))
            return dispatch(trigger, payload, trace_tag)

        self.sensor_service.dispatch = timed
        mixed = make_delivery(3, alertname="Noise")
        mixed["alerts"] += make_delivery(1, offset=9, auto_remediate="true")["alerts"]
        with running_sensor(self, remediation_head_start_seconds=0.6) as sensor:
            started = time.monotonic()
            assert self.post(sensor, mixed).status == 200
            answered = time.monotonic() - started
            first_noise = min(t for t, trigger in times if trigger == BATCH_TRIGGER)
            wanted = [t for t, trigger in times if trigger == "poundcake.alert"]
            assert len(wanted) == 1 and first_noise - wanted[0] >= 0.6
            assert answered < 0.6 + 1.0, "the head start counts once per delivery"
            times.clear()
            started = time.monotonic()
            self.post(sensor, make_delivery(3, offset=20))  # noise only: no wait
            assert time.monotonic() - started < 0.5 and len(times) == 1
            times.clear()
            started = time.monotonic()
            self.post(sensor, mixed)  # a re-send: nothing new to give a head start to
            assert time.monotonic() - started < 0.5 and not times

    def test_noise_of_another_delivery_waits_for_a_remediation_in_flight_too(self):
        """Alertmanager sends a storm's groups at once: a remediation's head
        start holds back the noise of every delivery, not only its own."""
        dispatch, times = self.sensor_service.dispatch, []

        def timed(trigger, payload=None, trace_tag=None):
            times.append((time.monotonic(), trigger))
            return dispatch(trigger, payload, trace_tag)

        self.sensor_service.dispatch = timed
        wanted = make_delivery(1, offset=9, auto_remediate="true")
        with running_sensor(self, remediation_head_start_seconds=0.8) as sensor:
            self.post(sensor, wanted)  # a remediation alone: answered at once
            started = time.monotonic()
            assert self.post(sensor, make_delivery(3, offset=20)).status == 200
            waited = time.monotonic() - started
        (remediation,) = [t for t, trigger in times if trigger == "poundcake.alert"]
        (noise,) = [t for t, trigger in times if trigger == BATCH_TRIGGER]
        assert noise - remediation >= 0.8 and waited >= 0.5, (noise - remediation, waited)

    def test_a_resolve_closes_the_recorded_incident_and_queries_see_it(self):
        with running_sensor(self) as sensor:
            firing = self.post(sensor, make_delivery(2))
            ids = firing.json["tracking_ids"]
            fingerprints = [f"{i:016x}" for i in range(2)]
            wait_for(lambda: all(self.shown(f) for f in fingerprints), "the firing records")
            self.post(sensor, make_delivery(2, status="resolved"))

            def closed():
                return all(self.shown(f)["state"] == "resolved" for f in fingerprints)

            wait_for(closed, "the resolves")
            board = sensor._poller  # the view has it without reading the records back
            assert {d["tracking_id"]: d["state"] for d in board._view.shown()} == {
                t: "resolved" for t in ids
            }
        record = self.shown(fingerprints[0])
        assert record["resolved_at"] and record["history"][-1]["note"] == "resolved by Alertmanager"
        assert not any(k.startswith(INCIDENT) for k in self.datastore._datastore_items), (
            "no record per incident: the batches hold the firing and its resolve"
        )
        assert len(self.batches()) == 2, "one batch for the firings, one for the resolves"
        ttls = {self.datastore._datastore_items[k].ttl for k in self.batches()}
        assert ttls == {30 * 24 * 3600}, "kept as long as the longest-kept incident they hold"

    def test_a_maintenance_window_is_recorded_on_noise_too(self):
        window = open_window(self.datastore, "instance", "host0", "rack move", "bob", minutes=10)
        with running_sensor(self, state_poll_seconds=1) as sensor:
            sensor._poller.poll_once()  # the windows the recorder decides with
            self.post(sensor, make_delivery(1))
            record = wait_for(lambda: self.shown(f"{0:016x}"), "the record")
        assert record["state"] == "suppressed"
        assert record["suppressed_by"]["suppression_id"] == window["suppression_id"]

    def test_a_delivery_of_10000_dispatches_and_stores_parts_within_the_size_bound(self):
        body = make_delivery(10_000)
        for alert in body["alerts"][:3]:  # megabytes of labels
            alert["labels"].update({f"l{j}": "x" * 2000 for j in range(600)})
        with running_sensor(self, record_hold_seconds=0, max_body_bytes=64 << 20) as sensor:
            answer = self.post(sensor, body)
            wait_for(lambda: self.batches(), "the batches")
        assert answer.status == 200
        shown = self.action("get_request", request_id=answer.json["request_id"])
        assert len(shown["alerts"]) == 10_000
        triggers = self.get_dispatched_triggers()
        assert all(sizes.size(t["payload"]) <= sizes.MAX_DOCUMENT_BYTES for t in triggers)
        parts = sorted(t["payload"]["part"] for t in triggers)
        assert parts == list(range(len(triggers))) and len(triggers) >= 3
        assert {t["payload"]["parts"] for t in triggers} == {len(triggers)}
        alerts = alert_payloads(triggers)
        assert sorted(a["tracking_id"] for a in alerts) == sorted(answer.json["tracking_ids"])
        assert sum(1 for a in alerts if a.get("cut")) == 3
        stored = self.datastore._datastore_items.values()
        assert all(len(kvp.value) <= sizes.MAX_DOCUMENT_BYTES for kvp in stored)
        assert self.datastore.writes <= 0.01 * 10_000, self.datastore.writes

    def test_a_delivery_st2_takes_after_the_deadline_is_still_recorded(self):
        """The 503 makes Alertmanager re-send it, and the re-send is a
        duplicate that records nothing: the late dispatch itself records."""
        from test_sensor_webhook import ScriptedDispatch

        hung = ScriptedDispatch(self.sensor_service, hang_calls={1})
        noise = make_delivery(3)
        with running_sensor(self, dispatch_timeout_seconds=0.5) as sensor:
            first = self.post(sensor, noise)
            assert self.shown(noise["alerts"][0]["fingerprint"]) is None
            hung.release.set()
            fingerprints = [a["fingerprint"] for a in noise["alerts"]]
            wait_for(
                lambda: all(self.shown(f) for f in fingerprints), "the late delivery's records"
            )
            again = self.post(sensor, noise)
        assert first.status == 503 and again.status == 200
        assert again.json["duplicates"] == 3 and hung.calls == 1, "st2 took it once"


def test_noise_waits_for_a_delivery_still_reading_its_remediations():
    """A storm's groups at once: the noise of a delivery read first waits
    until a delivery read meanwhile has dispatched its remediation, then for
    the head start."""
    import threading

    from poundcake.ingest import RemediationsFirst

    first = RemediationsFirst(head_start=0.3)
    events = []
    with first.arriving() as noise_arrived:
        with first.arriving() as other_arrived:
            noise_arrived()

            def noise():
                first.wait(5)
                events.append(("noise", time.monotonic()))

            waiting = threading.Thread(target=noise)
            waiting.start()
            time.sleep(0.2)
            assert not events, "the other delivery is still being read"
            first.remediated()
            events.append(("remediation", time.monotonic()))
            other_arrived()
            waiting.join(5)
    (_, remediation), (_, noise_at) = events
    assert noise_at - remediation >= 0.3
    quiet = RemediationsFirst(head_start=0.3)
    started = time.monotonic()
    quiet.wait(5)
    assert time.monotonic() - started < 0.05, "no remediation, no delivery arriving: no wait"
