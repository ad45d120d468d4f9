"""Run the pack's Python actions as st2's python runner would, for workflow tests.

``ActionHandler`` answers every action a workflow calls: the pack's own
Python actions run for real (their code, with the given pack config),
``core.noop`` succeeds, and ``core.remote`` / ``core.local`` are answered by
the test's ``shell`` function, which also lets the test prove which commands
would have run.
"""

import importlib.util
import os

import yaml
from orquesta_harness import python_result
from pack_paths import PACK_DIR
from st2_actions import check_request, runner_parameters

ACTIONS_DIR = os.path.join(PACK_DIR, "actions")
# The config tests about something else run with: every host but the st2
# host's names in scope (a fresh install allows none; test_scope and the
# envelope tests prove that), and no wait for the alert to clear (test_clearance).
BASE_CONFIG = {"allowed_hosts": ["*"], "clear_timeout_seconds": 0}


def action_metadata(name):
    with open(os.path.join(ACTIONS_DIR, f"{name}.yaml")) as fp:
        return yaml.safe_load(fp)


def load_action_class(name):
    meta = action_metadata(name)
    path = os.path.join(ACTIONS_DIR, meta["entry_point"])
    spec = importlib.util.spec_from_file_location(f"poundcake_action_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from st2common.runners.base_action import Action

    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Action) and v.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{path} must define exactly one action class"
    return classes[0]


def shared_datastore():
    """One in-memory st2 datastore (st2's own mock) for every action and sensor."""
    import logging

    from st2tests.mocks.datastore import MockDatastoreService

    logger = logging.getLogger("poundcake.tests.datastore")
    return MockDatastoreService(logger=logger, pack_name="poundcake", class_name="tests")


def action_service(datastore):
    from st2tests.mocks.action import MockActionService, MockActionWrapper

    service = MockActionService(MockActionWrapper(pack="poundcake", class_name="action"))
    service._datastore_service = datastore
    return service


def run_python_action(name, params, config=None, datastore=None):
    """``(ok, value)`` of the pack action ``name``, as the python runner reports it."""
    cls = load_action_class(name)
    service = action_service(datastore if datastore is not None else shared_datastore())
    result = cls(config=config or {}, action_service=service).run(**params)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return result
    return True, result


def open_window(datastore, name, value, reason, author="alice", op="=", minutes=60):
    """A maintenance window through poundcake.create_suppression; its view."""
    params = {
        "matchers": [{"name": name, "op": op, "value": value}],
        "duration_minutes": minutes,
        "reason": reason,
        "author": author,
    }
    ok, window = run_python_action("create_suppression", params, datastore=datastore)
    assert ok, window
    return window


class ActionHandler:
    def __init__(self, config=None, shell=None, datastore=None, ask=None):
        self.config = config or {}
        self.shell = shell
        self.ask = ask  # answers core.ask: (call) -> (status, result), as st2 resumes it
        self.subruns = []
        self.datastore = datastore if datastore is not None else shared_datastore()

    def __call__(self, call):
        check_request(call.action, call.params)  # what st2 refuses never runs
        if call.action.startswith("poundcake."):
            name = call.action.split(".", 1)[1]
            meta = action_metadata(name)
            if meta["runner_type"] == "orquesta":
                return self._subworkflow(meta, call.params)
            # st2 hands a runner's parameters (timeout, env, ...) to the runner, not to run()
            runner = runner_parameters()[meta["runner_type"]]
            params = {k: v for k, v in call.params.items() if k not in runner}
            try:
                ok, value = run_python_action(name, params, self.config, self.datastore)
            except Exception:  # st2's python runner: a failed execution with the traceback
                import traceback

                from orquesta import statuses

                return statuses.FAILED, {
                    "result": None,
                    "exit_code": 1,
                    "stdout": "",
                    "stderr": traceback.format_exc(),
                }
            return python_result(value, ok)
        if call.action == "core.noop":
            from orquesta import statuses

            return statuses.SUCCEEDED, {}
        if call.action == "core.ask" and self.ask:
            return self.ask(call)
        if call.action in ("core.remote", "core.remote_sudo", "core.local") and self.shell:
            return self.shell(call)
        raise AssertionError(f"unexpected action {call.action} in task {call.task}")

    def _subworkflow(self, meta, params):
        """Run a child workflow as st2 does: parameters plus metadata defaults as input."""
        from orquesta_harness import run_workflow

        inputs = {k: v.get("default") for k, v in meta["parameters"].items()}
        inputs.update(self.rendered_defaults(meta))
        inputs.update(params)
        name = os.path.basename(meta["entry_point"])
        run = run_workflow(name, inputs, self)
        self.subruns.append(run)
        return run.status, {"output": run.output, "errors": run.errors}

    def rendered_defaults(self, meta):
        """``{{ config_context.x }}`` defaults rendered from this handler's config."""
        import jinja2
        from rules_engine import cast_rendered

        config = {**schema_defaults(), **self.config}
        out = {}
        for key, spec in meta["parameters"].items():
            default = spec.get("default")
            if isinstance(default, str) and "config_context" in default:
                value = jinja2.Template(default).render(config_context=config)
                out[key] = cast_rendered(value, spec["type"])
        return out


def schema_defaults():
    with open(os.path.join(PACK_DIR, "config.schema.yaml")) as fp:
        schema = yaml.safe_load(fp)
    return {k: v["default"] for k, v in schema.items() if "default" in v}
