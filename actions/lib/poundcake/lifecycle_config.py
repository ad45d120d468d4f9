"""Lifecycle settings from the pack config, with their defaults."""

from __future__ import annotations

from typing import Any, NamedTuple

ON_RESOLVE = ("let_finish", "cancel")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


DEFAULTS = {
    "on_resolve": ("let_finish", lambda v: v in ON_RESOLVE),
    "incident_ttl_seconds": (3 * 86400, _positive_int),
    "unresolved_ttl_seconds": (30 * 86400, _positive_int),
    "re_remediate_after_seconds": (0, _positive_int),
    "breaker_failures": (3, lambda v: _positive_int(v) and v >= 1),
    "breaker_window_seconds": (3600, lambda v: _positive_int(v) and v >= 1),
    "breaker_cooldown_seconds": (900, _positive_int),
    "clear_timeout_seconds": (600, _positive_int),
}


class Retention(NamedTuple):
    """How long records live: ``unresolved_ttl_seconds`` and
    ``incident_ttl_seconds`` after a resolve (each 0: for ever)."""

    unresolved: int = DEFAULTS["unresolved_ttl_seconds"][0]
    resolved: int = DEFAULTS["incident_ttl_seconds"][0]

    @property
    def longest(self) -> int:
        """How long any record may live (0: for ever, when either TTL is 0):
        what the sensor's batches and indexes are kept, and how far back the
        queries walk the index."""
        return max(self.unresolved, self.resolved) if self.unresolved and self.resolved else 0

    def gone(self, resolved_at: float, now: float) -> bool:
        """Whether an incident resolved at ``resolved_at`` is purged by ``now``."""
        return bool(self.resolved) and now - resolved_at >= self.resolved


DEFAULT_RETENTION = Retention()
