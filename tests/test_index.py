"""The hourly indexes: queries whose cost does not grow with old records."""

import json
import time
from unittest import mock

import pytest
from local_sensor_service import LocalSensorService
from pack_actions import run_python_action, shared_datastore

from poundcake import index
from poundcake.incidents import apply, decide, observe
from poundcake.metrics import SensorMetrics
from poundcake.queries import QueryError, get_request, list_alerts
from poundcake.state_store import INCIDENT, StateStore, iso
from poundcake.tracking import new_request_id, request_time

NOW = 1_795_500_000.0  # 2026-11-24T06:00:00Z
DAY = 86400
TTL = 30 * DAY


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def paged_store(clock):
    """A store over a service that pages like st2api (100 keys a call)."""
    return StateStore(LocalSensorService(sink=None), clock=clock)


def alert(i, starts, alertname="Noise", severity="warning"):
    stamp = iso(starts)
    fingerprint = f"{i:016x}"
    return {
        "tracking_id": f"{fingerprint}-{stamp.replace('-', '').replace(':', '')}",
        "fingerprint": fingerprint,
        "alertname": alertname,
        "severity": severity,
        "instance": "web-1",
        "labels": {"alertname": alertname},
        "starts_at": stamp,
        "status": "firing",
    }


def record(store, payload, request_id, now):
    """Write the incident record as the sensor's recorder would."""
    rec = observe(None, {**payload, "request_id": request_id}, now)
    apply(rec, decide(rec, False, [], False, now), "", now)
    store.put(INCIDENT + payload["tracking_id"], rec)


def deliver(store, writer, alerts, at):
    """One delivery: its records and its index entries, flushed."""
    request_id = new_request_id(at)
    for payload in alerts:
        record(store, payload, request_id, at)
    writer.add(request_id, alerts)
    writer.flush()
    return request_id


def writer_over(store, **kwargs):
    return index.IndexWriter(store, mock.Mock(), SensorMetrics(), TTL, **kwargs)


def test_request_ids_carry_their_time_and_keep_their_shape():
    request_id = new_request_id(NOW)
    assert request_id.startswith("req-") and len(request_id) == 36
    assert request_time(request_id) == NOW
    assert request_time("req-" + "1" * 32) is None, "ids from before the index have no time"
    assert new_request_id(NOW) != request_id


def test_list_alerts_reads_the_newest_hours_only_however_many_records_are_older():
    """The calls a query makes do not change when 3,000 older incidents
    (spread over 3 days) are added under it."""
    clock = Clock()
    costs = []
    for older in (0, 3000):
        store = paged_store(clock)
        writer = writer_over(store)
        for first in range(0, older, 500):
            old = [alert(i, NOW - 3600 - (i * 86) % (3 * DAY)) for i in range(first, first + 500)]
            deliver(store, writer, old, NOW - 3600)
        new = [alert(10_000 + i, NOW - 60 * i, severity="critical") for i in range(5)]
        deliver(store, writer, new, NOW)
        before = store.calls
        shown = list_alerts(store, severity="critical", limit=3, ttl=TTL)
        costs.append(store.calls - before)
        assert [a["tracking_id"] for a in shown] == [a["tracking_id"] for a in new[:3]]
    assert costs[0] == costs[1], f"calls with 0 and 3,000 older records: {costs}"
    assert costs[1] <= 12, "two probes, three hours listed, two gets per incident shown"


def test_list_alerts_is_newest_first_across_hours_and_days_with_filters():
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    starts = [NOW - 5 * DAY, NOW - 2 * DAY, NOW - 7200, NOW - 30]
    alerts = [alert(i, s, alertname="A" if i % 2 else "B") for i, s in enumerate(starts)]
    deliver(store, writer, alerts, NOW)
    everything = list_alerts(store, ttl=TTL)
    assert [a["starts_at"] for a in everything] == [iso(s) for s in reversed(starts)]
    only_a = list_alerts(store, alertname="A", limit=1, ttl=TTL)
    assert [a["starts_at"] for a in only_a] == [iso(NOW - 30)]
    assert list_alerts(store, status="recorded", alertname="B", ttl=TTL)[0]["starts_at"] == iso(
        NOW - 7200
    )
    assert list_alerts(store, status="resolved", ttl=TTL) == []
    store.delete(INCIDENT + alerts[3]["tracking_id"])  # expired (st2's key TTL)
    assert list_alerts(store, limit=1, ttl=TTL)[0]["starts_at"] == iso(NOW - 7200)
    with pytest.raises(QueryError):
        list_alerts(store, limit=0, ttl=TTL)


def test_a_long_firing_alert_stays_within_the_walked_hours():
    """An alert that started before the records' TTL is indexed no older than
    half of it, and again when seen half a TTL later, so list_alerts (which
    walks back the TTL and a day) still finds it while its record lives."""
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    ancient = alert(1, NOW - 90 * DAY)
    deliver(store, writer, [ancient], NOW)
    assert list_alerts(store, ttl=TTL)[0]["tracking_id"] == ancient["tracking_id"]
    clock.now = NOW + TTL / 2 - 60  # re-sent within half a TTL: not indexed again
    writer.add(new_request_id(clock.now), [ancient])
    assert writer.flush() == 1, "only the delivery's key"
    clock.now = NOW + TTL / 2 + 60  # re-sent later: indexed again, nearer now
    deliver(store, writer, [ancient], clock.now)
    clock.now = NOW + TTL + DAY / 2
    assert list_alerts(store, ttl=TTL)[0]["tracking_id"] == ancient["tracking_id"]
    assert index.bucket_time(iso(NOW + 7200), NOW, TTL) == NOW, "never in the future"


def test_get_request_reads_one_hour_of_the_delivery_index():
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    for hour in range(48):  # two days of other deliveries
        at = NOW - hour * 3600
        deliver(store, writer, [alert(1000 + hour * 3 + i, at) for i in range(3)], at)
    wanted = [alert(i, NOW - 10) for i in range(4)]
    request_id = deliver(store, writer, wanted, NOW)
    before = store.calls
    shown = get_request(store, request_id)
    assert store.calls - before == 1 + len(wanted), "one list, then each incident (one key each)"
    assert sorted(a["tracking_id"] for a in shown["alerts"]) == sorted(
        a["tracking_id"] for a in wanted
    )
    with pytest.raises(QueryError, match="no incident recorded"):
        get_request(store, new_request_id(NOW))


def test_queries_read_every_record_where_there_is_no_index():
    """An install whose sensor never wrote the index, and a request id from
    before it, are still answered (by reading every record)."""
    store = StateStore(shared_datastore())
    payload = alert(7, NOW - 60)
    record(store, payload, "req-" + "7" * 32, NOW)
    assert [a["tracking_id"] for a in list_alerts(store)] == [payload["tracking_id"]]
    assert (
        get_request(store, "req-" + "7" * 32)["alerts"][0]["tracking_id"]
        == (payload["tracking_id"])
    )


def test_a_failed_flush_keeps_its_entries_for_the_next():
    clock = Clock()
    store = paged_store(clock)
    metrics = SensorMetrics()
    writer = index.IndexWriter(store, mock.Mock(), metrics, TTL)
    payload = alert(3, NOW - 60)
    record(store, payload, "req-" + "3" * 32, NOW)
    writer.add(new_request_id(NOW), [payload])
    with mock.patch.object(store, "put", side_effect=ConnectionError("st2api down")):
        assert writer.flush() == 0
    assert metrics.index_failures._value.get() == 2 and writer.pending == 2
    assert writer.flush() == 2 and writer.pending == 0
    assert list_alerts(store, ttl=TTL)[0]["tracking_id"] == payload["tracking_id"]


def test_entries_are_batched_and_one_key_per_flush_and_hour():
    clock = Clock()
    service = LocalSensorService(sink=None)
    store = StateStore(service, clock=clock)
    writer = writer_over(store)
    storm = [alert(i, NOW - 5) for i in range(2500)]
    writer.add(new_request_id(NOW), storm)
    assert writer.flush() == 4, "2,500 incidents in 3 keys of at most 1,000, one delivery key"
    keys = sorted(service._values)
    assert all(k.startswith((index.STARTED, index.DELIVERED)) for k in keys)
    sizes = [len(json.loads(service._values[k]).get("incidents", [])) for k in keys]
    assert sorted(sizes) == [0, 500, 1000, 1000]


def test_the_list_alerts_action_walks_back_as_far_as_records_live():
    datastore = shared_datastore()
    store = StateStore(datastore)
    writer = index.IndexWriter(store, mock.Mock(), SensorMetrics(), 0)  # records never expire
    old = alert(5, time.time() - 200 * DAY)
    deliver(store, writer, [old], time.time())
    config = {"unresolved_ttl_seconds": 0}
    ok, shown = run_python_action("list_alerts", {}, datastore=datastore, config=config)
    assert ok and [a["tracking_id"] for a in shown] == [old["tracking_id"]]


def test_the_sensors_first_read_indexes_records_from_before_the_index():
    from prometheus_client import CollectorRegistry

    from poundcake.incident_view import IncidentView
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
    shown = list_alerts(store, limit=10, ttl=TTL)
    assert [a["tracking_id"] for a in shown] == [p["tracking_id"] for p in legacy]
    assert start_sensor() == 0, "an indexed install is not indexed again"


def test_a_rare_status_reads_every_record_rather_than_one_at_a_time(monkeypatch):
    """No index entry says an incident's state (it changes): past MAX_READS
    single reads, reading every record 100 a call is cheaper."""
    from poundcake import queries

    monkeypatch.setattr(queries, "MAX_READS", 50)
    clock = Clock()
    store = paged_store(clock)
    writer = writer_over(store)
    deliver(store, writer, [alert(i, NOW - 600 - i) for i in range(400)], NOW)
    before = store.calls
    assert list_alerts(store, status="failed", ttl=TTL) == []
    assert store.calls - before < 50 + 20, "50 single reads, then 4 pages, not 400 reads"
    assert len(list_alerts(store, status="recorded", limit=10, ttl=TTL)) == 10
