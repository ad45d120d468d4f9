"""What st2 checks when a workflow task requests an action.

``st2common.services.action.create_request`` validates a task's rendered
input against the called action's parameters merged over its runner's
(``get_schema_for_action_parameters``: unknown names refused, required
names, types, patterns), then refuses any override of an ``immutable``
parameter. A refusal raises before the execution exists, so st2 fails the
whole workflow (``fail_workflow_execution``) and no ``when: failed()``
branch of the task runs.

The metadata comes from st2 itself, never from a copy: the pack's own
``actions/*.yaml``, and st2's ``core`` actions and runners from, first found:

1. ``$ST2_SOURCE_DIR``, a checkout of StackStorm/st2;
2. the st2 the tests run on (under st2-run-pack-tests): the ``core`` pack in
   its system packs folder and each runner package's ``runner.yaml``, as
   ``ask_st2.py`` reads them from st2;
3. the st2 source the st2 kit carries (``../shared/st2-rig/src/st2-*.tar.gz``).

Without any of them the tests fail and say so: a missing st2 is an error,
not a skip.
"""

import copy
import functools
import glob
import json
import os
import subprocess
import sys
import tarfile

import yaml
from pack_paths import PACK_DIR, st2_is_installed
from st2common.util import schema as util_schema

KIT_SOURCES = os.path.join(os.path.dirname(PACK_DIR), "shared", "st2-rig", "src", "st2-*.tar.gz")
ASK_ST2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ask_st2.py")
CORE_ACTIONS = ("ask", "http", "local", "noop", "remote", "remote_sudo", "sendmail")
RUNNERS = ("http", "inquirer", "local", "noop", "orquesta", "python", "remote")
# Other packs' actions the example notifiers call: their parameters, with their source
EXCHANGE = os.path.join(PACK_DIR, "tests", "fixtures", "st2_actions")


class RequestRejected(ValueError):
    """st2 refused a task's action request; the workflow fails, no branch runs."""


def _core_file(name):
    return f"contrib/core/actions/{name}.yaml"


def _runner_file(name):
    return f"contrib/runners/{name}_runner/{name}_runner/runner.yaml"


def _source_paths():
    return [_core_file(a) for a in CORE_ACTIONS] + [_runner_file(r) for r in RUNNERS]


def _from_source(files):
    """``(core actions, runner packages)`` from ``{source path: yaml}``."""
    core = {a: files[_core_file(a)] for a in CORE_ACTIONS}
    return core, {r: files[_runner_file(r)] for r in RUNNERS}


def _from_source_dir(source_dir):
    files = {}
    for path in _source_paths():
        with open(os.path.join(source_dir, path)) as fp:
            files[path] = yaml.safe_load(fp)
    return _from_source(files)


def _from_installed_st2():
    # A fresh process: st2tests (imported by conftest) has pointed this one's
    # st2 config at st2's test fixtures, which carry a `core` pack of their own.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, ASK_ST2, *RUNNERS], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(
            f"st2 is installed, but asking it for its core pack and runners failed: "
            f"{done.stderr.strip().splitlines()[-1:]}"
        )
    st2 = json.loads(done.stdout)
    core_dir = os.path.join(st2["system_packs_base_path"], "core", "actions")
    if not os.path.isdir(core_dir):
        raise RuntimeError(
            f"st2 is installed, but its core pack is not at {core_dir} ([content] "
            f"system_packs_base_path, config file: {st2['config_file'] or 'none, st2 defaults'}); "
            "point ST2_CONFIG_PATH at st2's st2.conf, or ST2_SOURCE_DIR at st2's source"
        )
    core = {}
    for name in CORE_ACTIONS:
        with open(os.path.join(core_dir, f"{name}.yaml")) as fp:
            core[name] = yaml.safe_load(fp)
    return core, st2["runners"]


def _from_kit_tarball():
    tarballs = sorted(glob.glob(KIT_SOURCES))
    if not tarballs:
        raise RuntimeError(
            "st2's core pack and runners are needed to check workflow tasks, and there is no st2: "
            f"st2common is not importable and there is no st2 source at {KIT_SOURCES}; run the "
            "tests under st2-run-pack-tests, put the st2 kit (shared/st2-rig) beside the "
            "repository, or set ST2_SOURCE_DIR to a checkout of StackStorm/st2"
        )
    wanted = set(_source_paths())
    files = {}
    with tarfile.open(tarballs[-1]) as tar:
        for member in tar.getmembers():
            path = member.name.split("/", 1)[-1]
            if path in wanted:
                files[path] = yaml.safe_load(tar.extractfile(member))
    missing = wanted - set(files)
    assert not missing, f"{tarballs[-1]} lacks {sorted(missing)}"
    return _from_source(files)


def read_st2_metadata():
    """``({core action: metadata}, {runner package: [runner, ...]})`` from st2."""
    source_dir = os.environ.get("ST2_SOURCE_DIR")
    if source_dir:
        return _from_source_dir(source_dir)
    if st2_is_installed():
        return _from_installed_st2()
    return _from_kit_tarball()


_st2_metadata = functools.lru_cache(maxsize=None)(read_st2_metadata)


@functools.lru_cache(maxsize=None)
def runner_parameters():
    """``{runner_type name: runner_parameters}`` as st2 registers its runners."""
    out = {}
    for runners in _st2_metadata()[1].values():
        for runner in runners:
            out[runner["name"]] = runner.get("runner_parameters") or {}
    return out


def action_metadata(ref):
    """The metadata of ``core.*`` (st2's), ``poundcake.*`` (the pack's) or an
    Exchange pack's action ``ref`` (``tests/fixtures/st2_actions``)."""
    pack, name = ref.split(".", 1)
    if pack == "core" and name in CORE_ACTIONS:
        return _st2_metadata()[0][name]
    if pack == "poundcake":
        path = os.path.join(PACK_DIR, "actions", f"{name}.yaml")
        if os.path.exists(path):
            with open(path) as fp:
                return yaml.safe_load(fp)
    path = os.path.join(EXCHANGE, f"{ref}.yaml")
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
