"""Stand-in for st2tests.mocks.datastore.MockDatastoreService (in-memory)."""

from st2client.models.keyvalue import KeyValuePair
from st2common.constants.keyvalue import SYSTEM_SCOPE
from st2common.services.datastore import BaseDatastoreService


class MockDatastoreService(BaseDatastoreService):
    def __init__(self, logger, pack_name, class_name, api_username=None):
        self._pack_name = pack_name
        self._class_name = class_name
        self._username = api_username or "admin"
        self._logger = logger
        self._datastore_items = {}

    def get_user_info(self):
        return {
            "username": self._username,
            "rbac": {"is_admin": True, "enabled": True, "roles": ["admin"]},
            "authentication": {"method": "authentication token", "location": "header"},
        }

    def list_values(self, local=True, limit=None, prefix=None, offset=0):
        key_prefix = self._get_full_key_prefix(local=local, prefix=prefix)
        if not key_prefix:
            return list(self._datastore_items.values())
        return [kvp for name, kvp in self._datastore_items.items() if name.startswith(key_prefix)]

    def get_value(self, name, local=True, scope=SYSTEM_SCOPE, decrypt=False):
        name = self._get_full_key_name(name=name, local=local)
        kvp = self._datastore_items.get(name)
        return kvp.value if kvp is not None else None

    def set_value(self, name, value, ttl=None, local=True, scope=SYSTEM_SCOPE, encrypt=False):
        name = self._get_full_key_name(name=name, local=local)
        instance = KeyValuePair()
        instance.id = name
        instance.name = name
        instance.value = value
        if ttl:
            self._logger.warning("MockDatastoreService is not able to expire keys based on ttl.")
            instance.ttl = ttl
        self._datastore_items[name] = instance
        return True

    def delete_value(self, name, local=True, scope=SYSTEM_SCOPE):
        name = self._get_full_key_name(name=name, local=local)
        if name not in self._datastore_items:
            return False
        del self._datastore_items[name]
        return True
