"""Rasa hangs for 30 s (SIGSTOP) or is killed (SIGKILL): residents get the honest degrade message, and
it recovers. Also: the Rasa token never shows up in /readyz or the log, even when Rasa rejects it.

These tests stop and kill Rasa, so they use the module's own Rasa stack (`private_rasa`,
`private_server_factory`): the session's Rasa, which the other modules talk to, is never touched."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import aiohttp
import pytest

from chat_server.texts import text
from tests.support.clients import ResidentClient
from tests.support.servers import LOG_DIR
from tests.support.waiting import until

pytestmark = pytest.mark.rasa


async def test_rasa_hung_30s_degrades_honestly_then_recovers(private_server_factory: Any,
                                                             private_rasa: Any) -> None:
    server = await private_server_factory(name="fault-rasa", CHAT311_RASA__TIMEOUT_S="4",
                                          CHAT311_RASA__SLOW_NOTICE_S="1.5")
    client = ResidentClient(server.url)
    await client.connect()
    await client.start_session(last_message_id="0")
    assert await client.turn("hello", language="en"), "the bot did not answer before the fault"
    pid = private_rasa.pid()
    assert pid
    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        # The ack means "stored": it comes at once, while the bot's turn waits on the hung Rasa
        # (the widget sends the resident's next message only after the ack).
        turn_mark = len(client.events)
        sent = time.monotonic()
        assert (await client.say("when is my trash picked up", language="en"))["ok"]
        assert time.monotonic() - sent < 2
        # Safety: an emergency typed while that turn hangs is answered at once, not after it.
        mark = len(client.events)
        asked = time.monotonic()
        ack = await client.say("there is smoke and fire in my kitchen", language="en")
        urgent = await client.wait_for("bot_uttered", lambda d: "911" in (d.get("text") or ""), timeout=2,
                                       after=mark)
        assert ack["ok"] and time.monotonic() - asked < 2 and urgent["sender"] == "system"
        await client.wait_for("typing", lambda d: d.get("on") is False, timeout=30, after=turn_mark)
        await asyncio.sleep(0.05)
        replies = [d for e, d in client.events[turn_mark:] if e == "bot_uttered"]
        texts = [r.get("text", "") for r in replies]
        assert text("bot_slow", "en") in texts, texts
        assert text("bot_unavailable", "en") in texts, texts
        degrade = next(r for r in replies if r.get("text") == text("bot_unavailable", "en"))
        assert degrade["sender"] == "system"
        assert {"title": text("talk_to_person", "en"), "payload": "/request_human"} in degrade["quick_replies"]
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
            assert resp.status == 503 and not (await resp.json())["components"]["rasa"]["ok"]
        async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200  # the process itself is fine
        remaining = 30 - (time.monotonic() - stopped_at)
        if remaining > 0:
            await asyncio.sleep(remaining)  # the outage lasts 30 s: the scenario under test
    finally:
        os.kill(pid, signal.SIGCONT)
    # Recovery: the next turn is answered by the bot again, in the same conversation.
    replies: list[dict[str, Any]] = []

    async def recovered() -> bool:
        nonlocal replies
        replies = await client.turn("hello", timeout=30)
        return any(r["sender"] == "bot" for r in replies)

    await until(recovered, 60, lambda _: f"bot did not recover: {replies}", interval=0)  # each turn waits itself
    await client.close()


async def test_rasa_token_not_leaked_when_rejected(server_factory: Any) -> None:
    secret = "wrong-token-" + uuid.uuid4().hex
    server = await server_factory(name="sec-token", CHAT311_RASA__TOKEN=secret)
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
        body = await resp.text()
    assert resp.status == 503  # Rasa said 401
    await server.stop()
    assert secret not in body, "the Rasa token is echoed by /readyz"
    assert secret not in (LOG_DIR / "sec-token.log").read_text(errors="replace")


async def test_rasa_killed_mid_conversation(private_server_factory: Any, resident: Any, private_rasa: Any) -> None:
    server = await private_server_factory(name="fault-rasa-killed")
    client: ResidentClient = await resident(server.url)
    await client.start_session()
    assert await client.turn("hello")
    pid = private_rasa.pid()
    assert pid
    os.killpg(pid, signal.SIGKILL)
    started = time.monotonic()
    mark = len(client.events)
    await client.say("how do I pay my water bill")
    notice = await client.wait_for("bot_uttered", lambda d: d["sender"] == "system", timeout=5, after=mark)
    assert time.monotonic() - started < 5
    assert "not responding" in notice["text"]
    assert any(q["payload"] == "/request_human" for q in notice["quick_replies"])
    # Emergencies are still answered while the bot is down.
    mark = len(client.events)
    await client.say("I smell gas in my kitchen")
    urgent = await client.wait_for("bot_uttered", lambda d: "911" in (d.get("text") or ""), timeout=5, after=mark)
    assert urgent["sender"] == "system"
    # The supervisor restarts Rasa; the conversation continues.
    assert await private_rasa.supervisor.wait_ready("rasa", 240)
    replies = await client.turn("thank you")
    assert any(r["sender"] == "bot" for r in replies)
