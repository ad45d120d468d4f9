"""Stand-in for st2client.models.keyvalue.KeyValuePair (attribute bag keyed by name)."""


class KeyValuePair:
    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_id(self):
        return getattr(self, "name", None)

    def set_id(self, value):
        pass

    # st2 exposes the key's name as its id and ignores assignments to it.
    id = property(get_id, set_id)  # noqa: A003
