"""The lifecycle of one alert incident, as pure functions over its record.

    received → remediating → remediated | diagnosed | nothing_to_do | failed → resolved
    received → awaiting_approval → remediating | not_approved
    received → refused (scope, kill switch) | rate_limited | unrouted (no allowed remediation)
    received → suppressed | recorded (not opted in) | skipped (breaker open)

A record is a JSON-able dict stored at ``poundcake.incident.<tracking_id>``:
the one stored truth of the incident, resolve included (what readers are
shown is what it stores). Every change appends to ``history`` with the time
and why; ``reason`` says why it is in its current state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from poundcake.state_store import iso
from poundcake.suppressions import Suppression, first_match

ACTIVE = "remediating"
AWAITING = "awaiting_approval"
# What a remediation that ran ends in (its workflow may say diagnosed or
# nothing_to_do instead of remediated); not_approved is a human's final word,
# unrouted the config's (no allowed remediation for the alert).
FINAL_REMEDIATION = (
    "remediated",
    "diagnosed",
    "nothing_to_do",
    "failed",
    "not_approved",
    "not_cleared",
    "unrouted",
)
SUCCESS_STATES = ("remediated", "diagnosed", "nothing_to_do")
MAX_HISTORY = 50
# Every state a record can be in, by what it asks of people (the board's
# order, and what the sensor's view keeps first): PoundCake must act or is
# acting, most urgent first; it acted; it only took note.
MUST_ACT = (
    "awaiting_approval",
    "remediating",
    "failed",
    "not_cleared",
    "refused",
    "rate_limited",
    "not_approved",
    "skipped",
    "unrouted",
    "received",
)
ACTED = ("remediated", "diagnosed", "nothing_to_do", "canceled")
NOTED = ("recorded", "suppressed", "resolved")
STATES = MUST_ACT + ACTED + NOTED
GROUPS = ("must act", "acted", "noted")
MAX_REQUEST_IDS = 20
ANNOTATIONS = ("summary", "runbook_url")


@dataclass(frozen=True)
class Decision:
    remediate: bool
    state: str
    note: str
    suppressed_by: Optional[Suppression] = None


def observe(
    record: Optional[Dict[str, Any]], alert: Mapping[str, Any], now: float
) -> Dict[str, Any]:
    """The record after one more delivery of the alert (created on first sight)."""
    if record is None:
        record = {
            "tracking_id": alert["tracking_id"],
            "fingerprint": alert["fingerprint"],
            "alertname": alert.get("alertname", ""),
            "severity": alert.get("severity", ""),
            "instance": alert.get("instance", ""),
            "labels": dict(alert.get("labels", {})),
            "starts_at": alert.get("starts_at", ""),
            "state": "received",
            "created_at": iso(now),
            "request_ids": [],
            "executions": [],
            "history": [],
            "suppressed_by": None,
            "remediation": None,
        }
        annotations = alert.get("annotations") or {}
        shown = {k: annotations[k] for k in ANNOTATIONS if k in annotations}
        if shown:  # what messages about the incident quote
            record["annotations"] = shown
        log(record, "received", now, "first delivery")
    request_id = alert.get("request_id")
    if request_id and request_id not in record["request_ids"]:
        record["request_ids"] = (record["request_ids"] + [request_id])[-MAX_REQUEST_IDS:]
    record["updated_at"] = iso(now)
    return record


def decide(
    record: Dict[str, Any],
    requested: bool,
    suppressions: Sequence[Suppression],
    breaker_open: bool,
    now: float,
    re_remediate_after: float = 0,
) -> Decision:
    """Whether this delivery may start a remediation, and the state to record."""
    state = record["state"]
    if state == "resolved":
        return Decision(False, "resolved", "resolved before a remediation started")
    if state == ACTIVE:
        return Decision(False, state, "duplicate: a remediation is already running")
    if state == AWAITING:
        return Decision(False, state, "duplicate: waiting for approval already")
    if state in FINAL_REMEDIATION:
        finished = (record.get("remediation") or {}).get("finished_at_ts", now)
        if not (re_remediate_after and now - finished >= re_remediate_after):
            return Decision(False, state, f"duplicate: already {state}")
    match = first_match(suppressions, record["labels"], now)
    if match is not None:
        note = f"suppressed by {match.id} ({match.author}: {match.reason})"
        return Decision(False, "suppressed", note, match)
    if not requested:
        return Decision(False, "recorded", "no remediation rule for this alert (not opted in)")
    if breaker_open:
        return Decision(False, "skipped", f"circuit breaker open for {record['alertname']}")
    if state in FINAL_REMEDIATION:
        return Decision(True, ACTIVE, "still firing after re_remediate_after_seconds: again")
    return Decision(True, ACTIVE, "remediation started")


def apply(
    record: Dict[str, Any],
    decision: Decision,
    execution_id: str,
    now: float,
    dry_run: bool = False,
    workflow: str = "",
) -> Dict[str, Any]:
    """Record ``decision`` (duplicates too: the history says why nothing ran);
    ``workflow`` is the remediation chosen, when one starts."""
    note = decision.note + (
        " (dry run: nothing will be changed)" if decision.remediate and dry_run else ""
    )
    log(record, decision.state, now, note)
    record["state"] = decision.state
    record["reason"] = decision.note
    if decision.suppressed_by is not None:
        record["suppressed_by"] = suppressed_by(decision.suppressed_by)
    if decision.remediate:
        record["remediation"] = {
            "execution_id": execution_id,
            "started_at": iso(now),
            "started_at_ts": now,
            "dry_run": dry_run,
            "workflow": workflow,
        }
        record["executions"].append(
            {"id": execution_id, "started_at": iso(now), "status": "running"}
        )
    return record


def finish(
    record: Dict[str, Any],
    outcome: str,
    workflow: str,
    now: float,
    failure: str = "",
    escalated: bool = False,
    state: str = "",
    detail: str = "",
) -> Dict[str, Any]:
    """Record how an incident's remediation ended.

    ``outcome`` is ``succeeded`` (``state`` then says remediated, diagnosed or
    nothing_to_do, as the workflow found; remediated if it said nothing) or
    ``failed``, or the envelope's ``refused``, ``rate_limited`` and
    ``not_approved`` when nothing ran. ``detail`` is the workflow's own
    finding. The note says only what happened, and whether an escalation
    really ran.
    """
    was_resolved = record["state"] == "resolved"
    if outcome == "succeeded":
        state = state if state in SUCCESS_STATES else "remediated"
    else:
        state = outcome
    remediation = record.get("remediation") or {}
    if outcome in ("succeeded", "failed"):
        remediation.update(
            workflow=workflow,
            outcome=outcome,
            finished_at=iso(now),
            finished_at_ts=now,
            duration_seconds=round(now - remediation.get("started_at_ts", now), 3),
        )
        if detail:
            remediation["detail"] = detail
        if state == "failed":
            remediation.update(failure=failure, escalated=escalated)
        record["remediation"] = remediation
        for execution in record["executions"]:
            if execution["id"] == remediation.get("execution_id"):
                execution.update(status=outcome, finished_at=iso(now), workflow=workflow)
    note = _finish_note(outcome, state, workflow, failure or detail, escalated)
    if remediation.get("dry_run") and outcome in ("succeeded", "failed"):
        note += " (dry run: nothing was changed)"
    log(record, state, now, note)
    record["state"] = state
    record["reason"] = note
    if was_resolved:
        log(record, "resolved", now, "the alert had resolved during the remediation")
        record["state"] = "resolved"
    return record


def _finish_note(outcome: str, state: str, workflow: str, text: str, escalated: bool) -> str:
    if outcome == "succeeded":
        return f"{workflow} {state}" + (f": {text}" if text else "")
    if outcome == "failed":
        what = f"{workflow} failed" if workflow else "no remediation ran"
    elif outcome == "not_cleared":
        what = "not cleared"
    elif outcome == "unrouted":
        what = "no remediation ran"
    else:
        what = f"{state}, nothing was run"
    if text:
        what += f": {text}"
    return what + (" (escalated)" if escalated else " (the escalation did not run or failed)")


def suppressed_by(window: Suppression) -> Dict[str, Any]:
    """The maintenance window a record names, as stored."""
    return {"suppression_id": window.id, "author": window.author, "reason": window.reason}


def view(record: Dict[str, Any]) -> Dict[str, Any]:
    """What an operator sees: the record as stored, less the epoch ``*_ts``
    fields kept for computing."""
    shown = dict(record)
    if shown.get("remediation"):
        shown["remediation"] = {
            k: v for k, v in shown["remediation"].items() if not k.endswith("_ts")
        }
    return shown


def attention(doc: Mapping[str, Any]) -> Tuple[int, int]:
    """``(group, rank)`` of an incident as shown: group 0 (``MUST_ACT``, ranked
    in that order; a state this version does not know ranks last there), 1
    (``ACTED``, and a resolved incident that had a remediation) or 2 (noted
    only); ``rank`` is 0 outside group 0."""
    state = doc.get("state", "")
    if state in ACTED or (state == "resolved" and doc.get("remediation")):
        return 1, 0
    if state in NOTED:
        return 2, 0
    return 0, MUST_ACT.index(state) if state in MUST_ACT else len(MUST_ACT)


def transitions(record: Dict[str, Any], since: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The history entries of the states a write moved ``record`` into, in order.

    ``since`` is the record's last history entry before the write (None for
    a record the write created): of the entries after it, those whose state
    differs from the entry before them. A duplicate delivery, a note or a
    refusal recorded again by finish_remediation moves nothing.
    """
    history = record["history"]
    start = 0
    if since is not None:
        start = next((i + 1 for i, entry in enumerate(history) if entry is since), 0)
    previous = since["state"] if since is not None else None
    moved = []
    for entry in history[start:]:
        if entry["state"] != previous:
            moved.append(entry)
        previous = entry["state"]
    return moved


def last_entry(record: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """What ``transitions`` counts from: the record's last history entry."""
    history = (record or {}).get("history") or []
    return history[-1] if history else None


def log(record: Dict[str, Any], state: str, now: float, note: str) -> None:
    history: List[Dict[str, Any]] = record["history"]
    history.append({"at": iso(now), "state": state, "note": note})
    del history[:-MAX_HISTORY]
