"""The Python floor guard: code st2 runs (actions/, its lib/, sensors/) keeps
to Python 3.8, and scripts/check_python_floor.py says where it does not."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from pack_paths import PACK_DIR

SCRIPT = os.path.join(PACK_DIR, "scripts", "check_python_floor.py")
sys.path.insert(0, os.path.dirname(SCRIPT))

import check_python_floor  # noqa: E402

# Line 1 keeps the import that hides annotations from Python 3.8 at run time:
# the guard must flag them anyway. Each construct is on line 2.
NEWER_THAN_3_8 = {
    "str.removeprefix": 'NAME = "poundcake.sensor".removeprefix("poundcake.")\n',
    "dict union": 'MERGED = {"a": 1} | {"b": 2}\n',
    "parenthesised with": 'with (open("a") as a, open("b") as b):\n    pass\n',
    "zoneinfo": "import zoneinfo\n",
    "math.lcm": "import math; STEP = math.lcm(4, 6)\n",
    "builtin generic annotation": "def first(items: list[int]) -> int:\n    return items[0]\n",
    "union annotation": "def name(doc: dict | None) -> str:\n    return ''\n",
}


def check(*paths):
    return subprocess.run(
        [sys.executable, SCRIPT, *paths], capture_output=True, text=True, timeout=120
    )


def test_the_code_st2_runs_needs_no_python_newer_than_3_8():
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Minimum required versions: 3.8" in result.stdout


@pytest.mark.parametrize("construct", sorted(NEWER_THAN_3_8))
def test_a_python_3_9_construct_in_the_library_fails_naming_its_line(tmp_path, construct):
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("actions", "sensors"):
        shutil.copytree(os.path.join(PACK_DIR, folder), tmp_path / folder, ignore=ignore)
    planted = tmp_path / "actions" / "lib" / "poundcake" / "planted.py"
    planted.write_text("from __future__ import annotations\n" + NEWER_THAN_3_8[construct])

    result = check(str(tmp_path / "actions"), str(tmp_path / "sensors"))

    assert result.returncode != 0, result.stdout
    assert f"{planted}\n" in result.stdout, result.stdout
    report = result.stdout.split(f"{planted}\n", 1)[1]
    assert re.match(r"\s+L2\b.* requires? !2, 3\.(9|10)\n", report), result.stdout
    assert "Target versions not met:   3.8-" in result.stdout
    assert "need a Python newer than 3.8" in result.stderr


def test_without_vermin_the_guard_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit, match="no vermin"):
        check_python_floor.main([])
