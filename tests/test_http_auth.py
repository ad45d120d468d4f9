"""Credential checks as Alertmanager's http_config sends them."""

import base64

from poundcake.http_auth import Authenticator
from poundcake.settings import WebhookSettings


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_bearer_token():
    auth = Authenticator(WebhookSettings(bearer_token="s3cret"))
    assert auth.allows("Bearer s3cret")
    assert auth.allows("bearer s3cret")
    assert not auth.allows("Bearer s3cre")
    assert not auth.allows("Bearer s3cret2")
    assert not auth.allows(None)
    assert not auth.allows("Basic s3cret")
    assert auth.challenge == 'Bearer realm="poundcake"'


def test_basic_auth():
    auth = Authenticator(WebhookSettings(basic_auth_username="am", basic_auth_password="pw:x"))
    assert auth.allows(basic("am", "pw:x"))
    assert not auth.allows(basic("am", "pw"))
    assert not auth.allows(basic("root", "pw:x"))
    assert not auth.allows("Basic !!!not-base64")
    assert not auth.allows("Bearer pw:x")
    assert auth.challenge.startswith('Basic realm="poundcake"')


def test_either_configured_scheme_is_accepted():
    auth = Authenticator(
        WebhookSettings(bearer_token="t", basic_auth_username="u", basic_auth_password="p")
    )
    assert auth.allows("Bearer t")
    assert auth.allows(basic("u", "p"))
    assert not auth.allows(basic("u", "t"))
    assert "Bearer" in auth.challenge and "Basic" in auth.challenge


def test_open_only_when_explicitly_allowed_and_no_credentials():
    assert Authenticator(WebhookSettings(allow_unauthenticated=True)).allows(None)
    guarded = Authenticator(WebhookSettings(allow_unauthenticated=True, bearer_token="t"))
    assert not guarded.allows(None)
