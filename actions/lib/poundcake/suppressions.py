"""Maintenance windows: label matchers and a time range.

Matchers work like Alertmanager's: ``=``, ``!=``, ``=~`` and ``!~`` (regexes
match the whole value), plus ``exists`` and ``not_exists``. A suppressed
alert is recorded, with the window that suppressed it, but not remediated.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from poundcake.state_store import SUPPRESSION, StateStore, iso

OPERATORS = ("=", "!=", "=~", "!~", "exists", "not_exists")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


class SuppressionError(ValueError):
    """A suppression request is invalid; the message says which part."""


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.name in labels
        actual = labels.get(self.name, "")
        if self.op == "exists":
            return present
        if self.op == "not_exists":
            return not present
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        full = re.fullmatch(self.value, actual) is not None
        return full if self.op == "=~" else not full


@dataclass(frozen=True)
class Suppression:
    id: str
    matchers: List[Matcher]
    starts_at: float
    ends_at: float
    reason: str
    author: str
    created_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str], now: float) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def view(self, now: float) -> Dict[str, Any]:
        """What the suppression actions show: RFC 3339 times, and the id under
        the name ``delete_suppression`` takes it by (``suppression_id``)."""
        shown = self.to_dict()
        shown["suppression_id"] = shown.pop("id")
        for key in ("starts_at", "ends_at", "created_at"):
            shown[key] = iso(shown[key])
        shown["active"] = self.active(now)
        return shown

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Suppression:
        return cls(
            id=doc["id"],
            matchers=[Matcher(**m) for m in doc["matchers"]],
            starts_at=float(doc["starts_at"]),
            ends_at=float(doc["ends_at"]),
            reason=doc["reason"],
            author=doc["author"],
            created_at=float(doc["created_at"]),
        )


def parse_matchers(raw: Any) -> List[Matcher]:
    """Matchers from ``[{"name", "op", "value"}]``; at least one is required."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise SuppressionError("matchers must be a non-empty list of {name, op, value}")
    matchers = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise SuppressionError(f"matchers[{i}] must be an object")
        name, op, value = item.get("name"), item.get("op", "="), item.get("value", "")
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise SuppressionError(f"matchers[{i}].name {name!r} is not a label name")
        if op not in OPERATORS:
            raise SuppressionError(f"matchers[{i}].op {op!r} must be one of {', '.join(OPERATORS)}")
        if not isinstance(value, str):
            raise SuppressionError(f"matchers[{i}].value must be a string")
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise SuppressionError(f"matchers[{i}].value is not a valid regex: {exc}") from None
        matchers.append(Matcher(name, op, value if op not in ("exists", "not_exists") else ""))
    return matchers


def new_suppression(
    matchers: Any,
    starts_at: float,
    ends_at: float,
    reason: str,
    author: str,
    now: float,
) -> Suppression:
    if not reason or not author:
        raise SuppressionError("reason and author are required")
    if ends_at <= starts_at:
        raise SuppressionError("ends_at must be after starts_at")
    if ends_at <= now:
        raise SuppressionError("the window has already ended")
    return Suppression(
        id=uuid.uuid4().hex[:16],
        matchers=parse_matchers(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        author=author,
        created_at=now,
    )


def first_match(
    suppressions: Sequence[Suppression], labels: Mapping[str, str], now: float
) -> Optional[Suppression]:
    for suppression in suppressions:
        if suppression.matches(labels, now):
            return suppression
    return None


def stored_windows(store: StateStore) -> List[Suppression]:
    """Every maintenance window in the datastore (expired ones too; matching checks time)."""
    return [Suppression.from_dict(d) for d in store.records(SUPPRESSION)]
