"""Stand-in for st2reactor.container.sensor_wrapper.SensorService (see ../../README.md).

The real service publishes to the message bus; only its public method
signatures and datastore delegation are reproduced. Tests use
st2tests.mocks.sensor.MockSensorService, which overrides dispatch.
"""

from st2common.constants.keyvalue import SYSTEM_SCOPE


class SensorService:
    def __init__(self, sensor_wrapper):
        self._sensor_wrapper = sensor_wrapper
        self._logger = sensor_wrapper._logger
        self._datastore_service = None

    @property
    def datastore_service(self):
        return self._datastore_service

    def get_logger(self, name):
        import logging

        logger = logging.getLogger(f"{self._sensor_wrapper._logger.name}.{name}")
        logger.propagate = True
        return logger

    def get_user_info(self):
        return self._datastore_service.get_user_info()

    def dispatch(self, trigger, payload=None, trace_tag=None):
        raise NotImplementedError("the stand-in has no message bus; use MockSensorService")

    def dispatch_with_context(self, trigger, payload=None, trace_context=None):
        raise NotImplementedError("the stand-in has no message bus; use MockSensorService")

    def list_values(self, local=True, prefix=None, limit=None, offset=None):
        return self.datastore_service.list_values(
            local=local, prefix=prefix, limit=limit, offset=offset
        )

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        return self.datastore_service.get_value(
            name=name, local=local, scope=scope, decrypt=decrypt
        )

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        return self.datastore_service.set_value(
            name=name, value=value, ttl=ttl, local=local, scope=scope, encrypt=encrypt
        )

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        return self.datastore_service.delete_value(name=name, local=local, scope=scope)
