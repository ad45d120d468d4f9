"""Store incident records straight into the st2 kit's database, for scale figures.

Writing them through st2api would cost st2 a trigger instance per write and
take hours, so this builds exactly the keys the pack writes, with the pack's
own code over a collecting datastore, and inserts them with st2's own model
(``KeyValuePairDB``) in bulk, without API, triggers or TTL:

- 99 % alerts no rule remediates, as the sensor's recorder stores them
  (:mod:`poundcake.noise` batches, their index rows, the deliveries' index
  entries); half of them resolved ten minutes later, in a delivery of their
  own;
- 1 % alerts a rule remediated, as ``record_alert`` and
  ``finish_remediation`` leave them (one record each, remediated), indexed
  as the sensor indexes them; half resolved (written into the record).

They come at one rate, a delivery of 10 every 259 s (139 an hour), going back
from now as far as it takes: 1,000 incidents are the last 7 hours, 10,000 the
last 3 days, 100,000 the last 30 (``unresolved_ttl_seconds``). More records
retained means records kept longer, not alerts coming faster: what a query of
the last hours reads stays the same, and what grows shows. The sensor's
writers flush once per delivery (a real sensor flushes every 15 s).

Run with the kit's Python and config (``bench_st2.py`` does):

    . $RIG/env.sh && python bench/seed_incidents.py 0 100000
"""

from __future__ import annotations

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "actions", "lib"))

from poundcake.fingerprints import FINGERPRINTS, RECENT, RECENT_HOURS  # noqa: E402
from poundcake.incidents import apply, decide, finish, observe  # noqa: E402
from poundcake.index import DELIVERED, STARTED, IndexWriter  # noqa: E402
from poundcake.recorder import IncidentRecorder  # noqa: E402
from poundcake.resolution import close  # noqa: E402
from poundcake.state_store import INCIDENT, NOISE, StateStore, iso  # noqa: E402
from poundcake.tracking import new_request_id  # noqa: E402

BATCH = 2000  # keys per bulk insert
WRITER = (
    "5eed"  # the seeded keys' writer ids start so (batches and index keys), then the run's start
)
FINGERPRINT = "5eed"  # every seeded fingerprint starts so
PER_DELIVERY = 10
INTERVAL = 30 * 86400 / (100_000 / PER_DELIVERY)  # seconds between deliveries
TTL = 30 * 86400


class NoMetrics:
    """The writers' metrics, not kept (the kit's Python has no prometheus_client)."""

    def __getattr__(self, name: str) -> NoMetrics:
        return self

    def set(self, *_) -> None:
        pass

    def inc(self, *_) -> None:
        pass


class Collected:
    """The datastore side of a sensor service, collecting writes for a bulk insert."""

    def __init__(self) -> None:
        self.values = {}

    def set_value(self, name, value, ttl=None, local=True):
        self.values[name] = value

    def get_value(self, name, local=True):
        return self.values.get(name)

    def list_values(self, local=True, prefix=None):
        return []


class NoView:
    """The sensor's view of recent incidents, not kept."""

    def take_events(self, events) -> None:
        pass


class Log:
    def warning(self, message, *args):
        raise RuntimeError(message % args)


def starts_of(slot: int, now: float) -> float:
    return now - 60 - slot * INTERVAL


def payload(i: int, starts: float, request_id: str, status: str = "firing") -> dict:
    fingerprint = f"{FINGERPRINT}{i:012x}"
    stamp = iso(starts)
    labels = {"alertname": f"Seeded{i % 50}", "instance": f"seed-{i % 997}:9100"}
    if i % 100 == 0:
        labels["auto_remediate"] = "true"
    return {
        "tracking_id": f"{fingerprint}-{stamp.replace('-', '').replace(':', '')}",
        "fingerprint": fingerprint,
        "status": status,
        "alertname": labels["alertname"],
        "severity": ("warning", "critical", "info")[i % 3],
        "instance": labels["instance"],
        "labels": labels,
        "annotations": {"summary": "seeded"},
        "starts_at": stamp,
        "ends_at": iso(starts + 600) if status == "resolved" else None,
        "request_id": request_id,
        "received_at": iso(starts + (600 if status == "resolved" else 1)),
    }


def remediated(store: StateStore, alert: dict, at: float, resolved: bool) -> None:
    """What process_alert leaves of a remediation that succeeded."""
    doc = observe(None, alert, at)
    apply(doc, decide(doc, True, [], False, at), "5eed" + "0" * 20, at, workflow="seeded")
    finish(doc, "succeeded", "poundcake.remediate_service_down", at + 30, None)
    if resolved:  # written into the record, as resolve_incident does
        close(doc, alert, at + 600)
    store.put(INCIDENT + alert["tracking_id"], doc)


def main(start: int, stop: int) -> None:
    """Seed incidents number ``start`` to ``stop - 1`` (a later call adds more);
    ``0 0`` removes every seeded key."""
    from st2common import config
    from st2common.database_setup import db_setup
    from st2common.models.db.keyvalue import KeyValuePairDB

    config.parse_args(args=["--config-file", os.environ["ST2_CONFIG_PATH"]])
    db_setup(ensure_indexes=False)
    collection = KeyValuePairDB._get_collection()
    if stop == 0:
        hour, writer = r"\d{10}[.]", WRITER + "[0-9a-f]*-"
        for prefix, rest in (
            (INCIDENT + FINGERPRINT, ""),
            (NOISE, hour + writer),
            (STARTED, hour + "[nr]?" + writer),
            (DELIVERED, hour + writer),
            (FINGERPRINTS, r"(r[.]|h[.]\d[.])" + hour + writer),
        ):
            pattern = "^" + re.escape(prefix) + rest
            gone = collection.delete_many({"name": {"$regex": pattern}})
            print(f"removed {gone.deleted_count} seeded keys matching {pattern}")
        return
    started, now = time.time(), time.time()
    collected = Collected()
    clock = [now]
    store = StateStore(collected, clock=lambda: clock[0])
    writer = f"{WRITER}{start:x}"  # a later call's keys never take an earlier's names
    index = IndexWriter(store, Log(), NoMetrics(), TTL, max_seen=200_000, writer=writer)
    recorder = IncidentRecorder(
        store, Log(), TTL, 3 * 86400, NoMetrics(), NoView(), index, writer=writer
    )
    deliveries = {}  # start time slot -> the alerts that started then
    for i in range(start, stop):
        deliveries.setdefault(i // PER_DELIVERY, []).append(i)
    for slot, members in deliveries.items():
        at = starts_of(slot, now)
        request_id = new_request_id(at)
        alerts = {i: payload(i, at, request_id) for i in members}
        noise = {i: a for i, a in alerts.items() if "auto_remediate" not in a["labels"]}
        clock[0] = at + 1
        for i, alert in alerts.items():
            if i not in noise:
                remediated(store, alert, at + 1, resolved=i % 2 == 1)
        index.add(request_id, list(alerts.values()))
        recorder.record(list(noise.values()))
        index.flush()
        resolve_id = new_request_id(at + 600)
        closing = [payload(i, at, resolve_id, "resolved") for i in noise if i % 2 == 1]
        if closing:
            clock[0] = at + 600
            index.add(resolve_id, closing)
            recorder.record(closing)
            index.flush()
        if len(collected.values) >= BATCH:
            insert(collection, KeyValuePairDB, collected)
    index.flush(everything=True)  # as a sensor that stops: its fingerprints compacted
    insert(collection, KeyValuePairDB, collected)
    took = time.time() - started
    print(f"seeded {stop - start} incidents (their batches, records and index) in {took:.1f} s")


def insert(collection, model, collected: Collected) -> None:
    """Insert what was collected, less the recent fingerprint keys st2's key TTL
    would have removed by now (the kit's database does not expire keys)."""
    oldest = time.strftime("%Y%m%d%H", time.gmtime(time.time() - RECENT_HOURS * 3600))
    docs = [
        model(name=k, value=v).to_mongo().to_dict()
        for k, v in collected.values.items()
        if not k.startswith(RECENT) or k[len(RECENT) : len(RECENT) + 10] >= oldest
    ]
    if docs:
        collection.insert_many(docs, ordered=False)
    collected.values.clear()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
