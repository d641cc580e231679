"""Security against a real chat_server process: headers, Origin checks, rate limits keyed by
(IP, session), no personal data or secrets in the log file."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.clients import ResidentClient
from tests.support.faults import log_path, wait_for_log
from tests.support.servers import quoted_prefix

SECRET_TOKEN = "rasa-token-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
async def origin_server(bare_factory: Any) -> Any:
    return await bare_factory(name="sec-origin", CHAT311_SERVER__ALLOWED_ORIGINS='["https://city.example.gov"]')


async def test_security_headers_on_pages(origin_server: Any) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/widget.js", "/healthz", "/console", "/console/login", "/no-such-page"):
            async with http.get(origin_server.url + path, allow_redirects=False) as resp:
                csp = resp.headers.get("Content-Security-Policy", "")
                assert "script-src 'self'" in csp, f"no CSP on {path} ({resp.status})"
                assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
                assert "object-src 'none'" in csp and "frame-ancestors" in csp
                assert resp.headers.get("X-Content-Type-Options") == "nosniff"
                assert resp.headers.get("Referrer-Policy")
                if resp.content_type == "text/html":
                    body = await resp.text()
                    assert "<script>" not in body.replace(" ", "").lower(), f"inline script on {path}"
                    assert " onclick=" not in body.lower() and " onload=" not in body.lower()


async def test_hsts_only_when_the_public_address_is_https(origin_server: Any, bare_factory: Any) -> None:
    """Probe U: no HSTS anywhere. Sent when residents reach us over https; never over plain http."""
    secure = await bare_factory(name="sec-https", CHAT311_SERVER__PUBLIC_URL="https://chat.city.example.gov")
    async with aiohttp.ClientSession() as http:
        async with http.get(secure.url + "/healthz") as resp:
            assert resp.headers.get("Strict-Transport-Security") == "max-age=31536000"
        async with http.get(origin_server.url + "/healthz") as resp:
            assert "Strict-Transport-Security" not in resp.headers


async def test_socketio_refuses_foreign_origin(origin_server: Any) -> None:
    bad = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await bad.connect(origin_server.url, transports=["websocket"], headers={"Origin": "https://evil.example"},
                          wait_timeout=5)
    good = ResidentClient(origin_server.url, headers={"Origin": "https://city.example.gov"})
    await good.connect()
    assert await good.start_session(last_message_id="0")
    await good.close()


async def test_rate_limit_is_per_session_not_per_shared_ip(bare_factory: Any) -> None:
    prefix = f"rl{uuid.uuid4().hex[:6]}:"
    server = await bare_factory(name="sec-ratelimit", CHAT311_REDIS__KEY_PREFIX=quoted_prefix(prefix),
                                CHAT311_LIMITS__SESSION_MESSAGES="3", CHAT311_LIMITS__SESSION_WINDOW_S="3600",
                                CHAT311_LIMITS__IP_MESSAGES="8", CHAT311_LIMITS__IP_WINDOW_S="3600")
    # Two residents in the same library: same IP, different sessions.
    alice, bob, carol = (ResidentClient(server.url) for _ in range(3))
    for client in (alice, bob, carol):
        await client.connect()
        await client.start_session(last_message_id="0")
    for i in range(3):
        assert (await alice.say(f"alice {i}"))["ok"]
    limited = await alice.say("alice again")
    assert limited["ok"] is False and limited["error"]["code"] == "rate_limited"
    assert alice.of("error")[-1]["code"] == "rate_limited"
    for i in range(3):  # Bob is not blocked by Alice
        assert (await bob.say(f"bob {i}"))["ok"], "a shared IP blocked another resident"
    # The per-IP flood ceiling still holds (6 counted so far, ceiling 8).
    assert (await carol.say("carol 0"))["ok"] and (await carol.say("carol 1"))["ok"]
    flood = await carol.say("carol 2")
    assert flood["ok"] is False and flood["error"]["code"] == "rate_limited"
    for client in (alice, bob, carol):
        await client.close()


PII = {
    "phone": "(704) 555-0142",
    "email": "maria.lopez@example.org",
    "ssn": "123-45-6789",
    "card": "4111 1111 1111 1111",
}


async def test_no_pii_or_secrets_in_the_server_log(bare_factory: Any) -> None:
    server = await bare_factory(name="sec-pii", CHAT311_LOGGING__LEVEL="DEBUG", CHAT311_RASA__TOKEN=SECRET_TOKEN)
    client = ResidentClient(server.url)
    await client.connect()
    await client.start_session(last_message_id="0")
    text = f"call me at {PII['phone']} or {PII['email']}, ssn {PII['ssn']}, card {PII['card']}"
    ack = await client.say(text)
    assert ack["ok"]
    # The bot is down in this test, so the turn ends with the honest degrade message (and a log line).
    await client.wait_for("bot_uttered", lambda d: d.get("sender") == "system")
    await client.sio.call("csat", {"session_id": client.session_id, "rating": 2, "comment": text}, timeout=10)
    await client.sio.call(f"evil {PII['email']}", {"x": text}, timeout=10)  # unknown event carrying PII
    await client.sio.call("user_uttered", {"message": text, "session_id": "forged " + PII["ssn"]}, timeout=10)
    await client.sio.call("session_request", {"session_id": text, "last_message_id": PII["card"]}, timeout=10)
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
        readyz = await resp.text()
    await wait_for_log(server, lambda e: e.get("msg") == "bot unavailable")
    await client.close()
    await server.stop()  # flush everything
    log = log_path(server).read_text(errors="replace")
    assert log.strip(), "the server wrote no log at all"
    for kind, value in PII.items():
        assert value not in log, f"{kind} leaked into {log_path(server)}"
    digits = "".join(c for c in PII["card"] if c.isdigit())
    assert digits not in log.replace(" ", "")
    assert SECRET_TOKEN not in log, "the Rasa token appears in the log"
    assert SECRET_TOKEN not in readyz, "the Rasa token appears in /readyz"


@pytest.mark.rasa
async def test_the_bots_servers_listen_on_loopback_only(rasa_stack: Any) -> None:
    """The action server listened on 0.0.0.0 (rasa-sdk has no option for it), where anyone on the network could
    run the bot's actions (probe S); Rasa itself was already loopback only."""
    import psutil
    from yarl import URL

    ports = {URL(rasa_stack.url).port, URL(rasa_stack.actions_url).port}
    listening = [c for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in ports]
    assert {c.laddr.port for c in listening} == ports, listening
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
