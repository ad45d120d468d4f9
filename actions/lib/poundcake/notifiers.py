"""Notifiers: a message per transition of an incident, through st2 actions.

A notifier names an st2 action, the transitions it takes, and templates for
the parameters that action declares. The first is the config's
``notify_action`` (``notify_on``, ``notify_parameters``, ``notify_thread``);
more are listed in ``notifiers``. Templates are ``string.Template`` text
(``${alertname}``, ``$$`` for a dollar): st2 renders every ``{{ }}`` in a
pack config when it loads it, long before there is an incident, so Jinja
cannot be the syntax. A template that names no field here is a config
error, reported with its key.

What an action returns is kept as the incident's thread (``thread``, a
path into the execution's result such as ``result.ts`` for Slack's
chat.postMessage, or ``result.id`` for a PagerDuty incident), and renders
as ``${thread_id}`` in that notifier's later messages, or another
notifier's that names it in ``thread_from`` (PagerDuty resolves with
another action than it opens with; a notifier following another's thread
sends nothing until that thread exists).

The transitions that escalate (``ESCALATIONS``) tell each notifier once per
incident; ``resolved`` too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from string import Template
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import quote, urlencode

from poundcake.inert import inert

# unrouted too: an opted-in alert nothing may remediate (a runbook no
# allowed action matches, no rule ran process_alert) needs a human as much
ESCALATIONS = (
    "failed",
    "not_cleared",
    "not_approved",
    "rate_limited",
    "refused",
    "skipped",
    "unrouted",
)
TRANSITIONS = (
    ("remediating", "awaiting_approval", "remediated", "nothing_to_do", "diagnosed")
    + ESCALATIONS
    + ("resolved",)
)
FIELDS = (
    "tracking_id",
    "alertname",
    "severity",
    "host",
    "state",
    "reason",
    "outcome",
    "dry_run",
    "workflow",
    "execution_url",
    "board_url",
    "runbook_url",
    "summary",
    "approve",
    "deny",
    "thread_id",
)
FIRST = "notify_action"
DEFAULT_PARAMETERS = {
    "message": "PoundCake: ${alertname} on ${host} is ${state}: ${reason} "
    "(tracking id ${tracking_id}) ${execution_url}"
}
NAME = re.compile(r"^[a-z0-9_]{1,64}$")
# an st2 action ref: the pack, then a name that may hold dots (slack.chat.postMessage)
ACTION_REF = re.compile(r"^[a-z0-9_-]+\.[A-Za-z0-9_.-]+$")
PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
MAX_TOLD = 50
MAX_ERRORS = 5


class NotifierConfigError(ValueError):
    """A notifier's config is wrong; the message names the key."""


@dataclass(frozen=True)
class Notifier:
    name: str
    action: str
    transitions: Sequence[str]
    parameters: Mapping[str, Any]
    thread: str = ""  # where the action's result holds the thread id
    thread_from: str = ""  # whose thread ${thread_id} is (default: its own)

    @property
    def follows(self) -> str:
        return self.thread_from or self.name

    def render(self, fields: Mapping[str, str]) -> Dict[str, Any]:
        """The action's parameters for one message. A value that renders
        empty is left out, so the action's own default applies (the first
        message of a thread has no thread_ts)."""
        return _render(self.parameters, fields)


def notifiers(config: Mapping[str, Any]) -> List[Notifier]:
    """The configured notifiers (``notify_action`` first); NotifierConfigError if any is wrong."""
    found = []
    if config.get("notify_action"):
        first = {
            "name": FIRST,
            "action": config["notify_action"],
            "transitions": TRANSITIONS if config.get("notify_on") is None else config["notify_on"],
            "parameters": config.get("notify_parameters") or DEFAULT_PARAMETERS,
            "thread": config.get("notify_thread") or "",
        }
        found.append(_notifier(first, "notify_"))
    more = config.get("notifiers") or []
    if not isinstance(more, list):
        raise NotifierConfigError("config notifiers must be a list of notifiers")
    for i, spec in enumerate(more):
        if not isinstance(spec, Mapping):
            raise NotifierConfigError(f"config notifiers[{i}] must be an object")
        found.append(_notifier(spec, f"notifiers[{i}]."))
    names = [n.name for n in found]
    for n in found:
        if names.count(n.name) > 1:
            raise NotifierConfigError(f"config notifiers: two notifiers are named {n.name!r}")
        if n.thread_from and n.thread_from not in names:
            raise NotifierConfigError(
                f"config notifier {n.name!r}: thread_from {n.thread_from!r} names no notifier"
            )
    return found


def _notifier(spec: Mapping[str, Any], where: str) -> Notifier:
    def key(name: str) -> str:
        return f"config {'notify_' + name if where == 'notify_' else where + name}"

    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise NotifierConfigError(f"{key('name')} must be a name of [a-z0-9_], not {name!r}")
    action = spec.get("action")
    if not isinstance(action, str) or not ACTION_REF.match(action):
        raise NotifierConfigError(
            f"{key('action')} must be an action ref (pack.action), not {action!r}"
        )
    on = spec.get("transitions")
    where_on = "config notify_on" if where == "notify_" else f"config {where}transitions"
    if not isinstance(on, (list, tuple)) or not on:
        raise NotifierConfigError(f"{where_on} must list transitions: {', '.join(TRANSITIONS)}")
    unknown = [t for t in on if t not in TRANSITIONS]
    if unknown:
        raise NotifierConfigError(
            f"{where_on}: {unknown[0]!r} is not a transition ({', '.join(TRANSITIONS)})"
        )
    parameters = spec.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise NotifierConfigError(
            f"{key('parameters')} must be an object of the action's parameters"
        )
    for pname, value in parameters.items():
        _check_templates(value, f"{key('parameters')}.{pname}")
    thread = spec.get("thread") or ""
    if not isinstance(thread, str) or (thread and not PATH.match(thread)):
        raise NotifierConfigError(f"{key('thread')} must be a path in the result, e.g. result.ts")
    follows = spec.get("thread_from") or ""
    if not isinstance(follows, str):
        raise NotifierConfigError(f"{key('thread_from')} must name a notifier")
    return Notifier(name, action, tuple(on), dict(parameters), thread, follows)


def _check_templates(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_templates(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_templates(v, f"{where}[{i}]")
    elif isinstance(value, str):
        for match in Template.pattern.finditer(value):
            named = match.group("named") or match.group("braced")
            if match.group("invalid") is not None:
                raise NotifierConfigError(
                    f"{where}: a lone $ at {match.start('invalid')} (write $$ for a dollar, "
                    "${field} for a field)"
                )
            if named is not None and named not in FIELDS:
                raise NotifierConfigError(
                    f"{where}: ${{{named}}} is not a field ({', '.join(FIELDS)})"
                )


def _render(value: Any, fields: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).substitute(fields)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            rendered = _render(v, fields)
            if rendered != "":
                out[k] = rendered
        return out
    if isinstance(value, list):
        return [_render(v, fields) for v in value]
    return value


def fields(
    record: Mapping[str, Any],
    state: str,
    config: Mapping[str, Any],
    execution_id: str = "",
) -> Dict[str, str]:
    """What templates render for ``record`` entering ``state`` (every value a
    string, made inert: a reason can quote a target's output, and st2
    renders Jinja in the notifier's parameters)."""
    remediation = record.get("remediation") or {}
    approval = record.get("approval") or {}
    annotations = record.get("annotations") or {}
    execution = execution_id or remediation.get("execution_id") or ""
    host = record.get("instance", "")
    shown = {
        "tracking_id": record.get("tracking_id", ""),
        "alertname": record.get("alertname", ""),
        "severity": record.get("severity", ""),
        "host": host,
        "state": state,
        "reason": record.get("reason", ""),
        "outcome": remediation.get("failure") or remediation.get("detail") or "",
        "dry_run": "true" if remediation.get("dry_run") else "false",
        "workflow": remediation.get("workflow") or "",
        "execution_url": execution_url(config.get("st2_web_url") or "", execution),
        "board_url": board_url(config.get("board_url") or "", record.get("alertname", ""), host),
        "runbook_url": str(annotations.get("runbook_url") or ""),
        "summary": str(annotations.get("summary") or ""),
        "approve": approval.get("approve", ""),
        "deny": approval.get("deny", ""),
        "thread_id": "",
    }
    return {k: inert(str(v)) for k, v in shown.items()}


def execution_url(st2_web_url: str, execution_id: str) -> str:
    """An execution in the st2 Web UI ("" without ``st2_web_url`` or an id)."""
    if not st2_web_url or not execution_id:
        return ""
    return f"{st2_web_url.rstrip('/')}/#/history/{quote(str(execution_id), safe='')}/general"


def board_url(url: str, alertname: str, host: str) -> str:
    """The incident board filtered to this alert ("" without ``board_url``)."""
    if not url:
        return ""
    query = {"alertname": alertname}
    if host:
        query["host"] = host
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def due(found: Sequence[Notifier], record: Mapping[str, Any], state: str) -> List[Notifier]:
    """The notifiers to tell of ``record`` entering ``state``: those that
    take it, less those that told this incident of an escalation already, or
    of its resolve since their last escalation (a remediation let finish
    after the resolve can still fail: what it opened must be resolved too)."""
    told = (record.get("notifications") or {}).get("told") or []
    out = []
    for notifier in found:
        if state not in notifier.transitions:
            continue
        mine = [t["transition"] for t in told if t["notifier"] == notifier.name]
        if state in ESCALATIONS and any(t in ESCALATIONS for t in mine):
            continue
        if state == "resolved":
            last = max((i for i, t in enumerate(mine) if t in ESCALATIONS), default=-1)
            if "resolved" in mine[last + 1 :]:
                continue
        out.append(notifier)
    return out


def bookkeeping(record: Dict[str, Any]) -> Dict[str, Any]:
    """The record's ``notifications``: what was told, the threads kept, failures."""
    return record.setdefault(
        "notifications", {"told": [], "threads": {}, "failures": 0, "errors": []}
    )


def told(record: Dict[str, Any], notifier: str, state: str, at: str, execution_id: str) -> None:
    entries = bookkeeping(record)["told"]
    entries.append(
        {"notifier": notifier, "transition": state, "at": at, "execution_id": execution_id}
    )
    del entries[:-MAX_TOLD]


def failed(record: Dict[str, Any], what: str, error: str, at: str, writer: bool = True) -> None:
    """Count a failure to tell people (a notifier, the escalation alert, the
    silence). ``writer``: in the transition's writer (the sensor's metric
    counts these from the record; a failed poundcake.notify from st2)."""
    book = bookkeeping(record)
    book["failures"] = book.get("failures", 0) + 1
    if writer:
        book["writer_failures"] = book.get("writer_failures", 0) + 1
    book["errors"] = (book.get("errors", []) + [{"what": what, "error": error, "at": at}])[
        -MAX_ERRORS:
    ]


def thread_of(record: Mapping[str, Any], notifier: Notifier) -> str:
    return ((record.get("notifications") or {}).get("threads") or {}).get(notifier.follows, "")


def pick(result: Any, path: str) -> Optional[str]:
    """The value at ``path`` (``result.ts``) in an execution's result, as text."""
    value = result
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def refusals(parameters: Mapping[str, Any], declared: Mapping[str, Any], ref: str) -> List[str]:
    """Why st2 would refuse ``parameters`` for an action declaring ``declared``
    (its parameters merged over its runner's): an undeclared name, an
    immutable one, a required one missing."""
    out = []
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        out.append(
            f"{ref} declares no parameter {', '.join(unknown)} (it declares: "
            f"{', '.join(sorted(declared))})"
        )
    immutable = sorted(n for n in parameters if (declared.get(n) or {}).get("immutable"))
    if immutable:
        out.append(f"{ref}: {', '.join(immutable)} is immutable")
    missing = sorted(
        n
        for n, spec in declared.items()
        if (spec or {}).get("required") and "default" not in (spec or {}) and n not in parameters
    )
    if missing:
        out.append(f"{ref} requires {', '.join(missing)}")
    return out


def typed(parameters: Mapping[str, Any], declared: Mapping[str, Any]) -> Dict[str, Any]:
    """An object or list given for a string parameter is sent as JSON (core.http's body)."""
    out = dict(parameters)
    for name, value in parameters.items():
        kind = (declared.get(name) or {}).get("type")
        if kind == "string" and isinstance(value, (dict, list)):
            out[name] = json.dumps(value)
    return out
