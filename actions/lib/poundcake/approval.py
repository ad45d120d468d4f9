"""Approval by a human, through st2's own inquiries (``core.ask``).

``approval_required`` names the alertnames, severities or workflows whose
remediation waits for an answer. ``process_alert`` asks *before*
``remediate`` is requested, so a paused workflow holds no concurrency slot,
and checks scope, rate and the kill switch again after the answer.

st2 expires an inquiry only through st2garbagecollector with
``purge_inquiries``, off by default, so the pack enforces
``approval_timeout_seconds`` itself: when the inquiry appears, rule
``announce_approval`` schedules ``expire_approval`` as a delayed st2
execution, which answers ``approved: false`` if nobody did.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, Mapping, Optional

ROUTE_PREFIX = "poundcake."
TRACKING_ID = re.compile(r"^[0-9a-f]{8,64}-[0-9]{8}T[0-9]{6}(\.[0-9]{1,9})?Z\Z")
SCHEMA = {
    "title": "PoundCake remediation approval",
    "type": "object",
    "properties": {
        "approved": {
            "type": "boolean",
            "required": True,
            "description": "Run the remediation? (true: run it, false: do not)",
        },
        "comment": {"type": "string", "description": "Why (kept in the incident record)."},
    },
}
DEFAULT_TIMEOUT = 1800


def required(
    config: Mapping[str, Any], alertname: str, severity: str, workflow: str
) -> Optional[str]:
    """Why this remediation needs approval (which setting matched), or None."""
    rules = config.get("approval_required") or {}
    if not isinstance(rules, Mapping):
        raise ValueError("config approval_required must be an object")
    for field, value in (
        ("alertnames", alertname),
        ("severities", severity),
        ("workflows", workflow),
    ):
        listed = rules.get(field) or []
        if value and value in listed:
            return f"approval_required.{field} lists {value!r}"
    return None


def timeout_seconds(config: Mapping[str, Any]) -> int:
    value = config.get("approval_timeout_seconds", DEFAULT_TIMEOUT)
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config approval_timeout_seconds must be >= 1, not {value!r}")
    return value


def ask(tracking_id: str, config: Mapping[str, Any], why: str) -> Dict[str, Any]:
    """What ``process_alert`` passes to ``core.ask`` (and keeps in its record)."""
    timeout = timeout_seconds(config)
    return {
        "route": ROUTE_PREFIX + tracking_id,
        "schema": SCHEMA,
        # st2's own expiry (only with purge_inquiries) must never come first
        "ttl": math.ceil(timeout / 60) + 1,
        "timeout_seconds": timeout,
        "why": why,
    }


def tracking_id_of(route: str) -> str:
    """The incident an inquiry's route names (``poundcake.<tracking id>``)."""
    tracking_id = route[len(ROUTE_PREFIX) :] if route.startswith(ROUTE_PREFIX) else ""
    if not TRACKING_ID.match(tracking_id):
        raise ValueError(f"inquiry route {route!r} does not name a PoundCake incident")
    return tracking_id


def commands(inquiry_id: str) -> Dict[str, str]:
    """The exact commands a human runs to answer."""
    yes = json.dumps({"approved": True})
    no = json.dumps({"approved": False, "comment": "why not"})
    return {
        "approve": f"st2 inquiry respond {inquiry_id} -r '{yes}'",
        "deny": f"st2 inquiry respond {inquiry_id} -r '{no}'",
    }


def verdict(response: Any) -> Dict[str, Any]:
    """``{approved, comment}`` from a core.ask result's ``response`` (absent: not approved)."""
    if not isinstance(response, Mapping):
        return {"approved": False, "comment": "no answer (the inquiry ended without a response)"}
    return {
        "approved": response.get("approved") is True,
        "comment": str(response.get("comment") or ""),
    }
