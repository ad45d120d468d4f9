"""Stand-in for st2tests.pack_resource.BasePackResourceTestCase."""

import inspect
import os
from unittest import TestCase


class BasePackResourceTestCase(TestCase):
    def get_fixture_content(self, fixture_path):
        path = os.path.join(self._get_base_pack_path(), "tests/fixtures/", fixture_path)
        with open(path) as fp:
            return fp.read()

    def _get_base_pack_path(self):
        test_file_path = inspect.getfile(self.__class__)
        return os.path.abspath(os.path.join(os.path.dirname(test_file_path), ".."))
