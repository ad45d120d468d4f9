"""The pack's resource files agree with each other and with st2's rules.

st2 registers what it can and logs the rest, so a typo in a rule (a criteria
key the payload never has, an action parameter that does not exist) shows up
only as a rule that never fires. These tests catch that before st2 does.
"""

import glob
import inspect
import os

import pytest
import st2_actions
import yaml
from deliveries import firing_body
from pack_actions import action_metadata, load_action_class
from pack_paths import PACK_DIR
from rules_engine import criteria_match, render_rule_parameters
from st2_actions import RequestRejected, check_request
from st2_schemas import trigger_schemas, validate_resource_parameters

from poundcake.alertmanager import parse_delivery
from poundcake.routing import SHIPPED_WORKFLOWS
from poundcake.triggers import alert_fields, alert_instance, opted_in

# st2common/st2common/operators.py
ST2_OPERATORS = {
    "matchwildcard", "matchregex", "regex", "iregex", "eq", "equals", "nequals", "neq",
    "ieq", "iequals", "contains", "icontains", "ncontains", "incontains", "startswith",
    "istartswith", "endswith", "iendswith", "lt", "lessthan", "gt", "greaterthan",
    "td_lt", "timediff_lt", "td_gt", "timediff_gt", "exists", "nexists", "inside", "in",
    "ninside", "nin", "search",
}  # fmt: skip


def load(path):
    with open(path) as fp:
        return yaml.safe_load(fp)


def files(folder):
    return sorted(glob.glob(os.path.join(PACK_DIR, folder, "*.yaml")))


def action_names():
    return [os.path.basename(p)[:-5] for p in files("actions")]


RULES = files("rules")
# st2's own trigger a rule here listens to: INQUIRY_TRIGGER in
# st2common/st2common/constants/triggers.py (the inquirer runner dispatches it).
ST2_TRIGGERS = {
    "core.st2.generic.inquiry": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "required": True},
            "route": {"type": "string", "required": True},
        },
    }
}
INQUIRY = {"id": "5f" + "0" * 21 + "9", "route": "poundcake.37bb06284ad968e0-20261123T083600Z"}
POLICIES = files("policies")


def sample_payload(**labels):
    delivery = parse_delivery(firing_body())
    fields = alert_fields(delivery.alerts[0])
    fields["labels"] = {**fields["labels"], **labels}
    return alert_instance(fields, delivery, "req-" + "0" * 32, "2026-11-23T08:36:01Z").payload


def schema_has_path(schema, parts):
    for part in parts:
        props = schema.get("properties", {})
        if part in props:
            schema = props[part]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return False
    return True


@pytest.mark.parametrize("path", RULES, ids=os.path.basename)
def test_rule_is_consistent_with_the_sensor_and_actions(path):
    rule = load(path)
    assert rule["pack"] == "poundcake" and rule["description"]
    schemas = {**trigger_schemas(), **ST2_TRIGGERS}
    assert rule["trigger"]["type"] in schemas
    schema = schemas[rule["trigger"]["type"]]
    for key, spec in rule["criteria"].items():
        assert key.startswith("trigger."), key
        assert schema_has_path(schema, key.split(".")[1:]), f"{key} is not in the payload schema"
        assert spec["type"] in ST2_OPERATORS
        # st2's validate_criteria refuses the rule without one, even for exists.
        assert spec.get("pattern") is not None, f"{key}: no pattern"
    ref = rule["action"]["ref"]
    assert ref.startswith("poundcake.") and ref.split(".", 1)[1] in action_names()
    meta = action_metadata(ref.split(".", 1)[1])
    assert set(rule["action"]["parameters"]) <= set(meta["parameters"])


@pytest.mark.parametrize("path", RULES, ids=os.path.basename)
def test_rule_parameters_render_to_valid_action_parameters(path):
    rule = load(path)
    inquiry = rule["trigger"]["type"] in ST2_TRIGGERS
    payload = INQUIRY if inquiry else sample_payload(auto_remediate="true", service="nginx")
    params = render_rule_parameters(rule, payload)
    meta = action_metadata(rule["action"]["ref"].split(".", 1)[1])
    validate_resource_parameters(meta["parameters"], params)
    if inquiry:
        assert criteria_match(rule["criteria"], payload)
        assert params["inquiry_id"] == INQUIRY["id"] and params["route"] == INQUIRY["route"]
    else:
        assert params["alert"] == payload


def matching_rules(payload):
    return [os.path.basename(p)[:-5] for p in RULES if criteria_match(load(p)["criteria"], payload)]


def test_an_opted_in_alert_matches_exactly_one_rule():
    payload = sample_payload(auto_remediate="true")
    payload["alertname"] = "ServiceDown"
    assert matching_rules(payload) == ["remediate_service_down"]
    payload["annotations"] = {"automation_runbook": "service_unavailable"}
    assert matching_rules(payload) == ["remediate_by_runbook"]


@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_an_alert_that_did_not_opt_in_starts_no_execution(status):
    """The sensor records it itself (poundcake.recorder): no rule may match."""
    for labels in ({}, {"auto_remediate": "false"}):
        payload = sample_payload(**labels)
        payload.update(alertname="ServiceDown", status=status)
        assert not opted_in(payload)
        assert matching_rules(payload) == []


def test_a_resolved_opted_in_alert_only_resolves_its_incident():
    payload = sample_payload(auto_remediate="true")
    payload.update(alertname="ServiceDown", status="resolved")
    assert opted_in(payload)
    assert matching_rules(payload) == ["resolve_incident"]


@pytest.mark.parametrize("path", POLICIES, ids=os.path.basename)
def test_policy_targets_an_existing_action_and_parameters(path):
    policy = load(path)
    assert policy["enabled"] is True and policy["description"]
    ref = policy["resource_ref"]
    meta = action_metadata(ref.split(".", 1)[1])
    for attribute in policy["parameters"].get("attributes", []):
        assert attribute in meta["parameters"]


@pytest.mark.parametrize("name", action_names())
def test_action_metadata_matches_its_code(name):
    meta = action_metadata(name)
    assert meta["name"] == name and meta["enabled"] is True and meta["description"]
    entry = os.path.join(PACK_DIR, "actions", meta["entry_point"])
    assert os.path.isfile(entry), entry
    if meta["runner_type"] == "orquesta":
        wf_inputs = []
        for item in load(entry)["input"]:
            wf_inputs.append(item if isinstance(item, str) else next(iter(item)))
        assert sorted(wf_inputs) == sorted(meta["parameters"])
    else:
        assert meta["runner_type"] == "python-script"
        signature = inspect.signature(load_action_class(name).run)
        assert sorted(set(signature.parameters) - {"self"}) == sorted(meta["parameters"])
        # st2 calls run(**parameters) with only the given ones and the defaults
        for param, spec in meta["parameters"].items():
            py_default = signature.parameters[param].default
            if "default" in spec and py_default is not inspect.Parameter.empty:
                assert py_default == spec["default"], f"{name}.{param} defaults disagree"
            if not spec.get("required"):
                has_default = "default" in spec or py_default is not inspect.Parameter.empty
                assert has_default, f"{name}.{param} is optional without a default"


def _possible_refs(action):
    """The refs a task's ``action`` can name: itself, or for the pack's two
    expressions every ref the config may put there."""
    if action in ("<% ctx().remediation %>", "<% ctx().workflow %>"):
        return list(SHIPPED_WORKFLOWS)
    if action == "<% ctx().escalation_action %>":
        return ["poundcake.log_escalation"]  # the default; any other must take `message`
    assert not action.startswith("<%"), f"unexpected action expression {action}"
    return [action]


def test_every_task_input_is_one_st2_accepts():
    """st2 refuses a task request whose input breaks the called action's
    parameters (unknown, missing required, immutable override, wrong type)
    and then fails the workflow before any when: failed() branch runs."""
    for path in files("actions/workflows"):
        for task_id, task in load(path)["tasks"].items():
            if "action" not in task:
                continue  # st2 completes a task without an action at once
            for ref in _possible_refs(task["action"]):
                try:
                    check_request(ref, task.get("input"), rendered=False)
                except RequestRejected as exc:
                    pytest.fail(f"{os.path.basename(path)} task {task_id} -> {ref}: {exc}")


@pytest.mark.parametrize(
    "ref, params, refusal",
    [
        ("core.remote", {"hosts": "h", "cmd": "id", "sudo": True}, "immutable"),
        ("core.remote_sudo", {"hosts": "h"}, "required"),
        ("poundcake.log_escalation", {"message": "m", "severity": "x"}, "Additional"),
        ("core.local", {"cmd": "id", "timeout": "soon"}, "not of type"),
        ("core.nothing", {}, "cannot be found"),
    ],
)
def test_task_check_refuses_what_st2_refuses(ref, params, refusal):
    with pytest.raises(RequestRejected, match=refusal):
        check_request(ref, params, rendered=False)


def test_without_any_st2_the_task_checks_fail_and_say_where_to_find_one(monkeypatch):
    monkeypatch.delenv("ST2_SOURCE_DIR", raising=False)
    monkeypatch.setattr(st2_actions, "st2_is_installed", lambda: False)
    monkeypatch.setattr(st2_actions, "KIT_SOURCES", "/nonexistent/st2-*.tar.gz")
    with pytest.raises(RuntimeError, match="st2-run-pack-tests.*shared/st2-rig.*ST2_SOURCE_DIR"):
        st2_actions.read_st2_metadata()


def test_pack_metadata():
    pack = load(os.path.join(PACK_DIR, "pack.yaml"))
    assert pack["ref"] == "poundcake" and pack["python_versions"] == ["3"]
    for key in ("version", "stackstorm_version", "author", "email", "keywords", "description"):
        assert pack[key], key
    for name in ("LICENSE", "CHANGES.md", "README.md", "icon.png", "requirements.txt"):
        assert os.path.isfile(os.path.join(PACK_DIR, name)), name
    with open(os.path.join(PACK_DIR, "icon.png"), "rb") as fp:
        assert fp.read(8) == b"\x89PNG\r\n\x1a\n"
