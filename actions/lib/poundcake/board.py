"""The incident board at ``/ui``: what PoundCake is doing, read-only.

Served by the sensor from what its state poll already read (never from the
request path, and never a datastore call per page view): the poll hands each
fresh read to :meth:`Board.update`, and a page view filters the last
snapshot in memory (:func:`filters`: ``state``, ``alertname``, ``host``
from the query string, so a filtered board is a URL to share). Incidents
come most urgent first (:func:`~poundcake.queries.urgent_first`). The page
(``board_assets/``) draws the snapshot with DOM text nodes only, so no label
or annotation can become markup, loads nothing from outside the sensor, and
refreshes itself from ``/ui/state.json``.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, quote

from poundcake.incidents import GROUPS, STATES, attention
from poundcake.queries import stats, urgent_first
from poundcake.scope import TargetRejected, normalize_host
from poundcake.state_store import iso

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_assets")
MAX_INCIDENTS = 200  # rows a view sends; the page says how many more match
MAX_ALERTNAMES = 1000  # the alertname filter's suggestions
FILTERS = ("state", "alertname", "host")
MAX_ALERTNAME = 200
_APPROVAL_KEYS = (
    "why",
    "asked_at",
    "inquiry_id",
    "expires_at",
    "approve",
    "deny",
    "answered_at",
    "approved",
    "comment",
)
# The page's only sources are the sensor itself; nothing inline, nothing framed.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


class FilterError(ValueError):
    """A board filter is invalid; the text says which and what is allowed."""


def asset(name: str) -> Optional[tuple]:
    """``(body, content type)`` of ``board.html``, ``board.js`` or ``board.css``."""
    if name not in ("board.html", "board.js", "board.css"):
        return None
    with open(os.path.join(ASSETS, name), "rb") as fp:
        return fp.read(), _TYPES[os.path.splitext(name)[1]]


def filters(query: str) -> Dict[str, str]:
    """The filters of a ``/ui/state.json`` query string (an empty value: any)."""
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=10
        )
    except ValueError as exc:
        raise FilterError(
            f"unreadable query string ({exc}): use state=, alertname=, host="
        ) from None
    found: Dict[str, str] = {}
    for name, value in pairs:
        if name not in FILTERS:
            raise FilterError(f"unknown filter {name!r}: the board filters by {', '.join(FILTERS)}")
        if name in found:
            raise FilterError(f"filter {name} given twice: give each at most once")
        found[name] = value
    state, alertname, host = (found.get(name, "") for name in FILTERS)
    if state and state not in STATES:
        raise FilterError(f"state {state!r} is not one of {', '.join(STATES)}")
    if alertname and (len(alertname) > MAX_ALERTNAME or not alertname.isprintable()):
        raise FilterError(f"alertname must be 1-{MAX_ALERTNAME} printable characters")
    wanted = {name: value for name, value in found.items() if value}
    if host:  # the machine, as the scope checks name it: web-1:9100 and WEB-1 are web-1
        try:
            wanted["host"] = normalize_host(host)
        except TargetRejected as exc:
            raise FilterError(str(exc)) from None
    return wanted


def _host(instance: str) -> str:
    """The machine an incident's instance names (``""``: none a filter can name)."""
    try:
        return normalize_host(instance)
    except TargetRejected:
        return ""


def _matches(doc: Mapping[str, Any], host: str, wanted: Mapping[str, str]) -> bool:
    return (
        wanted.get("state", doc["state"]) == doc["state"]
        and wanted.get("alertname", doc.get("alertname")) == doc.get("alertname")
        and wanted.get("host", host) == host
    )


def counts_note(held: int, limit: int) -> str:
    """What the board's counts count, next to what ``alert_stats`` counts."""
    stats_counts = (
        "alert_stats (st2 run poundcake.alert_stats) reads the datastore's index and counts "
        "every incident that started in its window (the last 24 hours unless asked otherwise)"
    )
    if held >= limit:
        return (
            f"Counts of the {held:,} incidents the sensor holds, its limit: every one "
            "PoundCake acted on or must act on, then the newest of the rest. "
            f"{stats_counts}, held here or not."
        )
    return (
        f"Counts of the {held:,} incidents the sensor holds: the recent incidents it read "
        f"back when it started and every incident it has seen since (it holds up to "
        f"{limit:,}). {stats_counts}; the two differ by incidents outside that window, "
        "records st2's key TTL expired and alerts another sensor took since this one started."
    )


class Board:
    def __init__(self, st2_web_url: str = "") -> None:
        self._st2_web_url = st2_web_url.rstrip("/")
        self._lock = threading.Lock()
        self._page: Dict[str, Any] = {"generated_at": None, "counts": stats([])}
        self._docs: List[Tuple[Dict[str, Any], str]] = []  # (incident, its host)

    def update(
        self,
        shown: List[Dict[str, Any]],
        suppressions: Iterable[Dict[str, Any]],
        breakers: Iterable[Dict[str, Any]],
        now: float,
        limit: int,
    ) -> None:
        """Take one poll's read: the view's incidents (at most ``limit``),
        suppression views, open breakers."""
        docs = urgent_first(shown)
        counts = stats(docs)
        counts["by_group"] = dict(Counter(GROUPS[attention(doc)[0]] for doc in docs))
        alertnames = sorted({doc.get("alertname", "") for doc in docs} - {""})
        page = {
            "generated_at": iso(now),
            "counts": counts,
            "counts_note": counts_note(len(docs), limit),
            "states": list(STATES),
            "alertnames": alertnames[:MAX_ALERTNAMES],
            "suppressions": [s for s in suppressions if s.get("active")],
            "breakers": list(breakers),
        }
        hosts = [_host(doc.get("instance", "")) for doc in docs]
        with self._lock:
            self._page, self._docs = page, list(zip(docs, hosts))

    def snapshot(self, query: str = "") -> Dict[str, Any]:
        """The page's data with the filters of ``query`` applied (raises
        :class:`FilterError`): the first ``MAX_INCIDENTS`` that match."""
        wanted = filters(query)
        with self._lock:
            page, docs = self._page, self._docs
        matched = [doc for doc, host in docs if _matches(doc, host, wanted)]
        return {
            **page,
            "filters": wanted,
            "matched": len(matched),
            "incidents": [self._incident(doc) for doc in matched[:MAX_INCIDENTS]],
        }

    def _link(self, execution_id: Any) -> Optional[str]:
        """The execution in the st2 Web UI (None without ``st2_web_url``)."""
        if not execution_id or not self._st2_web_url:
            return None
        return f"{self._st2_web_url}/#/history/{quote(str(execution_id), safe='')}/general"

    def _incident(self, doc: Dict[str, Any]) -> Dict[str, Any]:
        history = doc.get("history") or []
        return {
            "tracking_id": doc["tracking_id"],
            "fingerprint": doc.get("fingerprint", ""),
            "alertname": doc.get("alertname", ""),
            "state": doc["state"],
            "group": GROUPS[attention(doc)[0]],
            "severity": doc.get("severity", ""),
            "instance": doc.get("instance", ""),
            "labels": doc.get("labels", {}),
            "created_at": doc.get("created_at"),
            "updated_at": doc.get("updated_at"),
            "reason": doc.get("reason") or (history[-1].get("note", "") if history else ""),
            "history": [
                {"at": h.get("at"), "state": h.get("state", ""), "note": h.get("note", "")}
                for h in history
            ],
            "remediation": self._remediation(doc.get("remediation")),
            "executions": [
                {
                    "id": e.get("id"),
                    "status": e.get("status", ""),
                    "workflow": e.get("workflow", ""),
                    "started_at": e.get("started_at"),
                    "finished_at": e.get("finished_at"),
                    "url": self._link(e.get("id")),
                }
                for e in doc.get("executions") or []
            ],
            "approval": self._approval(doc.get("approval")),
        }

    def _remediation(self, remediation: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if not remediation:
            return None
        execution = remediation.get("execution_id")
        return {
            "workflow": remediation.get("workflow", ""),
            "outcome": remediation.get("outcome", "running" if execution else ""),
            "dry_run": bool(remediation.get("dry_run")),
            "execution_id": execution,
            "execution_url": self._link(execution),
            "started_at": remediation.get("started_at"),
            "finished_at": remediation.get("finished_at"),
            "detail": remediation.get("detail", ""),
            "failure": remediation.get("failure", ""),
            "escalated": remediation.get("escalated"),
        }

    def _approval(self, approval: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if not approval:
            return None
        shown = {key: approval[key] for key in _APPROVAL_KEYS if key in approval}
        shown["inquiry_url"] = self._link(approval.get("inquiry_id"))
        return shown
