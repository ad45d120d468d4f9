"""What ``st2-register-content --register-fail-on-failure`` and st2's dispatch
check, applied to every resource file of the pack.

Top-level keys follow st2 3.8's API models (``st2common/models/api/``:
``action.py``, ``rule.py``, ``sensor.py``, ``trigger.py``, ``policy.py``,
``pack.py``), which all refuse unknown keys except ``PackAPI``. Parameter,
config and payload schemas go through ``st2common.util.schema``: see
``tests/lib/st2_schemas.py``.
"""

import os
import re

import jsonschema
import pytest
from pack_paths import PACK_DIR, SENSOR_META
from st2_schemas import (
    check_payload_schema,
    validate_parameter_definitions,
    validate_resource_parameters,
    validate_trigger_payload,
)
from test_pack_resources import POLICIES, RULES, action_names, load

# (allowed keys, required keys), from each model's ``schema``.
MODELS = {
    "action": (
        "description enabled entry_point id metadata_file name notify output_schema pack "
        "parameters ref runner_type tags uid",
        "name runner_type",
    ),
    "rule": (
        "action context criteria description enabled id metadata_file name pack ref tags "
        "trigger type uid",
        "name trigger action",
    ),
    "rule.action": ("ref description parameters", "ref"),
    "sensor": (
        "artifact_uri class_name description enabled entry_point id metadata_file pack "
        "poll_interval ref trigger_types uid",
        "class_name",
    ),
    "trigger_type": (
        "description id metadata_file name pack parameters_schema payload_schema ref tags uid",
        "name",
    ),
    "policy": (
        "description enabled id metadata_file name pack parameters policy_type ref "
        "resource_ref uid",
        "name resource_ref policy_type",
    ),
}
# contrib/runners/*/runner.yaml: parameters an action must not silently redefine.
RUNNER_PARAMETERS = {
    "python-script": {"debug", "content_version", "env", "timeout", "log_level"},
    "orquesta": {"notify"},
}
# st2common/policies/meta/{concurrency,concurrency_by_attr,retry}.yaml: the parameters
# of each policy type the pack uses, as st2 registers them.
_THRESHOLD = {"type": "integer", "required": True}
_ON_LIMIT = {"type": "string", "default": "delay", "enum": ["delay", "cancel"]}
POLICY_TYPE_PARAMETERS = {
    "action.concurrency": {"threshold": _THRESHOLD, "action": _ON_LIMIT},
    "action.concurrency.attr": {
        "threshold": _THRESHOLD,
        "action": _ON_LIMIT,
        "attributes": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
        },
    },
}
# st2common/constants/pack.py
PACK_REF = r"^[a-z0-9_]+$"
PACK_VERSION = (
    r"^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    r"(?:-[\da-z\-]+(?:\.[\da-z\-]+)*)?(?:\+[\da-z\-]+(?:\.[\da-z\-]+)*)?$"
)
ST2_VERSION = r"^((>?>|>=|=|<=|<?<)\s*[0-9]+\.[0-9]+\.[0-9]+?(\s*,)?\s*)+$"


def assert_model(kind, doc, where):
    allowed, required = (set(words.split()) for words in MODELS[kind])
    assert set(doc) <= allowed, f"{where}: st2 refuses keys {sorted(set(doc) - allowed)}"
    assert required <= set(doc), f"{where}: st2 requires {sorted(required - set(doc))}"


@pytest.mark.parametrize("name", action_names())
def test_action_metadata_registers(name):
    meta = load(os.path.join(PACK_DIR, "actions", f"{name}.yaml"))
    assert_model("action", meta, name)
    validate_parameter_definitions(meta.get("parameters", {}))
    redefined = set(meta.get("parameters", {})) & RUNNER_PARAMETERS[meta["runner_type"]]
    assert not redefined, f"{name} redefines runner parameters {sorted(redefined)}"


@pytest.mark.parametrize("path", RULES, ids=os.path.basename)
def test_rule_registers_enabled(path):
    rule = load(path)
    assert_model("rule", rule, path)
    assert_model("rule.action", rule["action"], path)
    assert rule["enabled"] is True, "st2 registers a rule without enabled: true as disabled"


@pytest.mark.parametrize("path", POLICIES, ids=os.path.basename)
def test_policy_registers(path):
    policy = load(path)
    assert_model("policy", policy, path)
    # PolicyAPI.validate: the parameters against the policy type's
    assert policy["policy_type"] in POLICY_TYPE_PARAMETERS, "not a policy type modelled here"
    policy_type = POLICY_TYPE_PARAMETERS[policy["policy_type"]]
    validate_resource_parameters(policy_type, policy["parameters"])


def test_one_policy_per_action_and_policy_type():
    """PolicyDB's ``policy_type`` is ``unique_with="resource_ref"``: a second
    policy of one type on one action fails registration (E11000)."""
    seen = {}
    for path in POLICIES:
        policy = load(path)
        key = (policy["resource_ref"], policy["policy_type"])
        assert key not in seen, f"{os.path.basename(path)} and {seen[key]} are both {key}"
        seen[key] = os.path.basename(path)


def test_policy_parameter_check_can_fail():
    with pytest.raises(jsonschema.ValidationError):
        validate_resource_parameters(
            POLICY_TYPE_PARAMETERS["action.concurrency"], {"threshold": 1, "action": "queue"}
        )


def test_sensor_and_its_trigger_types_register():
    sensor = load(SENSOR_META)
    assert_model("sensor", sensor, "sensor")
    assert os.path.isfile(os.path.join(PACK_DIR, "sensors", sensor["entry_point"]))
    assert [t["name"] for t in sensor["trigger_types"]] == [
        "alert",
        "alert_recorded",
        "alerts_recorded",
        "alert_group",
    ]
    alert, recorded, batch, group = sensor["trigger_types"]
    assert (
        batch["payload_schema"]["properties"]["alerts"]["items"]
        == (group["payload_schema"]["properties"]["alerts"]["items"])
    ), "one alert item, two triggers"
    assert recorded["payload_schema"] == alert["payload_schema"], "one payload, two triggers"
    for trigger_type in sensor["trigger_types"]:
        assert_model("trigger_type", trigger_type, trigger_type["name"])
        check_payload_schema(trigger_type["payload_schema"])


def test_config_schema_registers():
    validate_parameter_definitions(load(os.path.join(PACK_DIR, "config.schema.yaml")))


def test_pack_metadata_matches_st2s_patterns():
    pack = load(os.path.join(PACK_DIR, "pack.yaml"))
    assert {"name", "description", "version", "author"} <= set(pack)
    assert re.match(PACK_REF, pack["ref"])
    assert re.match(PACK_VERSION, pack["version"])
    assert re.match(ST2_VERSION, pack["stackstorm_version"])
    assert set(pack["python_versions"]) <= {"2", "3"} and pack["python_versions"]


# The checks above must be able to fail: these are the mistakes st2 punishes.
def test_a_draft4_required_list_in_a_payload_schema_is_refused_as_st2_does():
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    with pytest.raises(jsonschema.SchemaError):
        check_payload_schema(schema)


def test_payload_validation_uses_st2s_per_property_required():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "required": True}, "b": {"type": "string"}},
    }
    validate_trigger_payload(schema, {"a": "x", "b": None})  # optional: null allowed
    with pytest.raises(jsonschema.ValidationError, match="'a' is a required property"):
        validate_trigger_payload(schema, {"b": "y"})


@pytest.mark.parametrize(
    "parameter",
    [
        {"type": ["string", "null"]},  # action parameters take one type
        {"type": "string", "format": "uri"},  # not an action parameter keyword
        {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
        {"type": "string", "bogus": 1},
    ],
)
def test_parameter_definitions_st2_refuses_are_refused(parameter):
    with pytest.raises(jsonschema.ValidationError):
        validate_parameter_definitions({"x": parameter})
