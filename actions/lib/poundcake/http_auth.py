"""Check the credentials Alertmanager's ``http_config`` sends.

Bearer token and/or basic auth; either configured scheme is accepted. Every
comparison is constant-time (``hmac.compare_digest`` on bytes) and every
configured credential is always compared, so timing reveals neither the
secret nor which scheme matched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Optional, Tuple

from poundcake.settings import WebhookSettings

REALM = "poundcake"


class Authenticator:
    def __init__(self, settings: WebhookSettings) -> None:
        self._token = _bytes(settings.bearer_token)
        self._user = _bytes(settings.basic_auth_username)
        self._password = _bytes(settings.basic_auth_password)
        self.open = settings.allow_unauthenticated and not settings.has_credentials

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value for a 401."""
        schemes = []
        if self._token:
            schemes.append(f'Bearer realm="{REALM}"')
        if self._user:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        return ", ".join(schemes) or f'Bearer realm="{REALM}"'

    def allows(self, authorization: Optional[str]) -> bool:
        """True when the ``Authorization`` header carries a configured credential."""
        if self.open:
            return True
        scheme, _, value = (authorization or "").strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        token_ok = False
        basic_ok = False
        if self._token:
            offered = value.encode() if scheme == "bearer" else b""
            token_ok = hmac.compare_digest(offered, self._token) and scheme == "bearer"
        if self._user:
            basic_ok = basic_matches(authorization, self._user, self._password)
        return token_ok or basic_ok


class BoardAuth:
    """Basic auth for the incident board (a browser can send nothing else)."""

    challenge = f'Basic realm="{REALM} board", charset="UTF-8"'

    def __init__(self, settings: WebhookSettings) -> None:
        self._user = _bytes(settings.board_username)
        self._password = _bytes(settings.board_password)

    def allows(self, authorization: Optional[str]) -> bool:
        return bool(self._user) and basic_matches(authorization, self._user, self._password)


def basic_matches(authorization: Optional[str], user: bytes, password: bytes) -> bool:
    """Constant-time check of a ``Basic`` header against one user and password."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    offered_user, offered_password = (
        _basic(value.strip()) if scheme.lower() == "basic" else (b"", b"")
    )
    user_ok = hmac.compare_digest(offered_user, user)
    password_ok = hmac.compare_digest(offered_password, password)
    return user_ok and password_ok and scheme.lower() == "basic"


def _basic(value: str) -> Tuple[bytes, bytes]:
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b"", b""
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else (b"", b"")


def _bytes(value: Optional[str]) -> bytes:
    return value.encode("utf-8") if value else b""
