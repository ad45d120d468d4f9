"""Put the pack on sys.path as st2-run-pack-tests does, and the st2 stand-in
only when the real st2 cannot be imported (see lib/pack_paths.py).

Then import ``st2tests.base`` first: st2's (and the stand-in's) eventlet-patches
the process at import, so every test runs patched, as under
st2-run-pack-tests. Doing it here, before any test module imports ``ssl``,
``socketserver`` or ``http.server``, keeps those modules from holding the
unpatched blocking ``poll`` that would stall every green thread.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from pack_paths import use_pack_paths  # noqa: E402

use_pack_paths()

import st2tests.base  # noqa: E402, F401
