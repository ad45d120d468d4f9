"""Stand-in for st2common.constants.keyvalue (the two names the SDK uses)."""

SYSTEM_SCOPE = "system"
DATASTORE_KEY_SEPARATOR = ":"
