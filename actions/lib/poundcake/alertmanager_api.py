"""What PoundCake asks of and puts in Alertmanager, through its API v2.

- **The escalation alert.** An incident that escalates (``notifiers.ESCALATIONS``)
  posts ``PoundCakeEscalation`` with the original alert's labels (less
  ``auto_remediate``: PoundCake must never take its own page) plus
  ``poundcake_state``, so the team's routes page a human. An alert posted
  without ``endsAt`` resolves itself after Alertmanager's resolve_timeout
  (5 min), so it carries an ``endsAt`` as far as the record may live
  (``unresolved_ttl_seconds``), and the incident's resolve ends it.
  Alertmanager forgets alerts when it restarts: the sensor re-posts the
  open ones (:mod:`poundcake.escalations`). ``poundcake_tracking_id`` makes
  each incident's its own alert: the end of one never ends another's.
- **The silence while PoundCake works.** Matching the alert's labels,
  bounded by ``silence_max_seconds``: if PoundCake dies the bound still
  ends it. A silence mutes every receiver, the pack's webhook too, so while
  it holds one PoundCake reads the alert's state here (``firing``).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional

import requests

from poundcake.sizes import CUT_MARK
from poundcake.state_store import epoch

ESCALATION = "PoundCakeEscalation"
# never copied into the escalation: auto_remediate would send it to PoundCake
# itself, alertname is the escalation's own
DROPPED = ("auto_remediate", "alertname")
# a label value inert() split ("{{" to "{ {"): the record no longer holds
# the alert's own value, so a silence of it would match another alert or none
_SPLIT = re.compile(r"\{ \{|\} \}|\{ %|% \}|\{ #|# \}|< %|% >")


class AlertmanagerError(ValueError):
    """Alertmanager refused or could not be reached; the message says which.
    ``retryable``: unreachable or a 5xx (Alertmanager's own retry rule), not
    a refusal that would be the same next time."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Alertmanager:
    def __init__(self, url: str, timeout: float = 5) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = requests.request(
                method, f"{self.url}/api/v2{path}", timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise AlertmanagerError(f"Alertmanager {method} {path} failed: {exc}", True) from exc
        if response.status_code >= 400:
            raise AlertmanagerError(
                f"Alertmanager {method} {path}: HTTP {response.status_code} {response.text[:300]}",
                response.status_code >= 500,
            )
        return response

    def post_alerts(self, alerts: List[Dict[str, Any]]) -> None:
        self._call("POST", "/alerts", json=alerts)

    def create_silence(self, silence: Dict[str, Any]) -> str:
        """The new silence's id."""
        body = self._call("POST", "/silences", json=silence).json()
        return str(body["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        """Expire a silence (idempotent; one Alertmanager already forgot is not an error)."""
        try:
            self._call("DELETE", f"/silence/{silence_id}")
        except AlertmanagerError as exc:
            said = str(exc)  # 0.25: HTTP 500 "... already expired"; later: 404
            if not any(w in said for w in ("not found", "already expired", "HTTP 404")):
                raise

    def firing(self, alertname: str, fingerprint: str) -> bool:
        """Whether Alertmanager still holds the alert unresolved (silenced or not)."""
        matcher = f'alertname="{_quoted(alertname)}"'
        found = self._call("GET", "/alerts", params={"filter": matcher}).json()
        return any(a.get("fingerprint") == fingerprint for a in found or [])


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escalation_alert(
    record: Mapping[str, Any],
    state: str,
    fields: Mapping[str, str],
    starts_at: str,
    ends_at: str,
) -> Dict[str, Any]:
    """PoundCakeEscalation for ``record`` entering ``state``."""
    labels = {k: v for k, v in (record.get("labels") or {}).items() if k not in DROPPED}
    labels.update(
        alertname=ESCALATION,
        poundcake_alertname=record.get("alertname", ""),
        poundcake_state=state,
        poundcake_tracking_id=record.get("tracking_id", ""),
    )
    tried = fields.get("workflow") or "nothing was run"
    annotations = {
        "summary": f"PoundCake could not fix {fields['alertname']} on {fields['host']}: {state}",
        "description": f"{fields['reason']} (tried: {tried})",
        "tracking_id": fields["tracking_id"],
        "get_alert": f"st2 run poundcake.get_alert fingerprint={record.get('fingerprint', '')}",
    }
    for key in ("execution_url", "board_url", "runbook_url"):
        if fields.get(key):
            annotations[key] = fields[key]
    alert = {"labels": labels, "annotations": annotations, "startsAt": starts_at, "endsAt": ends_at}
    if fields.get("execution_url"):
        alert["generatorURL"] = fields["execution_url"]
    return alert


def escalation_book(alert: Mapping[str, Any], url: str) -> Dict[str, Any]:
    """What the record keeps of a posted escalation (``notifications.escalation``)."""
    return {
        "alertmanager_url": url,
        "labels": alert["labels"],
        "annotations": alert["annotations"],
        "starts_at": alert["startsAt"],
        "ends_at": alert["endsAt"],
    }


def escalation_again(book: Mapping[str, Any], ends_at: Optional[str] = None) -> Dict[str, Any]:
    """The escalation the record keeps, to post again: as it was posted, or
    ended at ``ends_at``."""
    return {
        "labels": book["labels"],
        "annotations": book["annotations"],
        "startsAt": book["starts_at"],
        "endsAt": ends_at or book["ends_at"],
    }


def silence_for(
    record: Mapping[str, Any], starts_at: str, ends_at: str, execution_url: str = ""
) -> Dict[str, Any]:
    """A silence of exactly the alert's labels while PoundCake remediates it
    (an empty value would match alerts without the label: Alertmanager's
    alerts have none, so none is matched on)."""
    matchers = [
        {"name": k, "value": v, "isRegex": False, "isEqual": True}
        for k, v in sorted((record.get("labels") or {}).items())
        if v != ""
    ]
    workflow = (record.get("remediation") or {}).get("workflow") or "a remediation"
    comment = f"PoundCake is remediating {record.get('tracking_id', '')} with {workflow}"
    return {
        "matchers": matchers,
        "startsAt": starts_at,
        "endsAt": ends_at,
        "createdBy": "poundcake",
        "comment": comment + (f" ({execution_url})" if execution_url else ""),
    }


def unsilenceable(record: Mapping[str, Any]) -> Optional[str]:
    """Why no silence can match exactly this alert (None: one can)."""
    labels = record.get("labels") or {}
    if "alertname" not in labels:
        return "the record holds no alertname label"
    for name, value in labels.items():
        if CUT_MARK in str(value) or _SPLIT.search(str(value)):
            return f"label {name} is not the alert's own value (cut or made inert)"
    return None


def held(record: Mapping[str, Any], now: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """The silence PoundCake holds for the incident, if any: not expired by
    PoundCake, nor (given ``now``) past its bound, when Alertmanager ended it."""
    silence = record.get("silence")
    if not isinstance(silence, dict) or not silence.get("id") or silence.get("expired_at"):
        return None
    if now is not None and silence.get("ends_at") and epoch(silence["ends_at"]) <= now:
        return None
    return silence
