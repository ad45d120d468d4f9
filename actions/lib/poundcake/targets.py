"""Validate the values that remediation commands act on.

Alert labels are untrusted: anyone who can write a Prometheus rule or push
to Alertmanager chooses them. A value reaches a command only after it has
matched one of the patterns below, whose alphabets hold no shell
metacharacter (no space, quote, ``;``, ``|``, ``&``, ``$``, backtick,
parenthesis, redirection or newline), and after the pack config's
allow-lists. So a workflow can put a validated value into a ``core.remote``
command without any quoting being able to go wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from poundcake.scope import St2Host, TargetRejected, host_in_scope, unit_in_scope

# Prometheus' instance label is usually host:port (the port of the exporter).
INSTANCE = re.compile(r"^(?P<host>[A-Za-z0-9.-]{1,253})(?::(?P<port>[0-9]{1,5}))?\Z")
PATH = re.compile(r"^/[A-Za-z0-9_./-]{0,4095}\Z")  # linear: no nested repetition
SIZE = re.compile(r"^[0-9]{1,6}[KMG]\Z")


@dataclass(frozen=True)
class CleanupTarget:
    path: str
    older_than_days: int


def port_from_instance(instance: str) -> Optional[int]:
    """The port of a validated ``host:port`` instance label, or None."""
    match = INSTANCE.match(instance)
    port = int(match.group("port")) if match and match.group("port") else None
    if port is not None and not 1 <= port <= 65535:
        raise TargetRejected(f"port {port} of instance {instance!r} is out of range")
    return port


def absolute_path(value: Any, what: str = "path") -> str:
    """An absolute path without ``..`` or shell metacharacters."""
    if not isinstance(value, str) or not PATH.match(value) or "/../" in value + "/":
        raise TargetRejected(f"{what} {value!r} must be an absolute path of plain names")
    if value != "/" and value.endswith("/"):
        value = value.rstrip("/")
    return value


def cleanup_targets(config_value: Any) -> List[CleanupTarget]:
    """The config's ``disk_cleanup_paths``: where old files may be deleted."""
    targets = []
    for i, item in enumerate(config_value or []):
        if not isinstance(item, Mapping):
            raise TargetRejected(f"config disk_cleanup_paths[{i}] must be an object")
        path = absolute_path(item.get("path"), f"config disk_cleanup_paths[{i}].path")
        if path in ("/", "/etc", "/usr", "/bin", "/sbin", "/lib", "/boot", "/var", "/home"):
            raise TargetRejected(f"config disk_cleanup_paths[{i}].path {path} is too broad")
        days = item.get("older_than_days", 7)
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise TargetRejected(f"config disk_cleanup_paths[{i}].older_than_days must be >= 1")
        targets.append(CleanupTarget(path, days))
    return targets


def restart_allowed(labels: Mapping[str, str], severities: Sequence[str]) -> bool:
    """A restart after a resource alert needs a named service and a listed severity."""
    return bool(labels.get("service")) and labels.get("severity", "") in severities


def validate(
    kind: str, host: Any, labels: Any, config: Mapping[str, Any], st2_host: Any = None
) -> Dict[str, Any]:
    """Validate what a remediation of ``kind`` will touch; return the safe values.

    ``kind`` is one of ``service``, ``process``, ``disk`` and ``host``. The
    host and unit go through :mod:`poundcake.scope` again (the door checked
    them already; a workflow run by hand gets the same answer). Raises
    :class:`TargetRejected` naming the offending value.
    """
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise TargetRejected("alert labels must be an object of strings")
    here = st2_host if st2_host is not None else St2Host.here()
    target: Dict[str, Any] = {"host": host_in_scope(host, config, here)}
    allowed_services = config.get("allowed_services") or ()
    if kind == "service":
        target["service"] = unit_in_scope(labels.get("service"), allowed_services)
    elif kind == "process":
        severities = config.get("restart_severities") or ("critical",)
        target["restart"] = restart_allowed(labels, severities)
        service: Optional[str] = labels.get("service")
        target["service"] = unit_in_scope(service, allowed_services) if service else ""
    elif kind == "disk":
        target["mountpoint"] = absolute_path(labels.get("mountpoint", "/"), "mountpoint")
        size = config.get("journal_vacuum_size", "500M")
        if not isinstance(size, str) or not SIZE.match(size):
            raise TargetRejected(f"config journal_vacuum_size {size!r} must look like 500M")
        target["journal_vacuum_size"] = size
        target["cleanup"] = [
            {"path": t.path, "older_than_days": t.older_than_days}
            for t in cleanup_targets(config.get("disk_cleanup_paths"))
        ]
        bound = config.get("diagnosis_timeout_seconds", 20)
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            raise TargetRejected(f"config diagnosis_timeout_seconds {bound!r} must be >= 1")
        target["diagnosis_timeout"] = bound
    elif kind == "host":
        instance = labels.get("instance", host)
        target["port"] = port_from_instance(instance) if INSTANCE.match(instance) else None
    else:
        raise TargetRejected(f"unknown target kind {kind!r}")
    return target
