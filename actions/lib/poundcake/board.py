"""The incident board at ``/ui``: what PoundCake is doing, read-only.

Served by the sensor from what its state poll already read (never from the
request path, and never a datastore call per page view): the poll hands each
fresh read to :meth:`Board.update`, and a page view returns the last
snapshot. The page (``board_assets/``) draws the snapshot with DOM text
nodes only, so no label or annotation can become markup, loads nothing from
outside the sensor, and refreshes itself from ``/ui/state.json``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Iterable, List, Optional

from poundcake.queries import stats
from poundcake.state_store import iso

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_assets")
MAX_INCIDENTS = 200
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


def asset(name: str) -> Optional[tuple]:
    """``(body, content type)`` of ``board.html``, ``board.js`` or ``board.css``."""
    if name not in ("board.html", "board.js", "board.css"):
        return None
    with open(os.path.join(ASSETS, name), "rb") as fp:
        return fp.read(), _TYPES[os.path.splitext(name)[1]]


class Board:
    def __init__(self, st2_web_url: str = "") -> None:
        self._st2_web_url = st2_web_url.rstrip("/")
        self._lock = threading.Lock()
        self._snapshot: Dict[str, Any] = {"generated_at": None, "incidents": [], "counts": {}}

    def update(
        self,
        shown: List[Dict[str, Any]],
        suppressions: Iterable[Dict[str, Any]],
        breakers: Iterable[Dict[str, Any]],
        now: float,
    ) -> None:
        """Take one poll's read: incidents (newest first), suppression views, open breakers."""
        snapshot = {
            "generated_at": iso(now),
            "counts": stats(shown),
            "incidents": [self._incident(doc) for doc in shown[:MAX_INCIDENTS]],
            "suppressions": [s for s in suppressions if s.get("active")],
            "breakers": list(breakers),
        }
        with self._lock:
            self._snapshot = snapshot

    def snapshot(self) -> Dict[str, Any]:
        with self._lock:
            return self._snapshot

    def _incident(self, doc: Dict[str, Any]) -> Dict[str, Any]:
        remediation = doc.get("remediation") or {}
        execution = remediation.get("execution_id")
        linked = execution and self._st2_web_url
        link = f"{self._st2_web_url}/#/history/{execution}/general" if linked else None
        return {
            "tracking_id": doc["tracking_id"],
            "alertname": doc.get("alertname", ""),
            "state": doc["state"],
            "severity": doc.get("severity", ""),
            "instance": doc.get("instance", ""),
            "labels": doc.get("labels", {}),
            "created_at": doc.get("created_at"),
            "updated_at": doc.get("updated_at"),
            "note": (doc.get("history") or [{}])[-1].get("note", ""),
            "remediation": {
                "workflow": remediation.get("workflow", ""),
                "outcome": remediation.get("outcome", "running" if execution else ""),
                "dry_run": bool(remediation.get("dry_run")),
                "execution_id": execution,
                "execution_url": link,
            }
            if remediation
            else None,
        }
