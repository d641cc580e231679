"""Storage hung while residents write (probe X): a text is never "taken" and then dropped, and an emergency is
answered with 911 whatever Redis is doing.

The module's own Redis (`private_redis`) is paused with SIGSTOP, as a hung or swapping Redis would be, and resumed
with SIGCONT; the session's Redis, which every other test uses, is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from tests.support.channel_standins import App, SmtpCapture, TwilioStandin, channel_messages, issue
from tests.support.clients import ResidentClient
from tests.support.email import compose, email_env, mails_to
from tests.support.servers import RedisServer, quoted_prefix
from tests.support.waiting import until


@contextlib.asynccontextmanager
async def paused(redis: RedisServer) -> AsyncIterator[None]:
    pid = redis.supervisor.pid("redis")
    assert pid is not None, "the module's Redis is not running"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_texts_while_redis_hangs_get_911_or_are_kept(private_bare_factory: Any, private_redis: RedisServer,
                                                           twilio: TwilioStandin) -> None:
    server = await private_bare_factory(name="fault-sms-storage", **twilio.env())
    phone = "+17045550177"
    assert (await twilio.text_server(server.url, phone, "hola"))[0] == 200
    # Hung for longer than the webhook may wait: the 911 answer comes in the TwiML, which needs no storage
    # (it was a 500 after 30 s, and no text ever went out).
    async with paused(private_redis):
        code, twiml = await twilio.text_server(server.url, phone, "my house is on fire")
    assert code == 200 and "call 911" in twiml, (code, twiml)
    # Hung for a moment: redis-py's second try of the "seen" mark found its own first try and took the text for
    # Twilio's duplicate; it was answered 200 and dropped. Now it is kept (or, at worst, the sender is told).
    async with paused(private_redis):
        pending = asyncio.create_task(twilio.text_server(server.url, phone, "when is bulky item pickup"))
        await asyncio.sleep(5.5)  # the fault's length: past redis-py's socket timeout, inside the webhook's budget
    code, twiml = await pending
    assert code == 200, (code, twiml)
    if "could not take your message" in twiml:
        return
    redis = private_redis.client()

    async def kept() -> bool:
        _, messages = await channel_messages(redis, "c311:", "sms", phone)
        return any(m["sender"] == "resident" and m["text"] == "when is bulky item pickup" for m in messages)

    try:
        await until(kept, 20, "the text was answered 200 and neither kept nor refused", interval=0.2)
    finally:
        await redis.aclose()


async def test_a_widget_emergency_is_answered_while_redis_hangs(private_bare_factory: Any,
                                                                 private_redis: RedisServer) -> None:
    """The guard's answer waited for the message to be stored: 911 came 40 s later, when Redis did (probe X)."""
    server = await private_bare_factory(name="fault-widget-storage")
    resident = ResidentClient(server.url)
    await resident.connect()
    try:
        await resident.start_session()
        mark = len(resident.events)
        async with paused(private_redis):
            said = asyncio.create_task(resident.say("mi casa se está quemando"))
            answer = await resident.wait_for("bot_uttered", lambda d: "911" in d.get("text", ""), timeout=15,
                                             after=mark)
            assert "llame al 911" in answer["text"], answer
            # still hung when the message's event gives up: no second answer stored nowhere (probe Z: three)
            with contextlib.suppress(Exception):
                await said
        unstored = [d for e, d in resident.events[mark:] if e == "bot_uttered" and "911" in d.get("text", "")
                    and "id" not in d]
        assert len(unstored) == 1, unstored
    finally:
        await resident.close()


async def test_a_mail_refused_while_redis_hangs_is_answered_when_sent_again(
        private_bare_factory: Any, private_redis: RedisServer, relay: SmtpCapture) -> None:
    """Refused with 451 while Redis hung, the sending server's retry (the same Message-ID) read as a duplicate and
    was dropped: the seen mark had landed after the refusal; and the emergency's 911 answer waited for that retry
    (probe Z)."""
    server = await private_bare_factory(name="fault-mail-storage", **email_env(relay))
    port = int(server.env["CHAT311_CHANNELS__SMTP_LISTEN_PORT"])
    mail = compose("stall@resident.test", "my house is on fire", "please send help")
    other = compose("stall2@resident.test", "bulky pickup", "when is bulky item pickup")

    async def refused(message: Any) -> int:
        with pytest.raises(aiosmtplib.SMTPDataError) as error:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=180)
        return error.value.code

    async with paused(private_redis):
        assert await asyncio.gather(refused(mail), refused(other)) == [451, 451]
        await relay.messages.wait_for(mails_to(relay, "stall@resident.test", "call 911"))  # Redis still hung
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port, timeout=30)  # the retry, same Message-ID
    await relay.messages.wait_for(mails_to(relay, "stall@resident.test", "Talk to a person"))  # taken this time
    # a retry may reach another worker, which knows no token: the refused delivery's mark is taken back
    redis = private_redis.client()
    try:
        mark = f"c311:email:in:{other['Message-ID']}"
        await until(lambda: _absent(redis, mark), 30, "the refused mail's seen mark stayed", interval=0.5)
    finally:
        await redis.aclose()


async def _absent(redis: Any, key: str) -> bool:
    return not await redis.exists(key)


async def test_an_app_emergency_is_answered_while_redis_hangs(private_bare_factory: Any,
                                                              private_redis: RedisServer) -> None:
    """The app token is checked in Redis: while it hung, the request failed before the emergency was read, and the
    503 carried no answer (probe Z)."""
    server = await private_bare_factory(name="fault-api-storage", CHAT311_CHANNELS__API_ENABLED="true",
                                        CHAT311_REDIS__KEY_PREFIX=quoted_prefix("c311api:"))
    app = App(server.url, issue(server, "fault app")["token"])
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "stall-1", "language": "es"})
    assert status == 201, conv
    async with paused(private_redis):
        status, body = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                      {"text": "mi casa se está quemando"}, timeout=aiohttp.ClientTimeout(total=90))
    assert status == 503 and body["error"]["code"] == "internal", body
    assert "llame al 911" in body["emergency"]["text"] and body["emergency"]["stored"] is False, body
