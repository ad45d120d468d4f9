"""Validate and run the pack's Orquesta workflows with Orquesta itself.

PyPI only has orquesta 1.2.0, which predates Python 3.10/3.11. Three small
compatibility patches, applied here (test setup only, never at runtime):

1. ``collections.Mapping`` & co. were removed in 3.10 (orquesta's specs use them);
2. ``fractions.gcd`` was removed in 3.9 (networkx 1.11, orquesta's graph library);
3. ``(?i)`` in the middle of a pattern is an error since 3.11
   (``orquesta.utils.parameters`` builds one from ``(?i)true|(?i)false``).

:func:`run_workflow` drives the real ``WorkflowConductor`` the way st2's
workflow engine does: it asks for the next tasks, "executes" each action
through a handler the test supplies, and feeds the result back as
ActionExecutionEvents, so transitions, publish, retry and output are
Orquesta's own.
"""

import collections
import collections.abc
import fractions
import json
import math
import os
import threading

import yaml
from pack_paths import PACK_DIR
from st2_actions import RequestRejected

WORKFLOWS_DIR = os.path.join(PACK_DIR, "actions", "workflows")


def apply_compat_patches():
    for name in (
        "Mapping",
        "MutableMapping",
        "Sequence",
        "MutableSequence",
        "Iterable",
        "Callable",
        "Set",
        "MutableSet",
        "Hashable",
    ):
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    if not hasattr(fractions, "gcd"):
        fractions.gcd = math.gcd
    from orquesta.utils import parameters

    pattern = parameters.REGEX_INLINE_PARAMS
    if "(?i)true" in pattern:
        parameters.REGEX_INLINE_PARAMS = pattern.replace("(?i)true", "(?i:true)").replace(
            "(?i)false", "(?i:false)"
        )


apply_compat_patches()

from orquesta import conducting, events, statuses  # noqa: E402
from orquesta.specs import native  # noqa: E402

# YAQL's parser is not thread-safe. st2 runs Orquesta on cooperative green
# threads; tests that run workflows on OS threads hold this lock around every
# Orquesta call, but never around an action, so executions still interleave
# at every action boundary (where the datastore is read and written).
ORQUESTA_LOCK = threading.RLock()

ST2_CONTEXT = {"st2": {"action_execution_id": "5f0000000000000000000042", "user": "stanley"}}


def load_definition(name):
    with open(os.path.join(WORKFLOWS_DIR, name)) as fp:
        return yaml.safe_load(fp)


def inspect(name):
    """Orquesta's own inspection (syntax, semantics, expressions, context)."""
    with ORQUESTA_LOCK:
        spec = native.WorkflowSpec(load_definition(name))
        return spec.inspect(app_ctx=ST2_CONTEXT, raise_exception=False)


def python_result(value, ok=True):
    """What st2 records for a Python runner action that returned ``(ok, value)``."""
    status = statuses.SUCCEEDED if ok else statuses.FAILED
    return status, {"result": value, "exit_code": 0 if ok else 1, "stdout": "", "stderr": ""}


def shell_output(text):
    """stdout as st2's shell runners record it: parsed as JSON when it parses
    (``jsonify.json_loads`` over stdout/stderr), so ``"123\n"`` becomes 123."""
    try:
        return json.loads(text) if text else text
    except ValueError:
        return text


def remote_result(host, stdout="", return_code=0):
    """What st2 records for core.remote on one host."""
    stdout = shell_output(stdout)
    ok = return_code == 0
    status = statuses.SUCCEEDED if ok else statuses.FAILED
    return status, {
        host: {
            "stdout": stdout,
            "stderr": "" if ok else "command failed",
            "return_code": return_code,
            "succeeded": ok,
            "failed": not ok,
        }
    }


class Call:
    def __init__(self, task, action, params):
        self.task = task
        self.action = action
        self.params = params

    def __repr__(self):
        return f"Call({self.task!r}, {self.action!r}, {self.params!r})"


class Run:
    def __init__(self, status, output, calls, errors):
        self.status = status
        self.output = output
        self.calls = calls
        self.errors = errors

    def tasks(self):
        return [c.task for c in self.calls]

    def calls_to(self, action):
        return [c for c in self.calls if c.action == action]


def _fail_workflow(conductor, task, exc, calls):
    """st2's ``fail_workflow_execution``: a refused task request fails the
    workflow itself (its output rendered), and no branch of the task runs."""
    with ORQUESTA_LOCK:
        conductor.request_workflow_status(statuses.FAILED)
        conductor.log_error(exc, task_id=task["id"], route=task["route"])
        conductor.render_workflow_output()
        return Run(statuses.FAILED, conductor.get_workflow_output(), calls, conductor.errors)


def run_workflow(name, inputs, handler, max_steps=100):
    """Run workflow ``name`` with ``inputs``; ``handler(call) -> (status, result)``."""
    with ORQUESTA_LOCK:
        spec = native.WorkflowSpec(load_definition(name))
        errors = spec.inspect(app_ctx=ST2_CONTEXT, raise_exception=False)
        assert not errors, errors
        conductor = conducting.WorkflowConductor(spec, context=ST2_CONTEXT, inputs=inputs)
        conductor.request_workflow_status(statuses.RUNNING)
    calls = []
    for _ in range(max_steps):
        with ORQUESTA_LOCK:
            next_tasks = conductor.get_next_tasks()
        if not next_tasks:
            break
        for task in next_tasks:
            if task["spec"].action is None:
                # an action-less task: st2 marks it done at once, no execution
                for event_status in (statuses.RUNNING, statuses.SUCCEEDED):
                    with ORQUESTA_LOCK:
                        conductor.update_task_state(
                            task["id"], task["route"], events.ActionExecutionEvent(event_status)
                        )
                continue
            items = [None] * task.get("items_count", 0)
            for action in task["actions"]:
                call = Call(task["id"], action["action"], action["input"])
                calls.append(call)
                try:
                    status, result = handler(call)
                except RequestRejected as exc:
                    return _fail_workflow(conductor, task, exc, calls)
                for event_status in (statuses.RUNNING, status):
                    if "item_id" in action:  # with-items: st2 sends item events
                        done = event_status != statuses.RUNNING
                        items[action["item_id"]] = result if done else None
                        event = events.TaskItemActionExecutionEvent(
                            action["item_id"],
                            event_status,
                            result=result if done else None,
                            accumulated_result=list(items),
                        )
                    else:
                        done = event_status != statuses.RUNNING
                        event = events.ActionExecutionEvent(
                            event_status, result=result if done else None
                        )
                    with ORQUESTA_LOCK:
                        conductor.update_task_state(task["id"], task["route"], event)
    else:
        raise AssertionError(f"workflow {name} did not finish in {max_steps} steps")
    with ORQUESTA_LOCK:
        if conductor.get_workflow_status() in statuses.COMPLETED_STATUSES:
            conductor.render_workflow_output()  # as st2's workflow engine does on completion
        status = conductor.get_workflow_status()
        return Run(status, conductor.get_workflow_output(), calls, conductor.errors)
