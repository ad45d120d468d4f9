"""Parse and validate Alertmanager webhook (v4) messages.

Everything in a delivery is untrusted. This module turns the raw JSON into
immutable records whose fields have known types and whose text holds no
template expression (:mod:`poundcake.inert`), and reports the first
offending field by its JSON path so that a sender can fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Mapping, Match, Optional, Tuple

from poundcake.inert import inert

ALERT_STATUSES = ("firing", "resolved")
# Alertmanager renders a fingerprint as 16 lowercase hex digits; allow some
# slack for other senders but keep it to hex so it is safe in ids and keys.
_FINGERPRINT = re.compile(r"^[0-9a-f]{8,64}\Z")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"([Zz]|[+-]\d{2}:\d{2})\Z"
)
# Go's zero time: Alertmanager sends it as endsAt when an alert has no end.
_ZERO_TIME_YEAR = "0001"


class PayloadError(ValueError):
    """A delivery is not a valid Alertmanager v4 message.

    ``path`` names the offending field (``alerts[3].labels``) so the HTTP
    answer can point at it.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"invalid payload: {path} {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Alert:
    status: str
    labels: Dict[str, str]
    annotations: Dict[str, str]
    starts_at: str
    ends_at: Optional[str]
    generator_url: str
    fingerprint: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class Delivery:
    receiver: str
    status: str
    alerts: Tuple[Alert, ...]
    group_labels: Dict[str, str]
    common_labels: Dict[str, str]
    common_annotations: Dict[str, str]
    external_url: str
    group_key: str
    truncated_alerts: int


def parse_delivery(doc: Any) -> Delivery:
    """Validate a decoded webhook body and return it as a :class:`Delivery`."""
    if not isinstance(doc, dict):
        raise PayloadError("$", "must be a JSON object")
    version = doc.get("version")
    if version != "4":
        raise PayloadError("version", f'must be "4" (Alertmanager webhook v4), got {version!r}')
    raw_alerts = doc.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("alerts", "must be a non-empty array")
    truncated = doc.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError("truncatedAlerts", "must be a non-negative integer")
    alerts = tuple(_alert(a, f"alerts[{i}]") for i, a in enumerate(raw_alerts))
    return Delivery(
        receiver=_string(doc, "receiver", "receiver"),
        status=_status(doc, "status"),
        alerts=alerts,
        group_labels=_string_map(doc.get("groupLabels", {}), "groupLabels"),
        common_labels=_string_map(doc.get("commonLabels", {}), "commonLabels"),
        common_annotations=_string_map(doc.get("commonAnnotations", {}), "commonAnnotations"),
        external_url=_string(doc, "externalURL", "externalURL", default=""),
        group_key=_string(doc, "groupKey", "groupKey"),
        truncated_alerts=truncated,
    )


def _alert(raw: Any, path: str) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(path, "must be an object")
    labels = _string_map(raw.get("labels"), f"{path}.labels")
    if not labels.get("alertname"):
        raise PayloadError(f"{path}.labels.alertname", "is required")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise PayloadError(
            f"{path}.fingerprint", "must be a hex string of 8 to 64 lowercase digits"
        )
    ends_at = raw.get("endsAt")
    return Alert(
        status=_status(raw, path),
        labels=labels,
        annotations=_string_map(raw.get("annotations", {}), f"{path}.annotations"),
        starts_at=parse_timestamp(raw.get("startsAt"), f"{path}.startsAt"),
        ends_at=None if ends_at in (None, "") else _optional_time(ends_at, f"{path}.endsAt"),
        generator_url=_string(raw, "generatorURL", f"{path}.generatorURL", default=""),
        fingerprint=fingerprint,
    )


def parse_timestamp(value: Any, path: str) -> str:
    """Return an RFC 3339 timestamp normalised to UTC with its full precision.

    Alertmanager writes nanoseconds, which ``datetime`` cannot hold, and the
    incident id depends on the exact instant, so this keeps every digit.
    """
    normalised = _normalise_time(value) if isinstance(value, str) else None
    if normalised is None:
        raise PayloadError(path, "must be an RFC 3339 timestamp such as 2026-01-02T03:04:05Z")
    return normalised


# The alerts of one group mostly share startsAt/endsAt, so parsing is cached.
@lru_cache(maxsize=4096)
def _normalise_time(value: str) -> Optional[str]:
    match = _RFC3339.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone not in ("Z", "z"):
        return _shift_to_utc(match)
    frac = f".{fraction}" if fraction and fraction.strip("0") else ""
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}{frac}Z"


def _shift_to_utc(match: Match[str]) -> str:
    from datetime import datetime, timedelta, timezone

    year, month, day, hour, minute, second, fraction, zone = match.groups()
    sign = 1 if zone[0] == "+" else -1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        utc = (local - sign * offset).replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None
    frac = f".{fraction}" if fraction and fraction.strip("0") else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def _optional_time(value: Any, path: str) -> Optional[str]:
    stamp = parse_timestamp(value, path)
    return None if stamp.startswith(_ZERO_TIME_YEAR) else stamp


def _status(doc: Mapping[str, Any], path: str) -> str:
    status = doc.get("status")
    if status not in ALERT_STATUSES:
        field = "status" if path == "status" else f"{path}.status"
        raise PayloadError(field, f'must be "firing" or "resolved", got {status!r}')
    return status


def _string(doc: Mapping[str, Any], key: str, path: str, default: Optional[str] = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise PayloadError(path, "must be a string")
    return inert(value)


def _string_map(value: Any, path: str) -> Dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(path, "must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{path}.{key}", "must be a string")
    return {inert(k): inert(v) for k, v in value.items()}
