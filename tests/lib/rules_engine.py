"""Just enough of st2's rules engine to test the pack's rules: criteria with
the operators the rules use, and action parameters rendered and cast as st2
does."""

import ast

import jinja2
from pack_actions import action_metadata


def criteria_match(criteria, payload):
    """st2's equals / nequals / exists / nexists on ``trigger.<path>`` keys."""
    for key, spec in criteria.items():
        value = payload
        for part in key.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        op = spec["type"]
        if op in ("equals", "eq"):
            ok = value == spec["pattern"]
        elif op in ("nequals", "neq"):
            ok = value != spec["pattern"]
        elif op == "exists":
            ok = value is not None
        elif op == "nexists":
            ok = value is None
        else:
            raise AssertionError(f"criteria_match does not model operator {op}")
        if not ok:
            return False
    return True


def render_rule_parameters(rule, payload):
    """Render a rule's action parameters as st2 does, casting objects like st2."""
    meta = action_metadata(rule["action"]["ref"].split(".", 1)[1])["parameters"]
    out = {}
    for key, template in rule["action"]["parameters"].items():
        value = jinja2.Template(str(template)).render(trigger=payload)
        if meta[key]["type"] == "object":
            value = ast.literal_eval(value)  # st2's _cast_object (after json fails)
        out[key] = value
    return out
