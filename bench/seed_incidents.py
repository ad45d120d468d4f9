"""Store incident records straight into the st2 kit's database, for scale figures.

Writing 100,000 records through st2api costs about 10 ms each on the kit
(and st2 makes each write a trigger instance), so this seeds them with st2's
own model (``KeyValuePairDB``) in bulk, without API, triggers or TTL. The
records are what the sensor's recorder writes (built with the pack's own
``observe``/``decide``/``apply``): alerts no rule remediates, spread over the
last three days, half of them resolved. The alerts that started at one time
came in one delivery, and the index keys are what the sensor's
``IndexWriter`` writes for them, one flush per delivery (a real sensor
flushes every 15 s: about as many keys for a site this busy).

Run with the kit's Python and config (``bench_st2.py`` does):

    . $RIG/env.sh && python bench/seed_incidents.py 0 100000
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "actions", "lib"))

from poundcake.incidents import apply, decide, log, observe  # noqa: E402
from poundcake.index import DELIVERED, STARTED, IndexWriter  # noqa: E402
from poundcake.state_store import INCIDENT, StateStore, iso  # noqa: E402
from poundcake.tracking import new_request_id  # noqa: E402

BATCH = 2000
SEEDED = INCIDENT + "5eed"  # every seeded fingerprint starts so
WRITER = "5eed"  # the seeded index keys' writer id
TIMES = 9973  # distinct start times over the three days (one delivery each)


class NoMetrics:
    """The index writer's metrics, not kept (the kit's Python has no prometheus_client)."""

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


def starts_of(i: int, now: float) -> float:
    return now - 3 * 86400 * (i % TIMES) / TIMES


def record(i: int, now: float, request_id: str) -> dict:
    starts = starts_of(i, now)
    fingerprint = f"{SEEDED[len(INCIDENT) :]}{i:012x}"
    stamp = iso(starts)
    payload = {
        "tracking_id": f"{fingerprint}-{stamp.replace('-', '').replace(':', '')}",
        "fingerprint": fingerprint,
        "alertname": f"Seeded{i % 50}",
        "severity": ("warning", "critical", "info")[i % 3],
        "instance": f"seed-{i % 997}:9100",
        "labels": {"alertname": f"Seeded{i % 50}", "instance": f"seed-{i % 997}:9100"},
        "starts_at": stamp,
        "request_id": request_id,
    }
    doc = observe(None, payload, starts)
    apply(doc, decide(doc, False, [], False, starts), "", starts)
    if i % 2:
        doc["state"], doc["resolved_at"] = "resolved", iso(starts + 600)
        log(doc, "resolved", starts + 600, "resolved by Alertmanager")
    return doc


def main(start: int, stop: int) -> None:
    """Seed records number ``start`` to ``stop - 1`` (a later call adds more);
    ``0 0`` removes every seeded record."""
    import json

    from st2common import config
    from st2common.database_setup import db_setup
    from st2common.models.db.keyvalue import KeyValuePairDB

    config.parse_args(args=["--config-file", os.environ["ST2_CONFIG_PATH"]])
    db_setup(ensure_indexes=False)
    collection = KeyValuePairDB._get_collection()
    if stop == 0:
        for prefix in (SEEDED, f"{STARTED}*.{WRITER}-", f"{DELIVERED}*.{WRITER}-"):
            pattern = "^" + prefix.replace(".", "[.]").replace("*", r"\d{10}")
            gone = collection.delete_many({"name": {"$regex": pattern}})
            print(f"removed {gone.deleted_count} seeded keys under {prefix}")
        return
    started, now = time.time(), time.time()
    collected = Collected()
    index = IndexWriter(
        StateStore(collected), None, NoMetrics(), 30 * 86400, max_seen=0, writer=WRITER
    )
    deliveries = {}  # start time slot -> the alerts that started then
    for i in range(start, stop):
        deliveries.setdefault(i % TIMES, []).append(i)
    for slot, members in deliveries.items():
        request_id = new_request_id(starts_of(slot, now))
        docs = [record(i, now, request_id) for i in members]
        for doc in docs:
            value = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            collected.values[INCIDENT + doc["tracking_id"]] = value
        index.add(request_id, docs)
        index.flush()
        if len(collected.values) >= BATCH:
            insert(collection, KeyValuePairDB, collected)
    insert(collection, KeyValuePairDB, collected)
    took = time.time() - started
    print(f"seeded {stop - start} incident records and their index in {took:.1f} s")


def insert(collection, model, collected: Collected) -> None:
    docs = [model(name=k, value=v).to_mongo().to_dict() for k, v in collected.values.items()]
    if docs:
        collection.insert_many(docs, ordered=False)
    collected.values.clear()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
