"""Untrusted input helpers shared by every channel (pure)."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from chat_server.sanitize import MAX_LINK_TOKEN, clean_text, client_ip, plausible_token


def test_clean_text_drops_invisible_and_bidi_characters_but_keeps_lines() -> None:
    assert clean_text("  pay\u202emy bill\u200b\x07\r\nline two\tend ") == "paymy bill\nline two end"


def test_client_ip_trusts_forwarded_only_when_configured() -> None:
    request = SimpleNamespace(headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}, remote="10.0.0.2")
    environ = {"aiohttp.request": request, "REMOTE_ADDR": "10.0.0.2"}
    assert client_ip(environ, trust_forwarded=True) == "203.0.113.9"
    assert client_ip(environ, trust_forwarded=False) == "10.0.0.2"
    assert client_ip({"REMOTE_ADDR": "198.51.100.4"}, trust_forwarded=True) == "198.51.100.4"
    assert client_ip({}, trust_forwarded=False) == "unknown"


def test_a_link_token_is_plausible_only_when_non_empty_and_short() -> None:
    assert plausible_token(secrets.token_urlsafe(18))
    assert plausible_token("a" * MAX_LINK_TOKEN)
    assert not plausible_token("")
    assert not plausible_token("a" * (MAX_LINK_TOKEN + 1))
