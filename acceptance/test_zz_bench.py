"""The storm benchmark (bench/bench_st2.py) on this st2, with its figures printed.

Asserts the figures that are design invariants, not timings: alerts no rule
remediates cost st2 no execution, and at most 0.01 trigger instances and
0.01 datastore writes each. The others (timings) are reported, met or not.
"""

import os
import sys

from conftest import PACK_DIR

sys.path.insert(0, os.path.join(PACK_DIR, "bench"))

import bench_st2  # noqa: E402


def test_storm_benchmark(st2, pack, target, capsys):
    with capsys.disabled():
        print()
        figures = bench_st2.main(st2, pack["token"], pack["board_password"], target)
    storms = figures["storms"].values()
    assert all(f["executions_per_alert"] == 0 for f in storms)
    assert all(f["trigger_instances"] <= 0.01 * f["alerts"] for f in storms), storms
    assert all(f["writes"] <= 0.01 * f["alerts"] for f in storms), storms
