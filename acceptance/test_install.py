"""The pack as a user installs it: packs.install, a config whose token is an
encrypted st2kv value, every resource registered, the sensor serving."""

import glob
import os
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml
from conftest import PACK_DIR, RIG, WEBHOOK_URL
from pack_install import TOKEN_KEY


def names(kind):
    return sorted(
        yaml.safe_load(open(path))["name"]
        for path in glob.glob(os.path.join(PACK_DIR, kind, "*.yaml"))
        if not path.endswith("alertmanager_webhook_sensor.yaml")
    )


@pytest.mark.release
def test_every_resource_of_the_pack_is_registered_and_enabled(st2, pack):
    actions = {a["name"]: a for a in st2.get("actions", pack="poundcake")}
    assert sorted(actions) == names("actions")
    assert all(actions[n]["enabled"] for n in names("actions"))
    rules = {r["name"]: r for r in st2.get("rules", pack="poundcake")}
    assert sorted(rules) == names("rules"), "a rule st2 still has but the pack dropped fires too"
    assert all(rules[n]["enabled"] for n in names("rules")), "a rule without enabled: true is off"
    policies = {p["name"] for p in st2.get("policies", pack="poundcake")}
    assert sorted(policies) == names("policies")
    sensors = st2.get("sensortypes", pack="poundcake")
    assert [(s["name"], s["enabled"]) for s in sensors] == [("AlertmanagerWebhookSensor", True)]
    triggers = {t["ref"] for t in st2.get("triggertypes", pack="poundcake")}
    assert {"poundcake.alert", "poundcake.alerts_recorded", "poundcake.alert_group"} <= triggers


@pytest.mark.release
def test_the_webhook_token_is_an_encrypted_st2kv_value_the_sensor_uses(st2, pack):
    stored = st2.key(TOKEN_KEY)
    assert stored["secret"] is True and stored["encrypted"] is True
    assert stored["value"] != pack["token"]
    assert st2.key(TOKEN_KEY, decrypt=True)["value"] == pack["token"]
    # an empty alert list passes auth and then fails validation (422); a wrong token is 401
    for token, expected in ((pack["token"], 422), ("wrong", 401)):
        request = urllib.request.Request(
            WEBHOOK_URL,
            data=b'{"version": "4", "status": "firing", "alerts": []}',
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            status = urllib.request.urlopen(request, timeout=10).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == expected, (token[:4], status)


@pytest.mark.release
@pytest.mark.skipif(not RIG, reason="needs st2's server tools on this host (the st2 kit)")
def test_registration_passes_register_fail_on_failure(pack):
    pack_path = os.path.join(RIG, "opt", "packs", "poundcake")
    command = (
        f". {RIG}/env.sh && st2-register-content --config-file {RIG}/st2.conf "
        f"--register-pack {pack_path} --register-all --register-fail-on-failure"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    expected = {
        "actions": len(names("actions")),
        "rules": len(names("rules")),
        "sensors": 1,
        "policies": len(names("policies")),
        "configs": 1,
    }
    for kind, count in expected.items():
        assert f"Registered {count} {kind}." in out, out[-2000:]
