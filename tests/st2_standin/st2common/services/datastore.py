"""Stand-in for st2common.services.datastore.BaseDatastoreService key naming.

The real class talks to st2api over HTTP; subclasses here keep data in memory.
"""

from st2common.constants.keyvalue import DATASTORE_KEY_SEPARATOR


class BaseDatastoreService:
    DATASTORE_NAME_SEPARATOR = DATASTORE_KEY_SEPARATOR

    def __init__(self, logger, pack_name, class_name):
        self._pack_name = pack_name
        self._class_name = class_name
        self._logger = logger
        self._client = None

    def _get_full_key_name(self, name, local):
        return self._get_key_name_with_prefix(name) if local else name

    def _get_full_key_prefix(self, local, prefix=None):
        if local:
            return self._get_local_key_name_prefix() + (prefix or "")
        return prefix

    def _get_local_key_name_prefix(self):
        return self._get_datastore_key_prefix() + self.DATASTORE_NAME_SEPARATOR

    def _get_key_name_with_prefix(self, name):
        return self._get_datastore_key_prefix() + self.DATASTORE_NAME_SEPARATOR + name

    def _get_datastore_key_prefix(self):
        return f"{self._pack_name}.{self._class_name}"

    def get_api_client(self):
        # As st2's: only the action and sensor services (which talk to st2api)
        # implement it; st2tests' MockDatastoreService does not.
        raise NotImplementedError("get_api_client() not implemented")
