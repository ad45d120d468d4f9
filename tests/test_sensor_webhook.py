"""The webhook sensor as st2 runs it: HTTP in, dispatched triggers out."""

import http.client
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time

from alertmanager_webhook_sensor import AlertmanagerWebhookSensor
from deliveries import captured, firing_body, make_delivery, resolved_body
from sensor_harness import BATCH_TRIGGER, TOKEN, alert_payloads, base_config, running_sensor
from st2_schemas import trigger_schemas, validate_trigger_payload
from st2tests.base import BaseSensorTestCase
from webhook_client import basic, bearer, request, send_whole_body_then_read


class ScriptedDispatch:
    """Wraps the mock service's dispatch: chosen calls raise, chosen calls
    block until :attr:`release` is set (a hung message bus)."""

    def __init__(self, service, fail_calls=(), hang_calls=()):
        self._dispatch = service.dispatch
        self._fail_calls = set(fail_calls)
        self._hang_calls = set(hang_calls)
        self.release = threading.Event()
        self.calls = 0
        self._lock = threading.Lock()
        service.dispatch = self

    def __call__(self, trigger, payload=None, trace_tag=None):
        with self._lock:
            self.calls += 1
            call = self.calls
        if call in self._hang_calls:
            self.release.wait(30)
        if call in self._fail_calls:
            raise ConnectionError("broker unreachable")
        return self._dispatch(trigger=trigger, payload=payload, trace_tag=trace_tag)


class WebhookSensorTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def post(self, sensor, body, headers=None, path="/webhook"):
        port = sensor.server.address[1]
        return request(port, "POST", path, body, bearer(TOKEN) if headers is None else headers)

    def logged_errors(self):
        """The sensor's ERROR log lines, formatted as st2's logger would."""
        calls = self.sensor_service._logger.error.call_args_list
        return "\n".join(c.args[0] % c.args[1:] for c in calls)

    def alert_payloads(self):
        return alert_payloads(self.get_dispatched_triggers())

    def test_runs_on_green_threads_as_under_st2(self):
        """Importing st2tests eventlet-patches the process (st2's and the
        stand-in's alike), so these tests exercise the sensor as st2 runs it."""
        with running_sensor(self) as sensor:
            self.assertEqual(sensor._pool.kind, "eventlet green threads")

    def test_real_delivery_dispatches_its_unremediated_alerts_in_one_trigger(self):
        with running_sensor(self) as sensor:
            answer = self.post(sensor, firing_body())
        self.assertEqual(answer.status, 200)
        doc = answer.json
        self.assertEqual((doc["alerts_received"], doc["dispatched"]), (3, 3))
        self.assertEqual(doc["truncated_alerts"], 2)
        self.assertEqual(answer.headers["x-request-id"], doc["request_id"])
        (batch,) = self.get_dispatched_triggers()
        self.assertEqual(batch["trigger"], BATCH_TRIGGER)
        self.assertEqual(batch["trace_context"].trace_tag, doc["request_id"])
        payload = batch["payload"]
        self.assertEqual((payload["part"], payload["parts"], payload["alert_count"]), (0, 1, 3))
        self.assertEqual(
            (payload["request_id"], payload["truncated_alerts"]), (doc["request_id"], 2)
        )
        self.check_alerts(doc)

    def test_per_alert_noise_triggers_dispatch_one_tracked_trigger_per_alert(self):
        with running_sensor(self, noise_triggers="per_alert") as sensor:
            answer = self.post(sensor, firing_body())
        doc = answer.json
        triggers = self.get_dispatched_triggers()
        self.assertEqual(len(triggers), 3)
        for item in triggers:
            payload = item["payload"]
            self.assertEqual(item["trigger"], "poundcake.alert_recorded")
            self.assertEqual(item["trace_context"].trace_tag, payload["tracking_id"])
            self.assertEqual(payload["request_id"], doc["request_id"])
            self.assertEqual(payload["truncated_alerts"], 2)
        self.check_alerts(doc)

    def check_alerts(self, doc):
        """Each alert of the captured delivery, with its tracking id, as dispatched."""
        self.assertEqual(
            sorted(p["tracking_id"] for p in self.alert_payloads()), sorted(doc["tracking_ids"])
        )
        first = next(p for p in self.alert_payloads() if p["instance"] == "host1")
        self.assertEqual(first["fingerprint"], "37bb06284ad968e0")
        self.assertEqual(first["severity"], "critical")
        self.assertEqual(first["annotations"], {"summary": "probe alert 1"})
        self.assertEqual(first["generator_url"], "http://gen.example/1")
        self.assertIsNone(first["ends_at"])

    def test_every_dispatched_payload_validates_against_the_declared_schema(self):
        schemas = trigger_schemas()
        hostile = make_delivery(5, service="nginx; touch /tmp/pwned", host="$(reboot)")
        opted = make_delivery(2, offset=70, auto_remediate="true")
        huge = make_delivery(1, offset=80)
        huge["alerts"][0]["annotations"] = {"a": "x" * 2_000_000}  # cut to fit
        bodies = (firing_body(), resolved_body(), hostile, make_delivery(50, "resolved"), opted)
        for mode, count in (("per_delivery", 4 + 2 + 1), ("per_alert", 3 + 3 + 5 + 50 + 2 + 1)):
            before = len(self.get_dispatched_triggers())
            config = {
                "dispatch_alert_group": True,
                "noise_triggers": mode,
                "max_body_bytes": 8 << 20,
            }
            with running_sensor(self, **config) as sensor:
                for body in (*bodies, huge):
                    self.assertEqual(self.post(sensor, body).status, 200)
            triggers = self.get_dispatched_triggers()[before:]
            self.assertEqual(len(triggers), count + 6, mode)  # and the groups
            for item in triggers:
                validate_trigger_payload(schemas[item["trigger"]], item["payload"])

    def test_resend_of_same_incident_dispatches_nothing(self):
        with running_sensor(self) as sensor:
            self.post(sensor, firing_body())
            again = self.post(sensor, firing_body())
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json["dispatched"], 0)
        self.assertEqual(again.json["duplicates"], 3)
        self.assertEqual(len(self.alert_payloads()), 3)
        self.assertEqual(len(self.get_dispatched_triggers()), 1)

    def test_status_change_and_re_fire_always_dispatch(self):
        refire = firing_body()
        for alert in refire["alerts"]:
            alert["startsAt"] = "2026-11-23T09:00:00Z"
        with running_sensor(self) as sensor:
            self.post(sensor, firing_body())
            self.post(sensor, resolved_body())
            self.post(sensor, refire)
        statuses = [(p["instance"], p["status"]) for p in self.alert_payloads()]
        self.assertEqual(len(statuses), 9)
        self.assertEqual(statuses.count(("host1", "firing")), 2)
        self.assertEqual(statuses.count(("host1", "resolved")), 1)

    def test_failed_batch_answers_503_and_the_retry_dispatches_it_again(self):
        ScriptedDispatch(self.sensor_service, fail_calls={1})
        with running_sensor(self) as sensor:
            first = self.post(sensor, firing_body())
            retry = self.post(sensor, firing_body())
            again = self.post(sensor, firing_body())
        self.assertEqual(first.status, 503)
        self.assertEqual((first.json["dispatched"], first.json["failed"]), (0, 3))
        self.assertEqual(retry.status, 200)
        self.assertEqual((retry.json["dispatched"], retry.json["duplicates"]), (3, 0))
        self.assertEqual((again.json["dispatched"], again.json["duplicates"]), (0, 3))
        self.assertEqual(len(self.get_dispatched_triggers()), 1)

    def test_failed_dispatch_answers_503_and_the_retry_dispatches_only_the_rest(self):
        ScriptedDispatch(self.sensor_service, fail_calls={2})
        with running_sensor(self, noise_triggers="per_alert") as sensor:
            first = self.post(sensor, firing_body())
            retry = self.post(sensor, firing_body())
        self.assertEqual(first.status, 503)
        self.assertEqual((first.json["dispatched"], first.json["failed"]), (2, 1))
        self.assertIn("retry", first.json["error"])
        self.assertEqual(retry.status, 200)
        self.assertEqual((retry.json["dispatched"], retry.json["duplicates"]), (1, 2))
        fingerprints = sorted(p["fingerprint"] for p in self.alert_payloads())
        self.assertEqual(fingerprints, sorted(a["fingerprint"] for a in firing_body()["alerts"]))

    def test_concurrent_duplicate_deliveries_dispatch_each_alert_once(self):
        body = make_delivery(200)
        answers = []
        with running_sensor(self) as sensor:
            threads = [
                threading.Thread(target=lambda: answers.append(self.post(sensor, body)))
                for _ in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual([a.status for a in answers], [200] * 6)
        self.assertEqual(sum(a.json["dispatched"] for a in answers), 200)
        self.assertEqual(sum(a.json["duplicates"] for a in answers), 1000)
        fingerprints = [p["fingerprint"] for p in self.alert_payloads()]
        self.assertEqual(sorted(fingerprints), sorted(a["fingerprint"] for a in body["alerts"]))

    def test_alert_group_trigger_is_optional_and_carries_the_whole_delivery(self):
        with running_sensor(self, dispatch_alert_group=True) as sensor:
            answer = self.post(sensor, firing_body())
            self.post(sensor, firing_body())
        groups = [
            t for t in self.get_dispatched_triggers() if t["trigger"] == "poundcake.alert_group"
        ]
        self.assertEqual(len(groups), 1)
        group = groups[0]
        self.assertEqual(group["trace_context"].trace_tag, answer.json["request_id"])
        self.assertEqual(group["payload"]["alert_count"], 3)
        self.assertEqual(group["payload"]["truncated_alerts"], 2)
        self.assertEqual(group["payload"]["group_labels"], {"alertname": "ProbeAlert"})
        self.assertTrue(answer.json["group_dispatched"])

    def test_basic_auth_delivery(self):
        config = {"bearer_token": None, "basic_auth_username": "am", "basic_auth_password": "pw"}
        with running_sensor(self, **config) as sensor:
            ok = self.post(sensor, firing_body(), basic("am", "pw"))
            wrong = self.post(sensor, firing_body(), basic("am", "nope"))
        self.assertEqual(ok.status, 200)
        self.assertEqual(wrong.status, 401)
        self.assertIn("Basic", wrong.headers["www-authenticate"])

    def test_bad_requests_get_clear_json_errors_and_the_sensor_keeps_serving(self):
        json_headers = bearer(TOKEN)
        with running_sensor(self, max_body_bytes=4096) as sensor:
            port = sensor.server.address[1]
            cases = {
                401: self.post(sensor, firing_body(), {"Content-Type": "application/json"}),
                400: self.post(sensor, b"{not json", json_headers),
                413: self.post(sensor, make_delivery(40), json_headers),
                415: self.post(sensor, b"a=b", {**json_headers, "Content-Type": "text/plain"}),
                422: self.post(sensor, {"version": "4", "alerts": [{}]}, json_headers),
                404: self.post(sensor, firing_body(), json_headers, path="/other"),
                405: request(port, "GET", "/webhook"),
            }
            deep = self.post(sensor, b"[" * 100000 + b"]" * 100000, json_headers)
            still_ok = self.post(sensor, firing_body())
        for status, answer in cases.items():
            self.assertEqual(answer.status, status, answer.body)
            self.assertIn("error", answer.json)
            self.assertEqual(answer.headers["content-type"], "application/json")
        self.assertIn("www-authenticate", cases[401].headers)
        self.assertEqual(cases[422].json["path"], "alerts[0].labels")
        self.assertIn("max_body_bytes", cases[413].json["error"])
        self.assertEqual(cases[405].headers["allow"], "POST")
        self.assertIn(deep.status, (400, 413))
        self.assertEqual(still_ok.status, 200)
        self.assertEqual(len(self.alert_payloads()), 3)

    def test_a_large_refused_body_still_gets_its_answer_not_a_reset(self):
        """Alertmanager writes its whole body before reading the answer: a
        refusal sent without reading the body must not reset the connection."""
        big = b"{" + b" " * (10 << 20) + b"}"
        with running_sensor(self, max_body_bytes=5 << 20) as sensor:
            port = sensor.server.address[1]
            answers = {
                413: send_whole_body_then_read(port, big, bearer(TOKEN)),
                401: send_whole_body_then_read(port, big, {"Content-Type": "application/json"}),
            }
            still_ok = self.post(sensor, firing_body())
        for status, head in answers.items():
            self.assertTrue(head.startswith(f"HTTP/1.0 {status} ".encode()), head[:80])
        self.assertEqual(still_ok.status, 200)

    def test_health_ready_and_metrics(self):
        with running_sensor(self) as sensor:
            port = sensor.server.address[1]
            self.post(sensor, firing_body())
            self.post(sensor, firing_body())
            self.post(sensor, b"{", bearer(TOKEN))
            health = request(port, "GET", "/health")
            ready = request(port, "GET", "/ready")
            metrics = request(port, "GET", "/metrics").body.decode()
        self.assertEqual((health.status, health.json), (200, {"status": "alive"}))
        self.assertEqual((ready.status, ready.json), (200, {"status": "ready"}))
        for line in (
            'poundcake_webhook_requests_total{code="200"} 2.0',
            'poundcake_webhook_requests_total{code="400"} 1.0',
            'poundcake_alerts_received_total{status="firing"} 6.0',
            'poundcake_triggers_dispatched_total{trigger="poundcake.alerts_recorded"} 1.0',
            'poundcake_duplicates_suppressed_total{trigger="poundcake.alerts_recorded"} 3.0',
            "poundcake_webhook_request_duration_seconds_count 3.0",
            "poundcake_webhook_payload_bytes_count 3.0",
            "poundcake_dedup_entries 3.0",
            "poundcake_dedup_evictions_total 0.0",
            "poundcake_ready 1.0",
        ):
            self.assertIn(line, metrics)

    def test_ready_gauge_drops_to_zero_once_the_sensor_stops(self):
        """``poundcake_ready`` reads what ``/ready`` reads, when Prometheus scrapes."""
        with running_sensor(self) as sensor:
            server = sensor.server
            scraped = request(server.address[1], "GET", "/metrics").body.decode()
            server.request_stop()  # SIGTERM: /ready would answer 503 from here on
            stopping = server.metrics.render().decode()
        self.assertIn("\npoundcake_ready 1.0\n", scraped)
        self.assertIn("\npoundcake_ready 0.0\n", stopping)

    def test_dispatch_failures_are_counted(self):
        for mode, line in (
            (
                "per_alert",
                'poundcake_dispatch_failures_total{trigger="poundcake.alert_recorded"} 3.0',
            ),
            ("per_delivery", f'poundcake_dispatch_failures_total{{trigger="{BATCH_TRIGGER}"}} 1.0'),
        ):
            ScriptedDispatch(self.sensor_service, fail_calls={1, 2, 3})
            with running_sensor(self, noise_triggers=mode) as sensor:
                self.assertEqual(self.post(sensor, firing_body()).status, 503)
                metrics = request(sensor.server.address[1], "GET", "/metrics").body.decode()
            self.assertIn(line, metrics)

    def test_dispatch_past_the_deadline_answers_503_and_is_never_repeated(self):
        hung = ScriptedDispatch(self.sensor_service, hang_calls={1})
        config = {"dispatch_timeout_seconds": 0.5, "noise_triggers": "per_alert"}
        with running_sensor(self, **config) as sensor:
            first = self.post(sensor, firing_body())
            while_hung = self.post(sensor, firing_body())
            hung.release.set()
            deadline = time.monotonic() + 5
            while len(self.alert_payloads()) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            after = self.post(sensor, firing_body())
            metrics = request(sensor.server.address[1], "GET", "/metrics").body.decode()
        self.assertEqual(first.status, 503)
        self.assertEqual((first.json["dispatched"], first.json["failed"]), (2, 1))
        # The re-send waits for the running dispatch instead of starting another.
        self.assertEqual(while_hung.status, 503)
        self.assertEqual((while_hung.json["dispatched"], while_hung.json["failed"]), (0, 1))
        self.assertEqual(after.status, 200)
        self.assertEqual((after.json["dispatched"], after.json["duplicates"]), (0, 3))
        self.assertEqual((hung.calls, len(self.alert_payloads())), (3, 3))
        missed = 'poundcake_dispatch_deadline_misses_total{trigger="poundcake.alert_recorded"} 1.0'
        self.assertIn(missed, metrics)
        self.assertNotIn("poundcake_dispatch_failures_total{", metrics)

    def test_cleanup_frees_the_port(self):
        import socket

        with running_sensor(self) as sensor:
            port = sensor.server.address[1]
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))

    def test_refuses_to_start_without_credentials_and_logs_why(self):
        sensor = self.get_sensor_instance(config={"listen_host": "127.0.0.1", "listen_port": 0})
        with self.assertRaises(ValueError):
            sensor.setup()
        logged = self.logged_errors()
        self.assertIn("no webhook credentials configured", logged)

    def test_port_in_use_fails_setup_and_logs_why(self):
        import socket

        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            sensor = self.get_sensor_instance(config=base_config(listen_port=port))
            with self.assertRaises(OSError):
                sensor.setup()
        logged = self.logged_errors()
        self.assertIn(f"cannot serve on 127.0.0.1:{port}", logged)

    def test_unreadable_certificate_fails_setup_and_logs_why(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert = os.path.join(tmp, "cert.pem")
            with open(cert, "w") as fp:
                fp.write("not a certificate\n")
            config = base_config(tls_cert_file=cert, tls_key_file=cert)
            sensor = self.get_sensor_instance(config=config)
            with self.assertRaises(OSError):
                sensor.setup()
        self.assertIn("cannot serve on 127.0.0.1:0", self.logged_errors())
        self.assertIn("TLS certificate", self.logged_errors())

    def test_captured_request_headers_are_accepted_as_sent(self):
        capture = captured("am-0.25-firing-truncated.json")
        headers = {k: v for k, v in capture["headers"] if k not in ("Host", "Content-Length")}
        with running_sensor(self) as sensor:
            answer = self.post(
                sensor, json.dumps(capture["body"]).encode(), headers, capture["path"]
            )
        self.assertEqual(answer.status, 404)  # captured at /hook/bearer; ours is /webhook
        with running_sensor(self, webhook_path=capture["path"]) as sensor:
            answer = self.post(
                sensor, json.dumps(capture["body"]).encode(), headers, capture["path"]
            )
        self.assertEqual(answer.status, 200)


class SlowDispatch:
    """A dispatch that takes ``delay`` seconds (a slow message bus)."""

    def __init__(self, service, delay):
        self._dispatch = service.dispatch
        self._delay = delay
        service.dispatch = self

    def __call__(self, trigger, payload=None, trace_tag=None):
        time.sleep(self._delay)
        return self._dispatch(trigger=trigger, payload=payload, trace_tag=trace_tag)


class WebhookSensorLifecycleTest(BaseSensorTestCase):
    sensor_cls = AlertmanagerWebhookSensor

    def test_in_flight_request_finishes_during_cleanup(self):
        SlowDispatch(self.sensor_service, delay=0.5)
        sensor = self.get_sensor_instance(config=base_config())
        sensor.setup()
        runner = threading.Thread(target=sensor.run, daemon=True)
        runner.start()
        port = sensor.server.address[1]
        answers = []
        client = threading.Thread(
            target=lambda: answers.append(
                request(port, "POST", "/webhook", firing_body(), bearer(TOKEN))
            )
        )
        client.start()
        time.sleep(0.2)  # the request is now waiting on its dispatches
        sensor.cleanup()
        client.join(10)
        runner.join(10)
        self.assertEqual([a.status for a in answers], [200])
        self.assertEqual(len(alert_payloads(self.get_dispatched_triggers())), 3)
        with self.assertRaises(OSError):
            request(port, "GET", "/health", timeout=2)

    def test_https_with_configured_certificate(self):
        tmp = tempfile.mkdtemp()
        cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
            check=True,
            capture_output=True,
        )  # fmt: skip
        with running_sensor(self, tls_cert_file=cert, tls_key_file=key) as sensor:
            port = sensor.server.address[1]
            context = ssl.create_default_context(cafile=cert)
            context.check_hostname = False
            answer = request(
                port, "POST", "/webhook", firing_body(), bearer(TOKEN), tls_context=context
            )
            with self.assertRaises((http.client.HTTPException, OSError)):
                request(port, "GET", "/health", timeout=3)  # plain HTTP is not served
            still = request(port, "GET", "/health", tls_context=context)
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.json["dispatched"], 3)
        self.assertEqual(still.status, 200)
