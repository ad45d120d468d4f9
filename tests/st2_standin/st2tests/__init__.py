"""Stand-in for st2tests: only the pack-testing classes (no database, no broker).

As in st2, importing any ``st2tests`` module imports ``st2tests.base``, which
eventlet-patches the process.
"""

import st2tests.base  # noqa: F401
