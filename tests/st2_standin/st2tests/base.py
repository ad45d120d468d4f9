"""Stand-in for st2tests.base: re-exports the pack test cases, as st2's does."""

from st2tests.actions import BaseActionTestCase
from st2tests.sensors import BaseSensorTestCase

__all__ = ["BaseActionTestCase", "BaseSensorTestCase"]
