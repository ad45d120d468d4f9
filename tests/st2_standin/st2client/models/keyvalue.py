"""Stand-in for st2client.models.keyvalue.KeyValuePair (attribute bag keyed by name)."""


class KeyValuePair:
    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)

    @property
    def id(self):
        return getattr(self, "name", None)

    @id.setter
    def id(self, value):
        pass
