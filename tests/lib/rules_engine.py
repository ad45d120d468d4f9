"""Just enough of st2's rules engine to test the pack's rules: criteria with
the operators the rules use, and action parameters rendered and cast as st2
does."""

import ast

import jinja2
from pack_actions import action_metadata, schema_defaults


def criteria_match(criteria, payload):
    """st2's equals / nequals / startswith / exists / nexists on ``trigger.<path>`` keys."""
    for key, spec in criteria.items():
        value = payload
        for part in key.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        op = spec["type"]
        if op in ("equals", "eq"):
            ok = value == spec["pattern"]
        elif op in ("nequals", "neq"):
            ok = value != spec["pattern"]
        elif op == "startswith":
            ok = isinstance(value, str) and value.startswith(spec["pattern"])
        elif op == "exists":
            ok = value is not None
        elif op == "nexists":
            ok = value is None
        else:
            raise AssertionError(f"criteria_match does not model operator {op}")
        if not ok:
            return False
    return True


def cast_rendered(value, kind):
    """st2's ``st2common.util.casts`` for a rendered Jinja string."""
    if kind == "object":
        return ast.literal_eval(value)  # _cast_object (after json fails)
    if kind == "boolean":
        return ast.literal_eval(value.capitalize())
    if kind == "integer":
        return int(value)
    return value


def render_rule_parameters(rule, payload, config=None):
    """The parameters st2 validates for a rule's action: the rule's rendered
    with the trigger, and the action's ``config_context`` defaults rendered
    with the pack config (``render_live_params``), each cast to its type."""
    meta = action_metadata(rule["action"]["ref"].split(".", 1)[1])["parameters"]
    out = {}
    for key, template in rule["action"]["parameters"].items():
        value = jinja2.Template(str(template)).render(trigger=payload)
        out[key] = cast_rendered(value, meta[key]["type"])
    config_context = {**schema_defaults(), **(config or {})}
    for key, spec in meta.items():
        default = spec.get("default")
        if key not in out and isinstance(default, str) and "{{" in default:
            value = jinja2.Template(default).render(config_context=config_context)
            out[key] = cast_rendered(value, spec["type"])
    return out
