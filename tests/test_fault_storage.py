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

from tests.support.channel_standins import TwilioStandin, channel_messages
from tests.support.clients import ResidentClient
from tests.support.servers import RedisServer
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
        with contextlib.suppress(Exception):  # stored or refused once Redis is back: either way it was answered
            await said
    finally:
        await resident.close()
