"""Stand-in for st2tests.base: like st2's, importing it eventlet-patches the
process (st2 patches before ssl is imported), then re-exports the pack test
cases."""

from st2common.util.monkey_patch import monkey_patch

monkey_patch()

from st2tests.actions import BaseActionTestCase  # noqa: E402
from st2tests.sensors import BaseSensorTestCase  # noqa: E402

__all__ = ["BaseActionTestCase", "BaseSensorTestCase"]
