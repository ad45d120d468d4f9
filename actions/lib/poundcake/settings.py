"""The webhook sensor's settings, read from the pack config.

st2 validates the pack config against ``config.schema.yaml`` only when it is
registered, and the sensor also runs outside st2 (demo, benchmark), so the
values are checked again here, with errors that name the key to fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from poundcake.lifecycle_config import DEFAULTS as LIFECYCLE_DEFAULTS

# How alerts no rule remediates become trigger instances: one per delivery
# (poundcake.alerts_recorded, in parts), or one each (poundcake.alert_recorded).
NOISE_TRIGGERS = ("per_delivery", "per_alert")


class ConfigError(ValueError):
    """The pack config cannot run the sensor; the message says which key to fix."""


@dataclass(frozen=True)
class WebhookSettings:
    listen_host: str = "0.0.0.0"
    listen_port: int = 9180
    webhook_path: str = "/webhook"
    bearer_token: Optional[str] = None
    basic_auth_username: Optional[str] = None
    basic_auth_password: Optional[str] = None
    allow_unauthenticated: bool = False
    tls_cert_file: Optional[str] = None
    tls_key_file: Optional[str] = None
    max_body_bytes: int = 5 * 1024 * 1024
    request_read_timeout_seconds: float = 30.0
    dispatch_concurrency: int = 50
    dispatch_timeout_seconds: float = 8.0
    remediation_head_start_seconds: float = 2.0
    record_hold_seconds: float = 15.0
    dedup_window_seconds: int = 6 * 3600
    dedup_max_entries: int = 50_000
    dispatch_alert_group: bool = False
    noise_triggers: str = "per_delivery"
    state_poll_seconds: int = 30
    incident_ttl_seconds: int = LIFECYCLE_DEFAULTS["incident_ttl_seconds"][0]
    unresolved_ttl_seconds: int = LIFECYCLE_DEFAULTS["unresolved_ttl_seconds"][0]
    board_username: Optional[str] = None
    board_password: Optional[str] = None
    st2_web_url: str = ""
    escalation_action: str = "poundcake.log_escalation"
    unrouted_after_seconds: int = 120
    stuck_after_seconds: int = 3600
    alertmanager_url: str = ""
    escalation_repost_seconds: int = 300

    @property
    def board_enabled(self) -> bool:
        return bool(self.board_username)

    @property
    def has_credentials(self) -> bool:
        return bool(self.bearer_token) or bool(self.basic_auth_username)

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_cert_file)


_INT_RANGES = {
    "listen_port": (0, 65535),
    "max_body_bytes": (1024, 1 << 30),
    "dispatch_concurrency": (1, 1000),
    "dedup_window_seconds": (0, 30 * 86400),
    "dedup_max_entries": (1, 10_000_000),
    "state_poll_seconds": (0, 86400),
    "incident_ttl_seconds": (0, 10 * 365 * 86400),
    "unresolved_ttl_seconds": (0, 10 * 365 * 86400),
    "unrouted_after_seconds": (10, 86400),
    "stuck_after_seconds": (60, 7 * 86400),
    "escalation_repost_seconds": (0, 86400),
}
_FLOAT_RANGES = {
    "request_read_timeout_seconds": (0.1, 3600.0),
    "dispatch_timeout_seconds": (0.1, 300.0),
    "remediation_head_start_seconds": (0.0, 5.0),
    "record_hold_seconds": (0.0, 300.0),
}
_STRINGS = (
    "listen_host",
    "webhook_path",
    "bearer_token",
    "basic_auth_username",
    "basic_auth_password",
    "tls_cert_file",
    "tls_key_file",
    "board_username",
    "board_password",
    "st2_web_url",
    "escalation_action",
    "alertmanager_url",
)
_BOOLS = ("allow_unauthenticated", "dispatch_alert_group")
_CHOICES = {"noise_triggers": NOISE_TRIGGERS}


def load_settings(config: Optional[Mapping[str, Any]]) -> WebhookSettings:
    """Build :class:`WebhookSettings` from a pack config, rejecting bad values."""
    config = config or {}
    values = {}
    for key in _STRINGS:
        value = config.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigError(f"config {key} must be a string")
        values[key] = value
    for key, choices in _CHOICES.items():
        value = config.get(key)
        if value is None:
            continue
        if value not in choices:
            raise ConfigError(f"config {key} must be one of {', '.join(choices)}, got {value!r}")
        values[key] = value
    for key in _BOOLS:
        if config.get(key) is not None:
            if not isinstance(config[key], bool):
                raise ConfigError(f"config {key} must be true or false")
            values[key] = config[key]
    for key, (low, high) in {**_INT_RANGES, **_FLOAT_RANGES}.items():
        value = config.get(key)
        if value is None:
            continue
        wants_int = key in _INT_RANGES
        if isinstance(value, bool) or not isinstance(value, (int, float) if not wants_int else int):
            kind = "an integer" if wants_int else "a number"
            raise ConfigError(f"config {key} must be {kind} between {low} and {high}")
        if not low <= value <= high:
            raise ConfigError(f"config {key} must be between {low} and {high}, got {value}")
        values[key] = value
    settings = WebhookSettings(**values)
    _check_consistency(settings)
    return settings


def _check_consistency(s: WebhookSettings) -> None:
    if not s.webhook_path.startswith("/") or s.webhook_path in ("/health", "/ready", "/metrics"):
        raise ConfigError(
            "config webhook_path must start with / and not be /health, /ready or /metrics"
        )
    if bool(s.basic_auth_username) != bool(s.basic_auth_password):
        raise ConfigError("config basic_auth_username and basic_auth_password must be set together")
    if not s.has_credentials and not s.allow_unauthenticated:
        raise ConfigError(
            "no webhook credentials configured: set bearer_token and/or "
            "basic_auth_username + basic_auth_password (and the same in Alertmanager's "
            "http_config), or set allow_unauthenticated: true to accept anyone who can "
            "reach the port"
        )
    if bool(s.board_username) != bool(s.board_password):
        raise ConfigError("config board_username and board_password must be set together")
    if s.st2_web_url and not s.st2_web_url.startswith(("http://", "https://")):
        raise ConfigError("config st2_web_url must start with http:// or https://")
    if bool(s.tls_cert_file) != bool(s.tls_key_file):
        raise ConfigError("config tls_cert_file and tls_key_file must be set together")
    for key in ("tls_cert_file", "tls_key_file"):
        path = getattr(s, key)
        if path and not os.path.isfile(path):
            raise ConfigError(f"config {key}: no such file {path}")
