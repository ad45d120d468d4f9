"""Put the pack on sys.path as st2-run-pack-tests does, and the st2 stand-in
only when the real st2 cannot be imported (see lib/pack_paths.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from pack_paths import use_pack_paths  # noqa: E402

use_pack_paths()
