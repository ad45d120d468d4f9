"""Stand-in for the parts of st2common.runners.utils that pack code meets."""

import logging

_LOGGERS = {}


class PackConfigDict(dict):
    """A missing key raises ValueError naming the pack config file, as in st2."""

    def __init__(self, pack_name, *args):
        super().__init__(*args)
        self._pack_name = pack_name

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            raise ValueError(
                f'Config for pack "{self._pack_name}" is missing key "{key}". Make sure that '
                f"the config file exists on disk (/opt/stackstorm/configs/{self._pack_name}.yaml)"
                " and contains that key."
            ) from None


def get_logger_for_python_runner_action(action_name, log_level="debug"):
    name = f"actions.python.{action_name}"
    if name not in _LOGGERS:
        level = getattr(logging, log_level.upper(), logging.DEBUG)
        logger = logging.getLogger(name)
        handler = logging.StreamHandler()
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(name)-12s: %(levelname)-8s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        _LOGGERS[name] = logger
    return _LOGGERS[name]


def get_action_class_instance(action_cls, config=None, action_service=None):
    try:
        return action_cls(config=config, action_service=action_service)
    except TypeError as e:
        if "unexpected keyword argument 'action_service'" not in str(e):
            raise
        instance = action_cls(config=config)
        instance.action_service = action_service
        return instance
