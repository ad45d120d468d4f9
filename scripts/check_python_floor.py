"""Fail when code st2 runs needs a Python newer than 3.8, the pack's floor.

    python scripts/check_python_floor.py            # actions/ (with actions/lib/) and sensors/
    python scripts/check_python_floor.py PATH...    # other files or folders (tests plant code)

Exits non-zero, naming each offending file and line, on a violation or when
vermin is not installed (a missing guard is a failure, not a pass).

The flags, and why:

- ``--eval-annotations``: annotations count as evaluated. Without it vermin
  passes ``def f(x: list[int])`` even in a module without ``from __future__
  import annotations``, where Python 3.8 raises at import; and
  ``typing.get_type_hints`` evaluates them even under that import. So
  annotations keep to 3.8 forms (``List[int]``, ``Optional[str]``) everywhere.
- ``--feature union-types``: ``X | Y`` in annotations (3.10). It is a
  heuristic and also flags ``re.I | re.M``; mark such a line ``# novm``.
- ``--pessimistic``: code the interpreter running vermin cannot parse fails
  instead of being skipped.
- no ``--backport``: requirements.txt ships no backport (``zoneinfo``,
  ``typing_extensions``), so none may be assumed.
- ``--no-config-file``: no ``setup.cfg`` or ``vermin.ini`` can loosen it.

vermin cannot see a type it does not know: ``"literal".removeprefix(...)``
fails, ``name.removeprefix(...)`` on a parameter passes. DEVELOPERS.md's run of
the suite on Python 3.8 catches what it cannot see.
"""

import os
import shutil
import subprocess
import sys
from typing import List

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = [
    "--target=3.8-",
    "--violations",
    "--eval-annotations",
    "--feature",
    "union-types",
    "--pessimistic",
    "--no-config-file",
    "--no-tips",
    "--no-make-paths-absolute",
    "-vvv",
]


def vermin() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "vermin")
    found = beside if os.access(beside, os.X_OK) else shutil.which("vermin")
    if not found:
        sys.exit("check_python_floor: no vermin; pip install -r requirements-tests.txt")
    return found


def main(paths: List[str]) -> int:
    paths = [os.path.abspath(path) for path in paths] or ["actions", "sensors"]
    command = [vermin(), *FLAGS, *paths]
    result = subprocess.run(command, cwd=PACK_DIR)
    if result.returncode != 0:
        print("check_python_floor: the lines above need a Python newer than 3.8", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
