"""Store incident records straight into the st2 kit's database, for scale figures.

Writing 100,000 records through st2api costs about 10 ms each on the kit
(and st2 makes each write a trigger instance), so this seeds them with st2's
own model (``KeyValuePairDB``) in bulk, without API, triggers or TTL. The
records are what the sensor's recorder writes (built with the pack's own
``observe``/``decide``/``apply``): alerts no rule remediates, spread over the
last three days, half of them resolved.

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
from poundcake.state_store import INCIDENT, iso  # noqa: E402

BATCH = 2000
SEEDED = INCIDENT + "5eed"  # every seeded fingerprint starts so


def record(i: int, now: float) -> dict:
    starts = now - 3 * 86400 * (i % 9973) / 9973
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
        "request_id": f"req-{i:032x}",
    }
    doc = observe(None, payload, starts)
    apply(doc, decide(doc, None, False, [], False, starts), "", starts)
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
        gone = collection.delete_many({"name": {"$regex": "^" + SEEDED.replace(".", "[.]")}})
        print(f"removed {gone.deleted_count} seeded incident records")
        return
    started, now = time.time(), time.time()
    for first in range(start, stop, BATCH):
        docs = []
        for i in range(first, min(stop, first + BATCH)):
            doc = record(i, now)
            value = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            kvp = KeyValuePairDB(name=INCIDENT + doc["tracking_id"], value=value)
            docs.append(kvp.to_mongo().to_dict())
        collection.insert_many(docs, ordered=False)
    print(f"seeded {stop - start} incident records in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
