"""Runs last (pytest takes files in name order): every shipped rule was fired
by a real alert through Alertmanager in this session. Not in the release
subset (``-m release`` deselects it, it has no marker): that subset does not
fire every rule."""

import glob
import os

import yaml
from conftest import PACK_DIR
from story import FIRED_RULES


def test_every_shipped_rule_was_fired_by_a_real_alert():
    shipped = {
        "poundcake." + yaml.safe_load(open(p))["name"]
        for p in glob.glob(os.path.join(PACK_DIR, "rules", "*.yaml"))
    }
    assert shipped - FIRED_RULES == set(), (
        f"never fired in this run: {sorted(shipped - FIRED_RULES)}"
    )
