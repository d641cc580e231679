"""Untrusted input helpers shared by every channel (pure)."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from multidict import CIMultiDict

from chat_server.sanitize import MAX_LINK_TOKEN, clean_text, client_ip, plausible_token


def test_clean_text_drops_invisible_and_bidi_characters_but_keeps_lines() -> None:
    assert clean_text("  pay\u202emy bill\u200b\x07\r\nline two\tend ") == "paymy bill\nline two end"


def _request(*forwarded: str) -> dict[str, object]:
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)
    return {"aiohttp.request": SimpleNamespace(headers=headers, remote="10.0.0.2"), "REMOTE_ADDR": "10.0.0.2"}


def test_client_ip_is_what_the_trusted_proxies_saw() -> None:
    # nginx appends the address it was called from; what the client sent stays to its left.
    assert client_ip(_request("198.51.100.7"), proxy_hops=1) == "198.51.100.7"
    spoofed = _request("203.0.113.9, 198.51.100.7")  # "203.0.113.9" is the client's own claim
    assert client_ip(spoofed, proxy_hops=1) == "198.51.100.7"
    assert client_ip(_request("203.0.113.9", "198.51.100.7"), proxy_hops=1) == "198.51.100.7"  # header repeated
    # a CDN in front of nginx: the CDN saw the client, nginx saw the CDN
    assert client_ip(_request("203.0.113.9, 198.51.100.7, 192.0.2.1"), proxy_hops=2) == "198.51.100.7"
    assert client_ip(_request("198.51.100.7"), proxy_hops=2) == "198.51.100.7"  # fewer entries than hops
    assert client_ip(spoofed, proxy_hops=0) == "10.0.0.2"  # no proxy trusted: the header is ignored
    assert client_ip(_request(" , "), proxy_hops=1) == "10.0.0.2"
    assert client_ip({"REMOTE_ADDR": "198.51.100.4"}, proxy_hops=1) == "198.51.100.4"
    assert client_ip({}, proxy_hops=0) == "unknown"


def test_a_link_token_is_plausible_only_when_non_empty_and_short() -> None:
    assert plausible_token(secrets.token_urlsafe(18))
    assert plausible_token("a" * MAX_LINK_TOKEN)
    assert not plausible_token("")
    assert not plausible_token("a" * (MAX_LINK_TOKEN + 1))
