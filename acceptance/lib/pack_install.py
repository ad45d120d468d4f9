"""The pack installed in a real st2 the way a user installs it (the acceptance
suite's and the demo's): the webhook token and the board password as encrypted
st2kv values, the config referring to them, the sensor serving.

On the st2 kit (``rig``) through its ``install-pack.sh`` (a copy of this
checkout, ``packs.install``, the config registered, the sensor container
restarted); elsewhere through ``st2 run packs.install`` and the config API.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import urllib.request
from typing import Any, Dict, Optional

import yaml
from st2 import St2, wait_until

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN_KEY = "poundcake_webhook_token"
BOARD_KEY = "poundcake_board_password"
TOKEN_REF = "{{ st2kv.system." + TOKEN_KEY + " }}"
BOARD_REF = "{{ st2kv.system." + BOARD_KEY + " }}"


def sensor_ready(webhook_url: str) -> bool:
    try:
        with urllib.request.urlopen(webhook_url.rsplit("/", 1)[0] + "/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def install(
    st2: St2, config: Dict[str, Any], webhook_url: str, rig: Optional[str], source: str = ""
) -> Dict[str, str]:
    """Install the pack with ``config`` (its secrets as ``TOKEN_REF``/``BOARD_REF``)
    and wait for its sensor; returns the token and the board password."""
    secret = {"token": secrets.token_urlsafe(24), "board_password": secrets.token_urlsafe(12)}
    st2.set_secret(TOKEN_KEY, secret["token"])
    st2.set_secret(BOARD_KEY, secret["board_password"])
    if st2.get("packs", ref="poundcake"):
        # packs.install over an older version leaves resources the new one
        # dropped registered (and enabled): the upgrade path is remove, install.
        removed = st2.run("packs.uninstall", timeout=300, packs=["poundcake"])
        assert removed["status"] == "succeeded", removed.get("result")
    if rig:
        with tempfile.TemporaryDirectory(prefix="poundcake-config-") as folder:
            path = os.path.join(folder, "poundcake.yaml")
            with open(path, "w") as fp:
                yaml.safe_dump(config, fp)
            done = subprocess.run(
                [os.path.join(rig, "install-pack.sh"), PACK_DIR, path],
                capture_output=True,
                text=True,
            )
        assert done.returncode == 0, f"install-pack.sh failed:\n{done.stdout}\n{done.stderr}"
    else:
        result = st2.cli("run", "packs.install", f"packs={source}", "force=true", timeout=600)
        assert result["status"] == "succeeded", result
        st2.set_pack_config("poundcake", config)
    wait_until(
        lambda: sensor_ready(webhook_url),
        60,
        f"the poundcake sensor at {webhook_url} (if the pack was configured after the sensor "
        "started, restart st2sensorcontainer on the st2 host)",
    )
    return secret
