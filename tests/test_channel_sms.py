"""SMS through Twilio's webhook and Messages API formats, against a local Twilio stand-in.

Requests to chat311 are signed exactly as Twilio signs them (the official `twilio` library's
RequestValidator); replies are read from what the stand-in received on its Messages endpoint.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from tests.support import waiting
from tests.support.agents import agent_client, make_agent
from tests.support.channel_standins import (
    CITY_NUMBER,
    GONE_MEDIA,
    TwilioStandin,
    bare_server,
    channel_messages,
    delivery_of,
)
from tests.support.images import JPEG


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll server-side state (Redis) that has no event to await."""
    return await waiting.until(check, timeout, "condition not met in time", interval=0.05)


@pytest.fixture
async def sms(redis_server, twilio):  # type: ignore[no-untyped-def]
    server = await bare_server(redis_server.url, "channel-sms", **twilio.env())
    yield server, server.prefix
    await server.stop()


def webhook(server: Any) -> str:
    return f"{server.url}/channels/sms/twilio"


def sent_with(twilio: TwilioStandin, phone: str, needle: str) -> Callable[[list[Any]], list[dict[str, Any]]]:
    return lambda items: [m for m in items if m["to"] == phone and needle in m["body"]]


async def test_unsigned_and_forged_requests_are_refused(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    server, prefix = sms
    url = webhook(server)
    params = twilio.inbound_params("+17045550100", "hello")
    assert await twilio.post_signed(url, params, signature="") == 403
    forged = RequestValidator("not-the-token").compute_signature(url, params)
    assert await twilio.post_signed(url, params, signature=forged) == 403
    signed = twilio.sign(url, params)
    assert await twilio.post_signed(url, {**params, "Body": "tampered"}, signature=signed) == 403
    # Signed for another URL (a replay against a different endpoint) does not validate here.
    assert await twilio.post_signed(url, params, signature=twilio.sign(url + "/status", params)) == 403
    other_account = {**params, "AccountSid": "AC" + "f" * 32}
    assert await twilio.post_signed(url, other_account) == 403
    status = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "AccountSid": twilio.account_sid}
    assert await twilio.post_signed(f"{url}/status", status, signature="") == 403
    assert await channel_messages(redis_client, prefix, "sms", "+17045550100") == (None, [])
    # A body that is not UTF-8 is a 400 with its reason (probe X: a 500 anyone could cause, before the signature)
    async with aiohttp.ClientSession() as http, http.post(
            url, data=b"From=%2B17045550100&Body=\xff\xfe fire", headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}) as resp:
        assert resp.status == 400 and "UTF-8" in await resp.text()
    # The genuine request is accepted with empty TwiML.
    code, twiml = await twilio.text_server(server.url, "+17045550100", "hello")
    assert code == 200 and twiml.endswith("<Response/>")


async def test_conversation_numbered_options_and_delivery_status(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    server, prefix = sms
    phone = "+17045550101"
    code, twiml = await twilio.text_server(server.url, phone, "hello there", media_url=twilio.media_url())
    assert code == 200 and twiml == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    # Without a bot, the core offers "Talk to a person" as a button: on SMS a numbered option.
    [reply] = await twilio.sent.wait_for(sent_with(twilio, phone, "1) Talk to a person"))
    assert reply["from"] == CITY_NUMBER and "Reply with a number:" in reply["body"]
    assert reply["status_callback"] == f"{server.url}/channels/sms/twilio/status"
    cid, messages = await channel_messages(redis_client, prefix, "sms", phone)
    assert messages[0]["sender"] == "resident" and messages[0]["text"] == "hello there"
    # The MMS photo is fetched with the account's credentials and kept like a widget upload.
    photo = messages[0]["extra"]["attachment"]["url"]
    assert photo.startswith(f"{server.url}/media/") and photo.endswith(".jpg")
    async with aiohttp.ClientSession() as http, http.get(photo) as resp:
        assert resp.status == 200 and await resp.read() == JPEG
    assert (await redis_client.hget(f"{prefix}conv:{cid}", "channel")) == b"sms"
    system = next(m for m in messages if m["sender"] == "system")

    # Twilio's status callbacks are recorded on the message, never moving backwards.
    async def delivery() -> dict[str, Any]:
        return await delivery_of(redis_client, prefix, cid, system["id"])

    await until(lambda: _status_is(delivery, "queued"))
    assert await twilio.status_callback(reply, "sent") == 204
    assert await twilio.status_callback(reply, "delivered") == 204
    assert await twilio.status_callback(reply, "sent") == 204  # late, out of order
    record = await delivery()
    assert record["status"] == "delivered" and record["parts"][reply["sid"]]["status"] == "delivered"

    # "1" answers the numbered list: the button's payload goes to the conversation.
    mark = len(twilio.sent.items)
    await twilio.text_server(server.url, phone, "1")
    await until(lambda: _resident_texts(redis_client, prefix, phone, "/request_human"))
    # Escalation with nobody online: asked first (numbered yes/no), then how to call back; "3" = no callback.
    await twilio.sent.wait_for(sent_with(twilio, phone, "1) Yes, leave a request"), timeout=30)
    await twilio.text_server(server.url, phone, "1")
    await twilio.sent.wait_for(sent_with(twilio, phone, "3) No callback needed"), timeout=30)
    await twilio.text_server(server.url, phone, "3")
    # The resident gets a ticket number by SMS.
    await twilio.sent.wait_for(lambda items: [m for m in items[mark:] if m["to"] == phone and "311-" in m["body"]],
                               timeout=30)
    # A digit with no list on offer is just text.
    await twilio.text_server(server.url, phone, "7")
    await until(lambda: _resident_texts(redis_client, prefix, phone, "7"))


async def test_a_callback_to_the_number_texting_is_filed_with_that_number(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """"What phone number should we call?" answered "the number I am texting from" lapsed the offer, and the
    number typed next was read as a request number: nothing was filed (probe R)."""
    server, prefix = sms
    phone = "+17045550190"
    for said, expect in (("I was charged twice on my water bill", "1) Talk to a person"),
                         ("1", "1) Yes, leave a request"), ("1", "1) Call me"),
                         ("1", "Should we call you at 704-555-0190, the number you are texting from?")):
        mark = len(twilio.sent.items)
        await twilio.text_server(server.url, phone, said)
        await twilio.sent.wait_for(lambda items, e=expect, m=mark: [i for i in items[m:] if i["to"] == phone
                                                                    and e in i["body"]], timeout=30)
    mark = len(twilio.sent.items)
    await twilio.text_server(server.url, phone, "the number I am texting from")
    [filed] = await twilio.sent.wait_for(lambda items: [i for i in items[mark:] if i["to"] == phone
                                                        and "311-" in i["body"]], timeout=30)
    ticket_id = re.search(r"311-\d+", filed["body"]).group(0)  # type: ignore[union-attr]
    contact = json.loads(await redis_client.hget(f"{prefix}ticket:{ticket_id}", "contact"))
    assert contact["phone"] == "704-555-0190", contact


async def _status_is(delivery: Callable[[], Awaitable[dict[str, Any]]], status: str) -> bool:
    return (await delivery()).get("status") == status


async def _resident_texts(redis_client: Any, prefix: str, phone: str, text: str) -> bool:
    _, messages = await channel_messages(redis_client, prefix, "sms", phone)
    return any(m["sender"] == "resident" and m["text"] == text for m in messages)


async def test_stop_help_start_keywords(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    server, prefix = sms
    phone = "+17045550102"
    code, twiml = await twilio.text_server(server.url, phone, "HELP")
    assert code == 200 and "<Message>" in twiml and "911" in twiml and "Reply STOP" in twiml
    code, twiml = await twilio.text_server(server.url, phone, " stop ")
    assert "unsubscribed" in twiml and "call 911" in twiml  # the one text allowed says where emergencies go
    assert await redis_client.hexists(f"{prefix}sms:optout", phone)
    # Opted out: the message is not taken in and nothing is sent back.
    code, twiml = await twilio.text_server(server.url, phone, "hello?")
    assert code == 200 and twiml.endswith("<Response/>")
    assert await channel_messages(redis_client, prefix, "sms", phone) == (None, [])
    code, twiml = await twilio.text_server(server.url, phone, "START")
    assert "subscribed to City 311 texts again" in twiml
    assert not await redis_client.hexists(f"{prefix}sms:optout", phone)
    await twilio.text_server(server.url, phone, "hello again")
    await twilio.sent.wait_for(sent_with(twilio, phone, "Talk to a person"))
    # Spanish keywords, Spanish answers; a conversation in progress is closed on opt-out.
    code, twiml = await twilio.text_server(server.url, phone, "PARAR")
    assert "Ya no recibirá" in twiml and "llame al 911" in twiml
    cid, _ = await channel_messages(redis_client, prefix, "sms", phone)
    assert (await redis_client.hget(f"{prefix}conv:{cid}", "state")) == b"closed"
    code, twiml = await twilio.text_server(server.url, phone, "ayuda")
    assert "Responda PARAR" in twiml
    assert not [m for m in twilio.to(phone) if "ended" in m["body"]]  # no text after STOP


async def test_retries_duplicates_and_twilio_unsubscribed(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    server, prefix = sms
    phone = "+17045550103"
    twilio.fail_next = 2  # Twilio answers 503 twice: the outbox retries with backoff
    before = twilio.requests
    params = twilio.inbound_params(phone, "is anyone there")
    assert await twilio.post_signed(webhook(server), params) == 200
    assert await twilio.post_signed(webhook(server), params) == 200  # Twilio's retry of the same MessageSid
    await twilio.sent.wait_for(sent_with(twilio, phone, "Talk to a person"))
    assert twilio.requests - before >= 3
    _, messages = await channel_messages(redis_client, prefix, "sms", phone)
    assert [m["text"] for m in messages if m["sender"] == "resident"] == ["is anyone there"]
    # Twilio refuses a number that texted STOP to Twilio itself (21610): we stop sending to it too.
    blocked = "+17045550104"
    twilio.unsubscribed.add(blocked)
    await twilio.text_server(server.url, blocked, "hi")
    await until(lambda: redis_client.hexists(f"{prefix}sms:optout", blocked))
    cid, messages = await channel_messages(redis_client, prefix, "sms", blocked)
    system = next(m for m in messages if m["sender"] == "system")

    async def failed() -> bool:
        return (await delivery_of(redis_client, prefix, cid, system["id"])).get("status") == "failed"

    await until(failed)


async def test_an_emergency_texted_after_stop_alerts_staff_with_the_number_to_call(  # type: ignore[no-untyped-def]
        sms, twilio, redis_server, redis_client) -> None:
    """Nothing may be texted to a number that replied STOP, so its emergency was only logged (probe AG): every
    console is alerted, with the number to call back, and any agent can read what was texted."""
    server, prefix = sms
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    ann = await agent_client(server.url, "ann")
    try:
        phone = "+17045550192"
        await twilio.text_server(server.url, phone, "hello")
        await twilio.sent.wait_for(sent_with(twilio, phone, "Talk to a person"))
        await twilio.text_server(server.url, phone, "STOP")
        texted = len(twilio.to(phone))
        code, twiml = await twilio.text_server(server.url, phone, "hay un incendio en mi casa, 1500 Central Ave")
        assert code == 200 and twiml.endswith("<Response/>")  # no reply: the carrier would refuse it
        alert = await ann.wait_for("urgent")
        assert alert["unreachable"] == "opted_out" and alert["callback"] == phone and alert["urgent"]
        assert alert["language"] == "es" and alert["state"] == "bot"
        view = (await ann.call("open", {"conversation_id": alert["conversation_id"]}))["conversation"]
        assert [m["text"] for m in view["messages"]] == ["hay un incendio en mi casa, 1500 Central Ave"]
        # anything else from the number is still ignored, and nothing was texted to it
        await twilio.text_server(server.url, phone, "hola?")
        assert [m["text"] for m in (await channel_messages(redis_client, prefix, "sms", phone))[1]] == [
            "hay un incendio en mi casa, 1500 Central Ave"]
        assert len(twilio.to(phone)) == texted
        assert [e for e, _ in ann.events].count("urgent") == 1
    finally:
        await ann.close()


async def test_a_text_sent_in_two_parts_is_one_message(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """"… on Queens Rd near the" and "corner with Providence Rd, …" gave the report half a location (probe AG): a text
    that reads unfinished waits for the rest, and the two are one message. One that gets no rest goes on alone, and
    an unfinished emergency is not held at all."""
    server, prefix = sms
    phone = "+17045550194"
    first = "There is a big tree branch down blocking the sidewalk on Queens Rd near the"
    second = "corner with Providence Rd, people have to walk in the street"
    held = asyncio.create_task(twilio.text_server(server.url, phone, first))
    await until(lambda: redis_client.exists(f"{prefix}sms:held:{phone}"))
    assert (await twilio.text_server(server.url, phone, second))[0] == 200
    assert (await held)[0] == 200

    async def said(number: str) -> list[str]:
        _, messages = await channel_messages(redis_client, prefix, "sms", number)
        return [m["text"] for m in messages if m["sender"] == "resident"]

    assert await until(lambda: said(phone)) == [f"{first} {second}"]
    # no rest: after the wait, as it was
    alone = "+17045550195"
    assert (await twilio.text_server(server.url, alone, "the pothole is between Oak and"))[0] == 200
    assert await redis_client.exists(f"{prefix}sms:held:{alone}")  # it was held
    assert await until(lambda: said(alone)) == ["the pothole is between Oak and"]
    # an emergency is answered at once, unheld
    urgent = "+17045550196"
    assert (await twilio.text_server(server.url, urgent, "my neighbor's house is on fire and the"))[0] == 200
    assert not await redis_client.exists(f"{prefix}sms:held:{urgent}")
    await twilio.sent.wait_for(sent_with(twilio, urgent, "911"))


async def test_rate_limited_emergency_text_still_gets_911(redis_server, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    server = await bare_server(redis_server.url, "channel-sms-911", CHAT311_LIMITS__SESSION_MESSAGES="2",
                               CHAT311_LIMITS__SESSION_WINDOW_S="3600", **twilio.env())
    try:
        phone = "+17045550191"
        for i in range(2):
            assert (await twilio.text_server(server.url, phone, f"hola {i}"))[0] == 200
        code, twiml = await twilio.text_server(server.url, phone, "hay un incendio en mi casa")
        assert code == 200 and twiml.endswith("<Response/>")
        [answer] = await twilio.sent.wait_for(sent_with(twilio, phone, "no puede enviar"))
        assert "llame al 911" in answer["body"]
        _, stored = await channel_messages(redis_client, server.prefix, "sms", phone)
        assert not [m for m in stored if m["sender"] == "resident" and "incendio" in m["text"]], "refused, not stored"
        # An ordinary text over the limit is told to slow down once in the window (it vanished without a word);
        # the rest of a flood is not answered.
        code, twiml = await twilio.text_server(server.url, phone, "y la basura?")
        assert code == 200 and "muy rápido" in twiml, twiml
        code, twiml = await twilio.text_server(server.url, phone, "y el reciclaje?")
        assert code == 200 and twiml.endswith("<Response/>"), twiml
    finally:
        await server.stop()


async def test_emergency_past_the_length_limit_still_gets_911(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """A long text is kept to limits.max_message_chars; an emergency told after that point is answered too."""
    server, prefix = sms
    phone = "+17045550192"
    body = "I have a long question about my water bill " + "and the meter " * 170 + " my house is on fire"
    assert len(body) > 2000
    code, twiml = await twilio.text_server(server.url, phone, body)
    assert code == 200 and "read only its first 2,000 characters" in twiml, twiml  # it was cut without a word
    [answer] = await twilio.sent.wait_for(sent_with(twilio, phone, "call 911"))
    assert answer["body"].startswith("If this is an emergency")

    async def both_stored() -> list[str] | None:
        senders = [m["sender"] for m in (await channel_messages(redis_client, prefix, "sms", phone))[1]]
        return senders if "resident" in senders else None

    senders = await until(both_stored)
    assert senders[:2] == ["system", "resident"]  # the 911 answer came first


async def test_a_video_is_answered_not_dropped(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """A video MMS with no text got no answer at all; with text, it was dropped without a word."""
    server, prefix = sms
    code, twiml = await twilio.text_server(server.url, "+17045550188", "", media_url=twilio.media_url(),
                                           media_type="video/3gpp")
    assert code == 200 and "I can only receive photos here" in twiml, twiml
    assert await channel_messages(redis_client, prefix, "sms", "+17045550188") == (None, [])  # nothing to store
    code, twiml = await twilio.text_server(server.url, "+17045550188", "the pothole on my street",
                                           media_url=twilio.media_url(), media_type="video/mp4")
    assert code == 200 and "I can only receive photos here" in twiml, twiml
    _, messages = await until(lambda: _stored(redis_client, prefix, "+17045550188"))
    assert messages[0]["text"] == "the pothole on my street" and "attachment" not in messages[0].get("extra", {})


async def test_a_photo_that_cannot_be_fetched_is_not_kept_and_the_resident_is_told(sms, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """Twilio's own media URL was kept when the download failed: unchecked bytes, the account SID in the link, and
    it became the ticket's public photo."""
    server, prefix = sms
    phone = "+17045550189"
    gone = twilio.media_url(GONE_MEDIA)
    code, twiml = await twilio.text_server(server.url, phone, "graffiti on the bridge", media_url=gone)
    assert code == 200 and "Your photo did not come through" in twiml, twiml
    _, messages = await until(lambda: _stored(redis_client, prefix, phone))
    assert messages[0]["text"] == "graffiti on the bridge" and "attachment" not in messages[0].get("extra", {})
    code, twiml = await twilio.text_server(server.url, phone, "", media_url=twilio.media_url(GONE_MEDIA))
    assert code == 200 and "Your photo did not come through" in twiml, twiml
    await twilio.text_server(server.url, phone, "thanks")

    async def resident_texts() -> list[str] | None:
        said = [m["text"] for m in (await channel_messages(redis_client, prefix, "sms", phone))[1]
                if m["sender"] == "resident"]
        return said if "thanks" in said else None

    assert await until(resident_texts) == ["graffiti on the bridge", "thanks"]  # no "(photo)" without a photo
    assert twilio.account_sid not in json.dumps((await channel_messages(redis_client, prefix, "sms", phone))[1])
    # MediaUrl0 without NumMedia: still a photo, and its failure is said (it was ignored without a word, probe X)
    params = twilio.inbound_params(phone, "", media_url=twilio.media_url(GONE_MEDIA))
    del params["NumMedia"]
    url = webhook(server)
    async with aiohttp.ClientSession() as http, http.post(
            url, data=params, headers={"X-Twilio-Signature": twilio.sign(url, params)}) as resp:
        assert resp.status == 200 and "Your photo did not come through" in await resp.text()


async def _stored(redis_client, prefix, phone):  # type: ignore[no-untyped-def]
    found = await channel_messages(redis_client, prefix, "sms", phone)
    return found if found[1] else None
