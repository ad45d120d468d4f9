"""Whether an alert has cleared after its remediation: the resolve, and Prometheus.

A remediation that ran is not the end: the incident waits for its alert to
clear, up to ``clear_timeout_seconds``, else it is ``not_cleared`` and
escalated. With ``prometheus_url`` set, PoundCake also asks Prometheus
itself: it evaluates the alert's own expression (``g0.expr`` of its
``generatorURL``) at ``prometheus_url``, never at the host the
``generatorURL`` names (alert authors control it), and keeps the series whose
labels match the alert's. None left: the condition is gone.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import requests


class PrometheusError(ValueError):
    """Prometheus could not answer; the message says why."""


def expression(generator_url: Any) -> Optional[str]:
    """The PromQL expression of a Prometheus ``generatorURL`` (None if it has none)."""
    if not isinstance(generator_url, str) or not generator_url:
        return None
    values = parse_qs(urlsplit(generator_url).query).get("g0.expr") or []
    expr = values[0].strip() if values else ""
    return expr or None


def matching(series: List[Mapping[str, Any]], labels: Mapping[str, str]) -> List[Dict[str, str]]:
    """The series whose every label (``__name__`` aside) is the alert's too.

    An alert's labels are its series' labels plus the rule's own, so the
    series that fired it are those whose labels the alert carries unchanged.
    """
    out = []
    for item in series:
        metric = {k: v for k, v in (item.get("metric") or {}).items() if k != "__name__"}
        if all(labels.get(k) == v for k, v in metric.items()):
            out.append(metric)
    return out


class Prometheus:
    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, expr: str) -> List[Mapping[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        try:
            response = requests.get(
                f"{self.url}/api/v1/query", params={"query": expr}, timeout=self.timeout
            )
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise PrometheusError(f"query at {self.url} failed: {exc}") from exc
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"query at {self.url}: HTTP {response.status_code} {body.get('error', '')}"
            )
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise PrometheusError(f"expression gave a {data.get('resultType')}, not a vector")
        return data.get("result") or []

    def still_firing(self, alert: Mapping[str, Any]) -> Optional[List[Dict[str, str]]]:
        """The alert's series that still satisfy its expression (None: no expression)."""
        expr = expression(alert.get("generator_url"))
        if expr is None:
            return None
        return matching(self.query(expr), alert.get("labels") or {})
