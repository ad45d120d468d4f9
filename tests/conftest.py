"""Put the pack on sys.path as st2-run-pack-tests does, and the st2 stand-in
only when the real st2 cannot be imported."""

import os
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS_DIR = os.path.join(PACK_DIR, "tests")

for sub in ("sensors", "actions", "actions/lib", "tests/lib"):
    path = os.path.join(PACK_DIR, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

try:
    import st2reactor.sensor.base  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(TESTS_DIR, "st2_standin"))
