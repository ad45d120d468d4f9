"""Tracking ids: one per delivery, one per alert incident.

An incident is one firing of one alert: Alertmanager keeps the fingerprint
(a hash of the label set) across re-fires, and startsAt changes when the
alert fires again. ``<fingerprint>-<startsAt>`` therefore names an incident
and stays the same across every re-send of it. Ids are built only from
validated parts (hex fingerprint, normalised timestamp), so they are safe as
st2 trace tags, datastore key suffixes and CLI arguments.
"""

from __future__ import annotations

import os
import re
import time
from typing import Optional

from poundcake.alertmanager import Alert

REQUEST_ID_PREFIX = "req-"
_INCIDENT_ID = re.compile(r"^[0-9a-f]{8,64}-\d{8}T\d{6}(?:\.\d{1,9})?Z\Z")
_REQUEST_ID = re.compile(r"^req-[0-9a-f]{32}\Z")


def new_request_id(now: Optional[float] = None) -> str:
    """A fresh id for one webhook delivery (also its trace tag).

    Laid out as a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the
    version nibble 7, then random bits. ``get_request`` reads the time back
    (:func:`request_time`) to find the delivery in one hour of the index.
    """
    ms = int((time.time() if now is None else now) * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = ms << 80 | 7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | (rand & (1 << 62) - 1)
    return f"{REQUEST_ID_PREFIX}{value:032x}"


def request_time(request_id: str) -> Optional[float]:
    """When the sensor took the delivery, for ids it made (None for the
    random ids of earlier versions)."""
    digits = request_id[len(REQUEST_ID_PREFIX) :]
    if not is_request_id(request_id) or digits[12] != "7" or digits[16] not in "89ab":
        return None
    return int(digits[:12], 16) / 1000


def incident_id(alert: Alert) -> str:
    """The alert's incident id, e.g. ``37bb06284ad968e0-20261123T083600.672713243Z``."""
    compact = alert.starts_at.replace("-", "").replace(":", "")
    return f"{alert.fingerprint}-{compact}"


def is_incident_id(value: str) -> bool:
    return bool(_INCIDENT_ID.match(value))


def is_request_id(value: str) -> bool:
    return bool(_REQUEST_ID.match(value))
