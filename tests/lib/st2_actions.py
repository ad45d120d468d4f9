"""What st2 checks when a workflow task requests an action.

``st2common.services.action.create_request`` validates a task's rendered
input against the called action's parameters merged over its runner's
(``get_schema_for_action_parameters``: unknown names refused, required
names, types, patterns), then refuses any override of an ``immutable``
parameter. A refusal raises before the execution exists, so st2 fails the
whole workflow (``fail_workflow_execution``) and no ``when: failed()``
branch of the task runs.

The metadata comes from st2 itself, never from a copy: the pack's own
``actions/*.yaml``, and st2's ``core`` actions and runners read from the st2
source the st2 kit carries (``../shared/st2-rig/src/st2-*.tar.gz``), or from
``$ST2_SOURCE_DIR`` (a checkout of StackStorm/st2). Without either the tests
fail and say so: a missing st2 is an error, not a skip.
"""

import copy
import functools
import glob
import os
import tarfile

import yaml
from pack_paths import PACK_DIR
from st2common.util import schema as util_schema

KIT_SOURCES = os.path.join(os.path.dirname(PACK_DIR), "shared", "st2-rig", "src", "st2-*.tar.gz")
CORE_ACTIONS = ("ask", "local", "noop", "remote", "remote_sudo")
RUNNERS = ("inquirer", "local", "noop", "orquesta", "python", "remote")


class RequestRejected(ValueError):
    """st2 refused a task's action request; the workflow fails, no branch runs."""


def _runner_file(name):
    return f"contrib/runners/{name}_runner/{name}_runner/runner.yaml"


@functools.lru_cache(maxsize=None)
def _st2_files():
    """``{path: yaml}`` of st2's core actions and runners, from st2's source."""
    wanted = [f"contrib/core/actions/{a}.yaml" for a in CORE_ACTIONS]
    wanted += [_runner_file(r) for r in RUNNERS]
    source_dir = os.environ.get("ST2_SOURCE_DIR")
    if source_dir:
        out = {}
        for path in wanted:
            with open(os.path.join(source_dir, path)) as fp:
                out[path] = yaml.safe_load(fp)
        return out
    tarballs = sorted(glob.glob(KIT_SOURCES))
    if not tarballs:
        raise RuntimeError(
            f"st2's source is needed to check workflow tasks: none at {KIT_SOURCES}; "
            "put the st2 kit (shared/st2-rig) beside the repository or set ST2_SOURCE_DIR"
        )
    out = {}
    with tarfile.open(tarballs[-1]) as tar:
        for member in tar.getmembers():
            path = member.name.split("/", 1)[-1]
            if path in wanted:
                out[path] = yaml.safe_load(tar.extractfile(member))
    missing = set(wanted) - set(out)
    assert not missing, f"{tarballs[-1]} lacks {sorted(missing)}"
    return out


@functools.lru_cache(maxsize=None)
def runner_parameters():
    """``{runner_type name: runner_parameters}`` as st2 registers its runners."""
    out = {}
    for name in RUNNERS:
        for runner in _st2_files()[_runner_file(name)]:
            out[runner["name"]] = runner.get("runner_parameters") or {}
    return out


def action_metadata(ref):
    """The metadata of ``core.*`` (st2's) or ``poundcake.*`` (the pack's) action ``ref``."""
    pack, name = ref.split(".", 1)
    if pack == "core" and name in CORE_ACTIONS:
        return _st2_files()[f"contrib/core/actions/{name}.yaml"]
    if pack == "poundcake":
        path = os.path.join(PACK_DIR, "actions", f"{name}.yaml")
        if os.path.exists(path):
            with open(path) as fp:
                return yaml.safe_load(fp)
    raise RequestRejected(f'Action "{ref}" cannot be found.')


def merged_parameters(ref):
    """The action's parameters deep-merged over its runner's, as st2 merges them."""
    meta = action_metadata(ref)
    merged = copy.deepcopy(runner_parameters()[meta["runner_type"]])
    for name, spec in (meta.get("parameters") or {}).items():
        merged.setdefault(name, {}).update(spec)
    return merged


def check_request(ref, params, rendered=True):
    """Refuse ``params`` for ``ref`` as st2's ``create_request`` would.

    With ``rendered=False`` (a task's input read from the workflow file) only
    what is known before rendering is checked: names, required names,
    immutables, and the types of literal values.
    """
    params = params or {}  # a task without input
    merged = merged_parameters(ref)
    unknown = sorted(set(params) - set(merged))
    if unknown:
        raise RequestRejected(f"{ref}: Additional properties are not allowed ({unknown})")
    missing = sorted(
        n for n, s in merged.items() if s.get("required") and "default" not in s and n not in params
    )
    if missing:
        raise RequestRejected(f"{ref}: required parameter(s) {missing} missing")
    immutable = sorted(n for n in params if merged[n].get("immutable"))
    if immutable:
        raise RequestRejected(f"Override of immutable parameter(s) {immutable} is unsupported.")
    values = params if rendered else {k: v for k, v in params.items() if not _expression(v)}
    schema = util_schema.get_schema_for_resource_parameters(
        {n: s for n, s in merged.items() if n in values}
    )
    try:
        util_schema.validate(
            instance=values,
            schema=schema,
            cls=util_schema.get_validator(),
            use_default=True,
            allow_default_none=True,
        )
    except Exception as exc:  # jsonschema's ValidationError, st2's or the stand-in's
        raise RequestRejected(f"{ref}: {exc}") from exc


def _expression(value):
    return isinstance(value, str) and ("<%" in value or "{{" in value)
