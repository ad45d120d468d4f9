"""Stand-in for st2tests.mocks.sensor."""

from logging import RootLogger
from unittest.mock import Mock

from st2common.models.api.trace import TraceContext
from st2reactor.container.sensor_wrapper import SensorService

from st2tests.mocks.datastore import MockDatastoreService


class MockSensorWrapper:
    def __init__(self, pack, class_name):
        self._pack = pack
        self._class_name = class_name


class MockSensorService(SensorService):
    def __init__(self, sensor_wrapper):
        self._sensor_wrapper = sensor_wrapper
        self._logger = Mock(spec=RootLogger)
        self.dispatched_triggers = []
        self._datastore_service = MockDatastoreService(
            logger=self._logger,
            pack_name=self._sensor_wrapper._pack,
            class_name=self._sensor_wrapper._class_name,
        )

    @property
    def datastore_service(self):
        return self._datastore_service

    def get_logger(self, name):
        return self._logger

    def dispatch(self, trigger, payload=None, trace_tag=None):
        trace_context = TraceContext(trace_tag=trace_tag) if trace_tag else None
        return self.dispatch_with_context(
            trigger=trigger, payload=payload, trace_context=trace_context
        )

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        item = {"trigger": trigger, "payload": payload, "trace_context": trace_context}
        self.dispatched_triggers.append(item)
        return item
