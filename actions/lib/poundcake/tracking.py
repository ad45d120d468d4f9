"""Tracking ids: one per delivery, one per alert incident.

An incident is one firing of one alert: Alertmanager keeps the fingerprint
(a hash of the label set) across re-fires, and startsAt changes when the
alert fires again. ``<fingerprint>-<startsAt>`` therefore names an incident
and stays the same across every re-send of it. Ids are built only from
validated parts (hex fingerprint, normalised timestamp), so they are safe as
st2 trace tags, datastore key suffixes and CLI arguments.
"""

from __future__ import annotations

import re
import uuid

from poundcake.alertmanager import Alert

REQUEST_ID_PREFIX = "req-"
_INCIDENT_ID = re.compile(r"^[0-9a-f]{8,64}-\d{8}T\d{6}(?:\.\d{1,9})?Z$")
_REQUEST_ID = re.compile(r"^req-[0-9a-f]{32}$")


def new_request_id() -> str:
    """A fresh id for one webhook delivery (also its trace tag)."""
    return REQUEST_ID_PREFIX + uuid.uuid4().hex


def incident_id(alert: Alert) -> str:
    """The alert's incident id, e.g. ``37bb06284ad968e0-20261123T083600.672713243Z``."""
    compact = alert.starts_at.replace("-", "").replace(":", "")
    return f"{alert.fingerprint}-{compact}"


def is_incident_id(value: str) -> bool:
    return bool(_INCIDENT_ID.match(value))


def is_request_id(value: str) -> bool:
    return bool(_REQUEST_ID.match(value))
