"""Print, as JSON, what the installed st2 says about its ``core`` pack and runners.

``st2_actions.py`` runs this in a fresh process: there st2's own config is
loaded as st2's services load it (``ST2_CONFIG_PATH``, else
``/etc/st2/st2.conf``, else st2's defaults), not the st2tests config that
pytest's process has parsed. Arguments: runner package names without
``_runner`` (``local``, ``python``, ...).
"""

import json
import sys

from oslo_config import cfg
from st2common import config
from st2common.constants.system import DEFAULT_CONFIG_FILE_PATH
from st2common.content.utils import get_system_packs_base_path
from st2common.runners.base import get_metadata


def main(runners):
    try:
        config.parse_args(args=[])
        config_file = DEFAULT_CONFIG_FILE_PATH
    except cfg.ConfigFilesNotFoundError:  # no st2.conf: st2's defaults
        cfg.CONF(args=[], default_config_files=[])
        config_file = None
    json.dump(
        {
            "config_file": config_file,
            "system_packs_base_path": get_system_packs_base_path(),
            "runners": {name: get_metadata(f"{name}_runner") for name in runners},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
