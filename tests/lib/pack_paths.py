"""Where things are in the pack, for tests, the demo and the benchmark."""

import os
import sys

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENSOR_FILE = os.path.join(PACK_DIR, "sensors", "alertmanager_webhook_sensor.py")
SENSOR_META = os.path.join(PACK_DIR, "sensors", "alertmanager_webhook_sensor.yaml")
FIXTURES_DIR = os.path.join(PACK_DIR, "tests", "fixtures")
STANDIN_DIR = os.path.join(PACK_DIR, "tests", "st2_standin")


def use_pack_paths() -> None:
    """Make the pack importable outside pytest (runner scripts, benchmark)."""
    for sub in ("actions/lib", "tests/lib", "sensors", "actions"):
        path = os.path.join(PACK_DIR, sub)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        import st2reactor.sensor.base  # noqa: F401
    except ImportError:
        sys.path.insert(0, STANDIN_DIR)


def st2_is_installed() -> bool:
    """True when the real st2, not the stand-in, provides ``st2common``."""
    import st2common

    return not os.path.abspath(st2common.__file__).startswith(STANDIN_DIR + os.sep)
