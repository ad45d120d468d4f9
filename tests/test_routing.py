"""Which action may remediate an alert."""

import glob
import os

import pytest
from pack_paths import PACK_DIR

from poundcake.routing import DEFAULT_RUNBOOKS, SHIPPED_WORKFLOWS, RoutingError, resolve


def test_shipped_workflows_are_exactly_the_remediation_workflows_in_the_pack():
    # the actions' metadata: remediate_high_cpu and _memory share one workflow file
    files = glob.glob(os.path.join(PACK_DIR, "actions", "remediate_*.yaml"))
    files = [f for f in files if os.path.basename(f) != "remediate.yaml"]
    in_pack = {"poundcake." + os.path.basename(f)[: -len(".yaml")] for f in files}
    assert len(in_pack) == 5
    assert set(SHIPPED_WORKFLOWS) == in_pack
    assert set(DEFAULT_RUNBOOKS.values()) <= in_pack


def test_shipped_workflows_are_allowed():
    for ref in SHIPPED_WORKFLOWS:
        assert resolve(ref, None, {}) == ref


def test_default_runbook_map():
    assert resolve(None, "service_unavailable", {}) == "poundcake.remediate_service_down"


def test_configured_runbook_needs_an_allowed_action():
    config = {"runbooks": {"flush_cache": "ops.flush_cache"}}
    with pytest.raises(RoutingError, match="not allowed"):
        resolve(None, "flush_cache", config)
    config["allowed_actions"] = ["ops.flush_cache"]
    assert resolve(None, "flush_cache", config) == "ops.flush_cache"


@pytest.mark.parametrize(
    "workflow, runbook, message",
    [
        (None, "nope", "unknown runbook 'nope'"),
        (None, "x; rm -rf /", "not a valid runbook name"),
        ("core.local", None, "not allowed"),
        ("linux.rm", None, "not allowed"),
        ("not a ref", None, "not an action ref"),
        (None, None, "neither a workflow nor a runbook"),
    ],
)
def test_unknown_or_unlisted_refs_are_refused(workflow, runbook, message):
    with pytest.raises(RoutingError, match=message):
        resolve(workflow, runbook, {})
