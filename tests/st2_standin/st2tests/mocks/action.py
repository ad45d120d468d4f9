"""Stand-in for st2tests.mocks.action."""

from logging import RootLogger
from unittest.mock import Mock

from python_runner.python_action_wrapper import ActionService

from st2tests.mocks.datastore import MockDatastoreService


class MockActionWrapper:
    def __init__(self, pack, class_name):
        self._pack = pack
        self._class_name = class_name


class MockActionService(ActionService):
    def __init__(self, action_wrapper):
        self._action_wrapper = action_wrapper
        self._logger = Mock(spec=RootLogger)
        self._datastore_service = MockDatastoreService(
            logger=self._logger,
            pack_name=self._action_wrapper._pack,
            class_name=self._action_wrapper._class_name,
        )

    @property
    def datastore_service(self):
        return self._datastore_service
