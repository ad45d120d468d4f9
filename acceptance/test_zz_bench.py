"""The storm benchmark (bench/bench_st2.py) on this st2, with its figures printed.

Asserts the one figure that is a design invariant: alerts no rule
remediates cost st2 no execution. The others are reported, met or not.
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
    assert all(f["executions_per_alert"] == 0 for f in figures["storms"].values())
