"""Pack config for the sensor: defaults, checks, and agreement with the schema."""

import os

import pytest
import yaml
from pack_paths import PACK_DIR
from st2_schemas import validate_pack_config

from poundcake import approval
from poundcake.rate_limit import Limits
from poundcake.routing import DEFAULT_RUNBOOKS
from poundcake.settings import ConfigError, WebhookSettings, load_settings
from poundcake.targets import validate


def schema():
    with open(os.path.join(PACK_DIR, "config.schema.yaml")) as fp:
        return yaml.safe_load(fp)


def test_refuses_to_start_without_credentials():
    with pytest.raises(ConfigError, match="no webhook credentials configured"):
        load_settings({})


def test_allow_unauthenticated_must_be_explicit():
    assert load_settings({"allow_unauthenticated": True}).allow_unauthenticated


@pytest.mark.parametrize(
    "config, message",
    [
        ({"bearer_token": "t", "listen_port": "80"}, "listen_port must be an integer"),
        ({"bearer_token": "t", "listen_port": 70000}, "listen_port must be between"),
        ({"bearer_token": "t", "dispatch_concurrency": 0}, "dispatch_concurrency"),
        ({"bearer_token": "t", "allow_unauthenticated": "yes"}, "allow_unauthenticated"),
        ({"basic_auth_username": "u"}, "set together"),
        ({"bearer_token": "t", "webhook_path": "metrics"}, "webhook_path"),
        ({"bearer_token": "t", "webhook_path": "/health"}, "webhook_path"),
        ({"bearer_token": "t", "tls_cert_file": "/nope.crt"}, "tls_cert_file and tls_key_file"),
        (
            {"bearer_token": "t", "tls_cert_file": "/nope.crt", "tls_key_file": "/nope.key"},
            "no such file",
        ),
        ({"bearer_token": 12}, "bearer_token must be a string"),
        ({"bearer_token": "t", "escalation_repost_seconds": -1}, "escalation_repost_seconds"),
        ({"bearer_token": "t", "alertmanager_url": 9093}, "alertmanager_url must be a string"),
    ],
)
def test_bad_values_name_the_key(config, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_schema_defaults_match_the_sensor_defaults():
    code = WebhookSettings()
    for key in WebhookSettings.__dataclass_fields__:
        spec = schema()[key]
        if "default" in spec:
            assert getattr(code, key) == spec["default"], key


def test_schema_defaults_match_the_remediation_defaults():
    spec = schema()
    assert spec["runbooks"]["default"] == DEFAULT_RUNBOOKS
    assert spec["escalation_action"]["default"] == "poundcake.log_escalation"
    scope = {"allowed_hosts": ["*"]}
    target = validate("disk", "web-1", {}, scope)
    assert spec["journal_vacuum_size"]["default"] == target["journal_vacuum_size"]
    assert spec["diagnosis_timeout_seconds"]["default"] == target["diagnosis_timeout"]
    assert validate("process", "h", {"service": "x", "severity": "critical"}, scope)["restart"]
    assert spec["restart_severities"]["default"] == ["critical"]
    assert spec["allowed_hosts"]["default"] == []  # a fresh install remediates nothing
    limits = Limits.from_config({})
    assert spec["rate_limit_remediations"]["default"] == limits.max_remediations
    assert spec["rate_limit_window_seconds"]["default"] == limits.window_seconds
    assert spec["max_hosts_in_flight"]["default"] == limits.max_hosts_in_flight
    assert spec["approval_timeout_seconds"]["default"] == approval.DEFAULT_TIMEOUT


def test_every_setting_is_in_the_schema():
    assert set(WebhookSettings.__dataclass_fields__) <= set(schema())


def test_example_config_matches_the_schema():
    with open(os.path.join(PACK_DIR, "poundcake.yaml.example")) as fp:
        example = yaml.safe_load(fp)
    spec = schema()
    validate_pack_config(spec, example)  # as st2 loads a pack config
    assert set(example) <= set(spec)  # st2 lets unknown keys through; a typo would be lost


def test_secret_config_values_must_not_use_decrypt_kv():
    """st2 refuses the whole config: it decrypts ``secret: true`` values itself."""
    spec = schema()
    assert spec["bearer_token"]["secret"]
    validate_pack_config(spec, {"bearer_token": "{{ st2kv.system.poundcake_webhook_token }}"})
    with pytest.raises(ValueError, match="decrypt_kv"):
        validate_pack_config(
            spec, {"bearer_token": "{{ st2kv.system.poundcake_webhook_token | decrypt_kv }}"}
        )
