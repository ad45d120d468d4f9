"""Which st2 action may remediate an alert.

Rules name a shipped workflow directly; an alert may instead name a runbook
in its ``automation_runbook`` annotation, which the pack config maps to an
action ref. Either way only the pack's own ``remediate_*`` workflows and the
refs listed in ``allowed_actions`` may run: the annotation is alert text,
and must never choose an arbitrary action.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional, Sequence

SHIPPED_WORKFLOWS = (
    "poundcake.remediate_service_down",
    "poundcake.remediate_high_cpu",
    "poundcake.remediate_disk_space",
    "poundcake.remediate_high_memory",
    "poundcake.remediate_host_down",
)
DEFAULT_RUNBOOKS = {
    "service_unavailable": "poundcake.remediate_service_down",
    "high_cpu": "poundcake.remediate_high_cpu",
    "disk_full": "poundcake.remediate_disk_space",
    "high_memory": "poundcake.remediate_high_memory",
    "host_unreachable": "poundcake.remediate_host_down",
}
ACTION_REF = re.compile(r"^[a-z0-9_-]+\.[A-Za-z0-9_-]+\Z")
RUNBOOK = re.compile(r"^[A-Za-z0-9_.-]{1,100}\Z")


class RoutingError(ValueError):
    """No allowed action for this alert; nothing runs."""


def allowed_actions(config: Mapping[str, Any]) -> Sequence[str]:
    extra = config.get("allowed_actions") or []
    return tuple(SHIPPED_WORKFLOWS) + tuple(a for a in extra if isinstance(a, str))


def resolve(workflow: Optional[str], runbook: Optional[str], config: Mapping[str, Any]) -> str:
    """The action ref to run for a rule's ``workflow`` or an alert's ``runbook``."""
    if workflow:
        ref = workflow
        origin = f"workflow {workflow!r}"
    elif runbook:
        if not isinstance(runbook, str) or not RUNBOOK.match(runbook):
            raise RoutingError(f"runbook {runbook!r} is not a valid runbook name")
        runbooks = config.get("runbooks") or DEFAULT_RUNBOOKS
        ref = runbooks.get(runbook)
        if ref is None:
            known = ", ".join(sorted(runbooks)) or "none"
            raise RoutingError(
                f"unknown runbook {runbook!r}: add it to the pack config's runbooks "
                f"(known: {known})"
            )
        origin = f"runbook {runbook!r} (mapped to {ref!r})"
    else:
        raise RoutingError("neither a workflow nor a runbook was given")
    if not isinstance(ref, str) or not ACTION_REF.match(ref):
        raise RoutingError(f"{origin} is not an action ref of the form pack.action")
    if ref not in allowed_actions(config):
        raise RoutingError(
            f"{origin} is not allowed: only poundcake's remediate_* workflows and the "
            "pack config's allowed_actions may run"
        )
    return ref
