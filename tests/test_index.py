"""The hourly indexes and the sensor's batches: queries whose cost does not
grow with old records, and every batched alert still found."""

import json
import time
from unittest import mock

import pytest
from local_sensor_service import LocalSensorService
from pack_actions import run_python_action, shared_datastore

from poundcake import index, sizes
from poundcake.incident_view import IncidentView
from poundcake.incidents import apply, decide, observe
from poundcake.lifecycle_config import Retention
from poundcake.metrics import SensorMetrics
from poundcake.queries import (
    QueryError,
    alert_stats,
    get_alert,
    get_request,
    list_alerts,
    recent,
)
from poundcake.recorder import IncidentRecorder
from poundcake.state_store import INCIDENT, NOISE, StateStore, iso
from poundcake.tracking import new_request_id, request_time

NOW = 1_795_500_000.0  # 2026-11-24T06:00:00Z
DAY = 86400
TTL = 30 * DAY
KEEP = Retention(TTL, 3 * DAY)


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def paged_store(clock):
    """A store over a service that pages like st2api (100 keys a call)."""
    return StateStore(LocalSensorService(sink=None), clock=clock)


def alert(i, starts, alertname="Noise", severity="warning", opted=False, status="firing"):
    stamp = iso(starts)
    fingerprint = f"{i:016x}"
    labels = {"alertname": alertname, "instance": f"web-{i}"}
    if opted:
        labels["auto_remediate"] = "true"
    return {
        "tracking_id": f"{fingerprint}-{stamp.replace('-', '').replace(':', '')}",
        "fingerprint": fingerprint,
        "alertname": alertname,
        "severity": severity,
        "instance": f"web-{i}",
        "labels": labels,
        "starts_at": stamp,
        "ends_at": None,
        "status": status,
    }


def record(store, payload, request_id, now):
    """Write a per-incident record as record_alert would (or the sensor did
    before its batches, for ``opted=False``)."""
    rec = observe(None, {**payload, "request_id": request_id}, now)
    opted = payload["labels"].get("auto_remediate") == "true"
    apply(rec, decide(rec, opted, [], False, now), "exec-1" if opted else "", now)
    store.put(INCIDENT + payload["tracking_id"], rec)


def deliver(store, writer, alerts, at):
    """One delivery of opted-in alerts: their records and index entries, flushed."""
    request_id = new_request_id(at)
    for payload in alerts:
        record(store, payload, request_id, at)
    writer.add(request_id, alerts)
    writer.flush()
    return request_id


def writer_over(store, **kwargs):
    return index.IndexWriter(store, mock.Mock(), SensorMetrics(), TTL, **kwargs)


def recorder_over(store, writer, view=None):
    return IncidentRecorder(
        store, mock.Mock(), TTL, 3 * DAY, SensorMetrics(), view or IncidentView(), writer, hold=0
    )


def sensor_over(clock):
    """A paged store with the sensor's index writer and recorder over it."""
    store = paged_store(clock)
    writer = writer_over(store)
    return store, writer, recorder_over(store, writer)


def deliver_noise(store, writer, recorder, alerts, at):
    """One delivery of alerts no rule remediates, as the sensor takes and records it."""
    request_id = new_request_id(at)
    payloads = [{**a, "request_id": request_id, "received_at": iso(at)} for a in alerts]
    writer.add(request_id, payloads)
    recorder.record(payloads)
    writer.flush()
    return request_id


def test_request_ids_carry_their_time_and_keep_their_shape():
    request_id = new_request_id(NOW)
    assert request_id.startswith("req-") and len(request_id) == 36
    assert request_time(request_id) == NOW
    assert request_time("req-" + "1" * 32) is None, "ids from before the index have no time"
    assert new_request_id(NOW) != request_id


@pytest.mark.parametrize("opted", [True, False], ids=["per-incident records", "batches"])
def test_list_alerts_reads_the_newest_hours_only_however_many_records_are_older(opted):
    """The calls a query makes do not change when 3,000 older incidents
    (spread over 3 days) are added under it."""
    clock = Clock()
    costs = []
    for older in (0, 3000):
        store, writer, recorder = sensor_over(clock)
        for first in range(0, older, 500):
            old = [alert(i, NOW - 3600 - (i * 86) % (3 * DAY)) for i in range(first, first + 500)]
            clock.now = NOW - 3600
            deliver_noise(store, writer, recorder, old, NOW - 3600)
        clock.now = NOW
        new = [alert(10_000 + i, NOW - 60 * i, severity="critical", opted=opted) for i in range(5)]
        if opted:
            deliver(store, writer, new, NOW)
        else:
            deliver_noise(store, writer, recorder, new, NOW)
        before = store.calls
        shown = list_alerts(store, severity="critical", limit=3, retention=KEEP)
        costs.append(store.calls - before)
        assert [a["tracking_id"] for a in shown] == [a["tracking_id"] for a in new[:3]]
    assert costs[0] == costs[1], f"calls with 0 and 3,000 older records: {costs}"
    assert costs[1] <= (12 if opted else 6), "two probes, three hours listed, what is shown"


def test_list_alerts_is_newest_first_across_hours_and_days_with_filters():
    clock = Clock()
    store, writer, recorder = sensor_over(clock)
    starts = [NOW - 5 * DAY, NOW - 2 * DAY, NOW - 7200, NOW - 30]
    alerts = [
        alert(i, s, alertname="A" if i % 2 else "B", opted=i == 0) for i, s in enumerate(starts)
    ]
    deliver(store, writer, alerts[:1], NOW)
    deliver_noise(store, writer, recorder, alerts[1:], NOW)
    everything = list_alerts(store, retention=KEEP)
    assert [a["starts_at"] for a in everything] == [iso(s) for s in reversed(starts)]
    only_a = list_alerts(store, alertname="A", limit=1, retention=KEEP)
    assert [a["starts_at"] for a in only_a] == [iso(NOW - 30)]
    recorded_b = list_alerts(store, status="recorded", alertname="B", retention=KEEP)
    assert [a["starts_at"] for a in recorded_b] == [iso(NOW - 7200)]
    assert list_alerts(store, status="resolved", retention=KEEP) == []
    store.delete(INCIDENT + alerts[0]["tracking_id"])  # expired (st2's key TTL)
    assert list_alerts(store, alertname="B", retention=KEEP)[-1]["starts_at"] == iso(NOW - 7200)
    with pytest.raises(QueryError):
        list_alerts(store, limit=0, retention=KEEP)


def test_a_long_firing_alert_stays_within_the_walked_hours():
    """An alert that started before the records' TTL is indexed no older than
    half of it, and again when seen half a TTL later, so list_alerts (which
    walks back the TTL and a day) still finds it while its record lives."""
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    ancient = alert(1, NOW - 90 * DAY, opted=True)
    deliver(store, writer, [ancient], NOW)
    assert list_alerts(store, retention=KEEP)[0]["tracking_id"] == ancient["tracking_id"]
    clock.now = NOW + TTL / 2 - 60  # re-sent within half a TTL: not indexed again
    writer.add(new_request_id(clock.now), [ancient])
    assert writer.flush() == 1, "only the delivery's key"
    clock.now = NOW + TTL / 2 + 60  # re-sent later: indexed again, nearer now
    deliver(store, writer, [ancient], clock.now)
    clock.now = NOW + TTL + DAY / 2
    assert list_alerts(store, retention=KEEP)[0]["tracking_id"] == ancient["tracking_id"]
    assert index.bucket_time(iso(NOW + 7200), NOW, TTL) == NOW, "never in the future"


def test_get_request_reads_one_hour_of_the_delivery_index_however_old_the_delivery():
    clock = Clock(NOW - 48 * 3600)
    store, writer, recorder = sensor_over(clock)
    old_id = None
    for hour in range(48, -1, -1):  # two days of deliveries, one an hour
        clock.now = NOW - hour * 3600
        other = [alert(1000 + hour * 3 + i, clock.now - 60) for i in range(3)]
        request_id = deliver_noise(store, writer, recorder, other, clock.now)
        old_id = old_id or request_id
    wanted = [alert(i, NOW - 10, opted=True) for i in range(4)]
    noisy = [alert(100 + i, NOW - 10) for i in range(4)]
    request_id = deliver(store, writer, wanted, NOW)
    noise_id = deliver_noise(store, writer, recorder, noisy, NOW)
    # the delivery's hour; the fingerprint index once (4 shards, 3 recent
    # hours); then a batch, or a record (its resolve written in), each
    for count, rid, most in ((4, request_id, 8 + 4), (4, noise_id, 8 + 1), (3, old_id, 8 + 1)):
        before = store.calls
        shown = get_request(store, rid, KEEP)["alerts"]
        assert store.calls - before <= most, (rid, store.calls - before)
        assert len(shown) == count
    assert sorted(a["tracking_id"] for a in get_request(store, noise_id, KEEP)["alerts"]) == sorted(
        a["tracking_id"] for a in noisy
    )
    with pytest.raises(QueryError, match="no incident recorded"):
        get_request(store, new_request_id(NOW), KEEP)


def test_queries_read_every_record_where_there_is_no_index():
    """An install whose sensor never wrote the index, and a request id from
    before it, are still answered (by reading every record)."""
    store = StateStore(shared_datastore())
    payload = alert(7, NOW - 60)
    record(store, payload, "req-" + "7" * 32, NOW)
    assert [a["tracking_id"] for a in list_alerts(store)] == [payload["tracking_id"]]
    shown = get_request(store, "req-" + "7" * 32)["alerts"]
    assert [a["tracking_id"] for a in shown] == [payload["tracking_id"]]


def test_a_failed_flush_keeps_its_entries_for_the_next():
    clock = Clock()
    store = paged_store(clock)
    metrics = SensorMetrics()
    writer = index.IndexWriter(store, mock.Mock(), metrics, TTL)
    payload = alert(3, NOW - 60, opted=True)
    record(store, payload, "req-" + "3" * 32, NOW)
    writer.add(new_request_id(NOW), [payload])
    with mock.patch.object(store, "put", side_effect=ConnectionError("st2api down")):
        assert writer.flush() == 0
    assert metrics.index_failures._value.get() == 2 and writer.pending == 2
    assert writer.flush() == 2 and writer.pending == 0
    assert list_alerts(store, retention=KEEP)[0]["tracking_id"] == payload["tracking_id"]


def test_every_index_key_stays_within_the_size_bound_one_flush_at_a_time():
    clock = Clock()
    service = LocalSensorService(sink=None)
    store = StateStore(service, clock=clock)
    writer = writer_over(store)
    storm = [alert(i, NOW - 5, opted=True) for i in range(10_000)]
    storm[7]["alertname"] = "A" * 3_000_000  # from whoever writes alert rules
    writer.add(new_request_id(NOW), storm)
    written = writer.flush()
    values = [service._values[k] for k in sorted(service._values)]
    assert len(values) == written and written >= 3
    assert all(len(v) <= sizes.MAX_DOCUMENT_BYTES for v in values)
    rows = [r for v in values for r in json.loads(v).get("incidents", [])]
    assert sorted(r[0] for r in rows) == sorted(a["tracking_id"] for a in storm)
    requests = [json.loads(v).get("requests", {}) for v in values]
    assert sum(len(ids) for r in requests for ids in r.values()) == 10_000


def test_the_list_alerts_action_walks_back_as_far_as_records_live():
    datastore = shared_datastore()
    store = StateStore(datastore)
    writer = index.IndexWriter(store, mock.Mock(), SensorMetrics(), 0)  # records never expire
    old = alert(5, time.time() - 200 * DAY, opted=True)
    deliver(store, writer, [old], time.time())
    config = {"unresolved_ttl_seconds": 0}
    ok, shown = run_python_action("list_alerts", {}, datastore=datastore, config=config)
    assert ok and [a["tracking_id"] for a in shown] == [old["tracking_id"]]


def test_the_sensors_first_read_indexes_records_from_before_the_index():
    from prometheus_client import CollectorRegistry

    from poundcake.state_metrics import RemediationMetrics, StatePoller

    clock = Clock()
    store = paged_store(clock)
    legacy = [alert(i, NOW - i * 3600) for i in range(5)]
    for payload in legacy:
        record(store, payload, "req-" + "5" * 32, NOW)

    def start_sensor():
        writer = writer_over(store)
        poller = StatePoller(
            RemediationMetrics(CollectorRegistry()),
            store,
            1,
            mock.Mock(),
            IncidentView(),
            index=writer,
        )
        poller.poll_once()
        return writer.flush()

    assert not index.indexed(store)
    assert start_sensor() == 5, "one key per hour the legacy incidents started in"
    shown = list_alerts(store, limit=10, retention=KEEP)
    assert [a["tracking_id"] for a in shown] == [p["tracking_id"] for p in legacy]
    assert start_sensor() == 0, "an indexed install is not indexed again"


def test_a_rare_status_reads_every_record_rather_than_one_at_a_time(monkeypatch):
    """No index entry says an opted-in incident's state (st2's actions change
    it): past MAX_READS single reads, reading every record 100 a call is
    cheaper. A batched incident's state is in its row: nothing is read."""
    from poundcake import queries

    monkeypatch.setattr(queries, "MAX_READS", 50)
    clock = Clock()
    store, writer, recorder = sensor_over(clock)
    deliver(store, writer, [alert(i, NOW - 600 - i, opted=True) for i in range(400)], NOW)
    deliver_noise(store, writer, recorder, [alert(1000 + i, NOW - 600) for i in range(400)], NOW)
    before = store.calls
    assert list_alerts(store, status="failed", retention=KEEP) == []
    # 50 single reads, then every record 100 a call, and the walk back
    # through the days that have no index key (one call each)
    assert store.calls - before < 50 + 10 + 40, "not 400 single reads"
    assert len(list_alerts(store, status="remediating", limit=10, retention=KEEP)) == 10
    before = store.calls
    assert len(list_alerts(store, status="recorded", limit=400, retention=KEEP)) == 400
    assert store.calls - before < 10, "one batch read for 400 recorded incidents"


# ---------------------------------------------------------------- the batches
def test_a_batched_alert_is_found_by_every_query_with_its_tracking_id_in_its_history():
    clock = Clock()
    datastore = shared_datastore()
    store = StateStore(datastore, clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    storm = [alert(i, NOW - 120, alertname=f"Noise{i % 3}") for i in range(1000)]
    request_id = deliver_noise(store, writer, recorder, storm, NOW - 100)
    again = new_request_id(NOW)  # a re-send past the dedup window: same incident
    payload = {**storm[42], "request_id": again, "received_at": iso(NOW)}
    writer.add(again, [payload])
    recorder.record([payload])
    writer.flush()
    wanted = storm[42]
    shown = get_alert(store, wanted["fingerprint"], KEEP)["current"]
    assert shown["tracking_id"] == wanted["tracking_id"] and shown["state"] == "recorded"
    assert shown["request_ids"] == [request_id, again]
    assert [h["state"] for h in shown["history"]] == ["received", "recorded", "recorded"]
    listed = list_alerts(store, alertname="Noise0", limit=1000, retention=KEEP)
    assert len(listed) == 334 and all(a["state"] == "recorded" for a in listed)
    in_request = get_request(store, request_id, KEEP)["alerts"]
    assert sorted(a["tracking_id"] for a in in_request) == sorted(a["tracking_id"] for a in storm)
    assert alert_stats(store, 24, KEEP)["total"] == 1000
    assert alert_stats(store, 24, KEEP)["by_severity"] == {"warning": 1000}
    clock.now = NOW + 86400 * 2  # started two days ago: outside the last 24 hours
    assert alert_stats(store, 24, KEEP)["total"] == 0
    assert alert_stats(store, 72, KEEP)["by_status"] == {"recorded": 1000}


def test_a_resolve_closes_every_open_incident_of_its_fingerprint_and_is_kept_a_while():
    clock = Clock()
    store = StateStore(shared_datastore(), clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    first = alert(5, NOW - 3 * 3600)
    deliver_noise(store, writer, recorder, [first], NOW - 3 * 3600)
    drifted = alert(5, NOW - 600)  # a restarted Prometheus: another startsAt
    deliver_noise(store, writer, recorder, [drifted], NOW - 600)
    clock.now = NOW
    resolve = {**drifted, "status": "resolved", "ends_at": iso(NOW - 5)}
    deliver_noise(store, writer, recorder, [resolve], NOW)
    late = deliver_noise(store, writer, recorder, [first], NOW + 1)  # a re-send after the resolve
    found = get_alert(store, first["fingerprint"], KEEP)
    states = {i["tracking_id"]: i["state"] for i in [found["current"], *found["history"]]}
    assert states == {first["tracking_id"]: "resolved", drifted["tracking_id"]: "resolved"}
    older = next(i for i in found["history"] if i["tracking_id"] == first["tracking_id"])
    assert "another startsAt" in older["history"][-1]["note"]
    assert late not in older["request_ids"], "a late re-send changes nothing"
    listed = list_alerts(store, retention=KEEP)
    assert [a["state"] for a in listed] == ["resolved", "resolved"]
    stats = alert_stats(store, 24, KEEP)
    assert stats["by_status"] == {"resolved": 2}
    clock.now = NOW + 3 * DAY + 60  # incident_ttl_seconds after the resolve: gone
    with pytest.raises(QueryError, match="no incident recorded"):
        get_alert(store, first["fingerprint"], KEEP)
    assert list_alerts(store, retention=KEEP) == []


def test_ttl_0_keeps_a_resolved_batched_incident_its_batches_and_index_for_ever():
    """0 means never, for either TTL, as for a per-incident record: the
    batches and the index keys that find them get no st2 key TTL either."""
    clock = Clock()
    datastore = shared_datastore()
    store = StateStore(datastore, clock=clock)
    kept = Retention(TTL, 0)
    writer = index.IndexWriter(store, mock.Mock(), SensorMetrics(), kept.longest)
    recorder = IncidentRecorder(
        store, mock.Mock(), TTL, 0, SensorMetrics(), IncidentView(), writer, hold=0
    )
    firing = alert(7, NOW - 600)
    deliver_noise(store, writer, recorder, [firing], NOW - 600)
    resolve = {**firing, "status": "resolved", "ends_at": iso(NOW - 5)}
    deliver_noise(store, writer, recorder, [resolve], NOW)
    writer.stop()  # the hour's fingerprints compacted, as when the sensor stops
    written = datastore._datastore_items
    assert any(name.startswith(NOISE) for name in written)
    assert not [name for name, kvp in written.items() if getattr(kvp, "ttl", None)
                and not name.startswith("poundcake.fingerprints.r.")]  # fmt: skip
    clock.now = NOW + 365 * DAY
    assert get_alert(store, firing["fingerprint"], kept)["current"]["state"] == "resolved"
    assert [a["state"] for a in list_alerts(store, retention=kept)] == ["resolved"]
    with pytest.raises(QueryError, match="no incident recorded"):
        get_alert(store, firing["fingerprint"], KEEP)  # incident_ttl_seconds: 3 days


def test_a_resolve_whose_firing_was_never_recorded_is_its_own_resolved_incident():
    clock = Clock()
    store = StateStore(shared_datastore(), clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    resolve = {**alert(9, NOW - 600), "status": "resolved", "ends_at": iso(NOW - 5)}
    deliver_noise(store, writer, recorder, [resolve], NOW)
    shown = get_alert(store, resolve["fingerprint"], KEEP)["current"]
    assert shown["state"] == "resolved" and shown["tracking_id"] == resolve["tracking_id"]
    assert [a["state"] for a in list_alerts(store, retention=KEEP)] == ["resolved"]


def test_a_record_from_before_the_batches_goes_on_from_its_batched_events():
    clock = Clock()
    store = StateStore(shared_datastore(), clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    payload = alert(11, NOW - 3600)
    record(store, payload, "req-" + "b" * 32, NOW - 3500)  # written by an earlier version
    resolve = {**payload, "status": "resolved", "ends_at": iso(NOW - 5)}
    deliver_noise(store, writer, recorder, [resolve], NOW)
    shown = get_alert(store, payload["fingerprint"], KEEP)
    assert shown["history"] == [] and shown["current"]["state"] == "resolved"
    assert shown["current"]["request_ids"][0] == "req-" + "b" * 32


def test_a_maintenance_window_is_recorded_in_the_batch_and_shown():
    from poundcake.suppressions import new_suppression

    clock = Clock()
    store = StateStore(shared_datastore(), clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    window = new_suppression(
        [{"name": "instance", "op": "=", "value": "web-1"}],
        NOW - 60,
        NOW + 600,
        "rack move",
        "bob",
        NOW - 60,
    )
    recorder.set_suppressions([window])
    deliver_noise(store, writer, recorder, [alert(1, NOW - 10), alert(2, NOW - 10)], NOW)
    shown = {a["tracking_id"]: a["state"] for a in list_alerts(store, retention=KEEP)}
    assert sorted(shown.values()) == ["recorded", "suppressed"]
    record_ = get_alert(store, alert(1, NOW - 10)["fingerprint"], KEEP)["current"]
    assert record_["suppressed_by"]["suppression_id"] == window.id
    assert alert_stats(store, 24, KEEP)["by_status"] == {"recorded": 1, "suppressed": 1}


def test_a_delivery_of_10000_alerts_is_stored_in_few_writes_each_within_the_bound():
    clock = Clock()
    service = LocalSensorService(sink=None)
    store = StateStore(service, clock=clock)
    writer = writer_over(store)
    recorder = recorder_over(store, writer)
    storm = [alert(i, NOW - 10) for i in range(10_000)]
    for a in storm[:3]:  # megabytes of labels, from whoever writes alert rules
        a["labels"] = {f"l{j}": "x" * 2000 for j in range(600)}
    before = store.calls
    request_id = deliver_noise(store, writer, recorder, storm, NOW)
    writes = store.calls - before
    values = {k: v for k, v in service._values.items()}
    assert all(len(v) <= sizes.MAX_DOCUMENT_BYTES for v in values.values())
    batches = [json.loads(v) for k, v in values.items() if k.startswith(NOISE)]
    events = [e for b in batches for e in b["events"]]
    assert sorted(e["tracking_id"] for e in events) == sorted(a["tracking_id"] for a in storm)
    assert all(
        e.get("cut") for e in events if e["tracking_id"] in {a["tracking_id"] for a in storm[:3]}
    )
    assert writes <= 0.01 * len(storm), f"{writes} datastore writes for {len(storm)} alerts"
    shown = get_request(store, request_id, KEEP)["alerts"]
    assert len(shown) == 10_000


@pytest.mark.parametrize("query", ["alert_stats", "sensor start", "get_alert"])
def test_the_sensors_start_alert_stats_and_get_alert_read_as_much_at_any_number_of_old_records(
    query,
):
    """What they read follows the last hours (stats: its window; the start:
    the newest incidents and the opted-in ones in flight; get_alert: its
    fingerprint's shard of the compacted hours, a key or so an hour), never
    the records retained: 0 or 3,000 older batched incidents (30 hours of
    deliveries) cost the same calls (get_alert: a page more for the hours)."""
    clock = Clock()
    costs = []
    for older in (0, 3000):
        store, writer, recorder = sensor_over(clock)
        for first in range(0, older, 100):
            at = NOW - 2 * DAY - (first // 100) * 3600
            clock.now = at
            old = [alert(i, at - 60) for i in range(first, first + 100)]
            deliver_noise(store, writer, recorder, old, at)
        clock.now = NOW
        deliver(store, writer, [alert(50_000 + i, NOW - 60, opted=True) for i in range(3)], NOW)
        deliver_noise(
            store, writer, recorder, [alert(60_000 + i, NOW - 60) for i in range(20)], NOW
        )
        before = store.calls
        if query == "alert_stats":
            assert alert_stats(store, 24, KEEP)["total"] == 23
        elif query == "get_alert":
            shown = get_alert(store, alert(60_007, NOW - 60)["fingerprint"], KEEP)
            assert shown["current"]["state"] == "recorded"
        else:
            shown = recent(store, KEEP, limit=20, watch_seconds=6 * 3600)
            assert len(shown) >= 23
        costs.append(store.calls - before)
    if query == "get_alert":  # its shard has a key per hour: 30 more hours, one more page
        assert costs[1] - costs[0] <= 1 and costs[1] <= 10, costs
    else:
        assert costs[0] == costs[1], f"calls with 0 and 3,000 older records: {costs}"


def test_the_fingerprint_index_compacts_each_hour_gone_by_in_shards():
    from poundcake.fingerprints import HOURLY, RECENT, FingerprintIndex

    held = FingerprintIndex()
    held.add(
        "poundcake.noise.2026112405.w-1", ["0aaaaaaaaaaaaaaa", "fbbbbbbbbbbbbbbb"], "2026112405"
    )
    (recent,) = held.writes("2026112405")
    assert recent[0] == f"{RECENT}2026112405." and held.pending == 0, "written: held to compact"
    held.add("poundcake.noise.2026112405.w-2", ["0aaaaaaaaaaaaaaa"], "2026112405")
    writes = held.writes("2026112406")
    assert [w[0] for w in writes] == [
        f"{RECENT}2026112406.",
        f"{HOURLY}0.2026112405.",
        f"{HOURLY}3.2026112405.",
    ]
    assert sorted(writes[1][1]["batches"]) == [
        "poundcake.noise.2026112405.w-1",
        "poundcake.noise.2026112405.w-2",
    ]
    held.keep(writes[2], "2026112406")  # st2api refused it: written by the next flush
    assert [w[0] for w in held.writes("2026112406")] == [f"{HOURLY}3.2026112405."]


def test_a_crash_hour_left_uncompacted_stays_found_by_get_alert_while_its_recent_keys_live():
    """A sensor killed mid-hour never compacts it: get_alert reads the recent
    keys of every hour they are kept, not of the last two only."""
    from poundcake.fingerprints import RECENT_HOURS

    clock = Clock()
    store, writer, recorder = sensor_over(clock)
    lost = alert(11, NOW - 60)
    deliver_noise(store, writer, recorder, [lost], NOW)  # flushed; the hour never compacted
    clock.now = NOW + (RECENT_HOURS - 0.5) * 3600  # a restarted sensor, hours later
    assert get_alert(store, lost["fingerprint"], KEEP)["current"]["state"] == "recorded"


def test_a_batch_st2api_refused_is_tried_again_and_counted_only_when_it_never_lands():
    """A re-send of its alerts would be a duplicate, never recorded: the
    writer itself tries again (st2api restarting)."""
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    metrics = SensorMetrics()
    recorder = IncidentRecorder(
        store, mock.Mock(), TTL, 3 * DAY, metrics, IncidentView(), writer, hold=0,
        retry_seconds=(0, 0),
    )  # fmt: skip
    put = store.put
    refusals = iter([ConnectionError("st2api restarting")] * 2)

    def flaky(key, doc, ttl=None):
        if key.startswith(NOISE):
            failure = next(refusals, None)
            if failure is not None:
                raise failure
        return put(key, doc, ttl=ttl)

    lost = alert(12, NOW - 60)
    with mock.patch.object(store, "put", side_effect=flaky):
        assert (
            recorder.record([{**lost, "request_id": new_request_id(NOW), "received_at": iso(NOW)}])
            == 1
        )
    assert metrics.record_failures._value.get() == 0
    assert get_alert(store, lost["fingerprint"], KEEP)["current"]["state"] == "recorded"
    down = alert(13, NOW - 60)
    with mock.patch.object(store, "put", side_effect=ConnectionError("st2api down")):
        assert (
            recorder.record([{**down, "request_id": new_request_id(NOW), "received_at": iso(NOW)}])
            == 0
        )
    assert metrics.record_failures._value.get() == 1, "counted once, after every try"


def test_batches_are_read_in_pages_st2api_can_answer_however_light_the_first():
    """Keys list in name order: light batches then a storm's 1 MB ones. Each
    page of the sensor's start holds SEED_PAGE_BYTES of the heaviest a batch
    may be, never 100 of them (100 MB: the kit's st2api answered 500)."""
    from poundcake.queries import SEED_PAGE_BYTES
    from poundcake.sizes import MAX_DOCUMENT_BYTES

    clock = Clock()
    service = LocalSensorService(sink=None)
    store = StateStore(service, clock=clock)
    pages = []
    lister = store._list_page

    def listed(prefix, offset, size):
        pages.append(size)
        return lister(prefix, offset, size)

    store._list_page = listed
    for i in range(30):
        store.put(f"{NOISE}2026120208.w-{i:03d}", {"events": [{"i": i}]})
    assert len(list(store.scan(f"{NOISE}2026120208.", SEED_PAGE_BYTES, MAX_DOCUMENT_BYTES))) == 30
    assert set(pages) == {SEED_PAGE_BYTES // MAX_DOCUMENT_BYTES}
