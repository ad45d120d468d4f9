"""Stand-in for st2tests.sensors.BaseSensorTestCase."""

from st2tests.mocks.sensor import MockSensorService, MockSensorWrapper
from st2tests.pack_resource import BasePackResourceTestCase


class BaseSensorTestCase(BasePackResourceTestCase):
    sensor_cls = None

    def setUp(self):
        super().setUp()
        wrapper = MockSensorWrapper(pack="tests", class_name=self.sensor_cls.__name__)
        self.sensor_service = MockSensorService(sensor_wrapper=wrapper)

    def get_sensor_instance(self, config=None, poll_interval=None):
        kwargs = {"sensor_service": self.sensor_service}
        if config:
            kwargs["config"] = config
        if poll_interval is not None:
            kwargs["poll_interval"] = poll_interval
        return self.sensor_cls(**kwargs)

    def get_dispatched_triggers(self):
        return self.sensor_service.dispatched_triggers

    def get_last_dispatched_trigger(self):
        return self.sensor_service.dispatched_triggers[-1]

    def assertTriggerDispatched(self, trigger, payload=None, trace_context=None):
        for item in self.get_dispatched_triggers():
            if (
                item["trigger"] == trigger
                and (not payload or item["payload"] == payload)
                and (not trace_context or item["trace_context"] == trace_context)
            ):
                return True
        raise AssertionError(f'Trigger "{trigger}" hasn\'t been dispatched')
