"""E-mail channel: residents' mail in through chat311's SMTP listener, replies out through a real
local SMTP server (aiosmtpd) that captures them; threading headers, quote stripping, transcripts."""

from __future__ import annotations

import base64

import aiohttp
import aiosmtplib
import pytest

from tests.support.channel_standins import bare_server, body_of, channel_messages
from tests.support.email import CITY, compose, email_env, mail_to_city, mails_to
from tests.support.images import JPEG


@pytest.fixture
async def mail_server(redis_server, relay):  # type: ignore[no-untyped-def]
    server = await bare_server(redis_server.url, "channel-email", **email_env(relay))
    yield server
    await server.stop()


async def test_threaded_replies_quote_stripping_and_options(mail_server, relay, redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = mail_server.prefix
    resident = "pat@resident.test"
    first = compose(resident, "Question about my water bill", "Hello, my water bill looks too high.")
    await mail_to_city(mail_server, first)
    [reply] = await relay.messages.wait_for(mails_to(relay, resident, "1) Talk to a person"))
    cid, messages = await channel_messages(redis_client, prefix, "email", resident)
    # the subject of the mail that starts a conversation is part of its words
    assert messages[0]["text"] == "Question about my water bill\nHello, my water bill looks too high."
    # Threading: a reply to the resident's mail, in the conversation's thread.
    assert reply["Subject"] == "Re: Question about my water bill"
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert f"<conv-{cid}@city.test>" in reply["References"] and first["Message-ID"] in reply["References"]
    assert reply["Message-ID"].endswith("@city.test>") and reply["Message-ID"].startswith(f"<conv-{cid}.")
    assert CITY in reply["From"] and reply["Reply-To"] == CITY
    assert reply["Auto-Submitted"] == "auto-replied"
    # The resident answers "1" above the quoted history: the quote is stripped and "1" picks option 1.
    quoted = "\n".join(f"> {line}" for line in body_of(reply).splitlines())
    answer = compose(resident, f"Re: {reply['Subject'][4:]}",
                     f"1\n\nOn Tue, Nov 24, 2026 at 10:02 AM City 311 <{CITY}> wrote:\n{quoted}\n",
                     in_reply_to=reply)
    await mail_to_city(mail_server, answer)
    # Nobody staffs this test server: asked first (numbered), then how to call back, then a ticket, all in
    # the same thread; each numbered answer picks that mail's own option.
    last = answer
    for option in ("1) Yes, leave a request", "3) No callback needed"):
        [question] = await relay.messages.wait_for(mails_to(relay, resident, option), timeout=30)
        assert question["In-Reply-To"] == last["Message-ID"]
        last = compose(resident, "Re: Question about my water bill", option[0], in_reply_to=question)
        await mail_to_city(mail_server, last)
    [ticket_mail] = await relay.messages.wait_for(mails_to(relay, resident, "311-"), timeout=30)
    same_cid, messages = await channel_messages(redis_client, prefix, "email", resident)
    assert same_cid == cid
    assert [m["text"] for m in messages if m["sender"] == "resident"] == \
        ["Question about my water bill\nHello, my water bill looks too high.", "/request_human", "/callback_yes",
         "/callback_none"]
    assert ticket_mail["In-Reply-To"] == last["Message-ID"]
    assert ticket_mail["Subject"] == "Re: Question about my water bill"
    # One e-mail per turn, not one per message: four turns, four mails.
    assert len(relay.to(resident)) == 4
    # "transcript" mails the whole conversation back.
    await mail_to_city(mail_server, compose(resident, "Re: Question about my water bill", "transcript",
                                            in_reply_to=ticket_mail))
    [transcript] = await relay.messages.wait_for(mails_to(relay, resident, "Here is the transcript"))
    text = body_of(transcript)
    assert "Hello, my water bill looks too high." in text and "311-" in text
    assert transcript["Subject"] == "Transcript of your conversation with City 311"
    # A new mail (not a reply) with a subject of its own is answered under it: it came back as "Re: Question about
    # my water bill", in the old thread (probe R).
    told = len(relay.to(resident))
    barking = compose(resident, "Dog barking all night", "The dog next door barks all night, who do I tell?")
    await mail_to_city(mail_server, barking)
    await relay.messages.wait_for(lambda _: relay.to(resident)[told:], timeout=30)
    [answer_mail] = relay.to(resident)[told:]
    assert answer_mail["Subject"] == "Re: Dog barking all night" and answer_mail["In-Reply-To"] == barking["Message-ID"]


async def test_refusals_and_automatic_mail(mail_server, relay, redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = mail_server.prefix
    msg = compose("someone@resident.test", "hi", "hello")
    del msg["To"]
    msg["To"] = "mayor@city.test"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mail_to_city(mail_server, msg)
    # A photo attached to a mail becomes the message's image, served from /media/.
    photo_mail = compose("snap@resident.test", "Pothole", "There is a pothole here, see photo.")
    photo_mail.add_attachment(JPEG, maintype="image", subtype="jpeg", filename="pothole.jpg")
    await mail_to_city(mail_server, photo_mail)
    await relay.messages.wait_for(mails_to(relay, "snap@resident.test", "Talk to a person"))
    _, messages = await channel_messages(redis_client, prefix, "email", "snap@resident.test")
    photo = messages[0]["extra"]["attachment"]["url"]
    assert messages[0]["text"] == "There is a pothole here, see photo."
    assert photo.startswith(f"{mail_server.url}/media/")
    async with aiohttp.ClientSession() as http, http.get(photo) as resp:
        assert resp.status == 200 and await resp.read() == JPEG
    # An iPhone's HEIC photo cannot be taken: the resident is told so (it was dropped without a word, probe AG).
    heic_mail = compose("heic@resident.test", "pothole photo", "Pothole at 1400 Central Ave, photo attached")
    heic_mail.add_attachment(b"\x00\x00\x00\x18ftypheic" + bytes(64), maintype="image", subtype="heic",
                             filename="IMG_0001.HEIC")
    await mail_to_city(mail_server, heic_mail)
    [told] = await relay.messages.wait_for(mails_to(relay, "heic@resident.test", "could not open"))
    assert "IMG_0001.HEIC" in body_of(told) and "JPEG" in body_of(told)
    # A new conversation's subject is part of what the resident said: the agent read only the body (probe AG).
    await mail_to_city(mail_server, compose("urgent@resident.test", "URGENT: man lying in the street not moving",
                                            "please send someone to 5th and Tryon"))
    [answer] = await relay.messages.wait_for(mails_to(relay, "urgent@resident.test", "311 cannot dispatch"))
    assert body_of(answer).count("311 cannot dispatch") == 1, body_of(answer)  # said once, not for each part
    _, messages = await channel_messages(redis_client, prefix, "email", "urgent@resident.test")
    assert messages[0]["text"] == "URGENT: man lying in the street not moving\nplease send someone to 5th and Tryon"
    # An out-of-office reply is never answered (no robot ping-pong) and starts nothing.
    robot = compose("away@resident.test", "Automatic reply: Re: your request", "I am out of the office.",
                    Auto_Submitted="auto-replied")
    await mail_to_city(mail_server, robot)
    bounce = compose("MAILER-DAEMON@resident.test", "Undelivered Mail", "delivery failed")
    await mail_to_city(mail_server, bounce)
    # ... also one with no RFC 3834 header, known by its subject (probe J: it was answered)
    await mail_to_city(mail_server, compose("away@resident.test", "Respuesta automática: Re: basura",
                                            "Estoy fuera de la oficina hasta el lunes."))
    # A normal mail from the same robot address afterwards is handled: the robot mails were seen and dropped.
    await mail_to_city(mail_server, compose("away@resident.test", "back", "I am back, is my pothole fixed?"))
    await relay.messages.wait_for(mails_to(relay, "away@resident.test", "Talk to a person"))
    _, messages = await channel_messages(redis_client, prefix, "email", "away@resident.test")
    assert [m["text"] for m in messages if m["sender"] == "resident"] == ["I am back, is my pothole fixed?"]
    assert await channel_messages(redis_client, prefix, "email", "mailer-daemon@resident.test") == (None, [])
    # A mail with no subject and no text is answered, in both languages (it vanished without a word, probe X)
    await mail_to_city(mail_server, compose("blank@resident.test", "", ""))
    [empty] = await relay.messages.wait_for(mails_to(relay, "blank@resident.test", "arrived empty"))
    assert "llegó vacío" in empty.get_content()
    assert await channel_messages(redis_client, prefix, "email", "blank@resident.test") == (None, [])


async def test_api_transcript_by_email(mail_server, relay) -> None:  # type: ignore[no-untyped-def]
    from tests.support.channel_standins import App, issue

    app = App(mail_server.url, issue(mail_server, "app with mail")["token"])
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "mailer"})
    status, _ = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                  {"text": "Where do I pay my bill?"})
    assert status == 201
    status, body = await app.call("POST", f"/api/v1/conversations/{conv['id']}/transcript",
                                  {"email": "pat@resident.test"})
    assert status == 202 and body == {"sent_to": "pat@resident.test"}
    [mail] = await relay.messages.wait_for(mails_to(relay, "pat@resident.test", "Where do I pay my bill?"))
    assert mail["Subject"] == "Transcript of your conversation with City 311"
    status, body = await app.call("POST", f"/api/v1/conversations/{conv['id']}/transcript", {"email": "nope"})
    assert status == 400
    async with aiohttp.ClientSession() as http, http.get(f"{mail_server.url}/api/openapi.json") as resp:
        assert "/api/v1/conversations/{conversation_id}/transcript" in (await resp.json())["paths"]


async def test_rate_limited_emergency_mail_still_gets_911(redis_server, relay) -> None:  # type: ignore[no-untyped-def]
    server = await bare_server(redis_server.url, "channel-email-911", CHAT311_LIMITS__SESSION_MESSAGES="2",
                               CHAT311_LIMITS__SESSION_WINDOW_S="3600", **email_env(relay))
    try:
        resident = "fire@resident.test"
        for i in range(2):
            await mail_to_city(server, compose(resident, f"question {i}", f"hello {i}"))
        fire = compose(resident, "help", "my house is on fire")
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await mail_to_city(server, fire)
        assert refused.value.code == 451
        [answer] = await relay.messages.wait_for(mails_to(relay, resident, "311 cannot dispatch"))
        assert "call 911" in body_of(answer)
        # in the thread of the mail that told of it, not in the reply to "question 0" (probe AG)
        assert answer["In-Reply-To"] == fire["Message-ID"] and str(answer["Subject"]) == "Re: help", answer
    finally:
        await server.stop()


async def test_an_emergency_in_the_subject_and_a_long_mail_are_answered(mail_server, relay) -> None:  # type: ignore[no-untyped-def]
    """The subject is read for an emergency too ("House on fire" over "please send someone quickly" got
    "live agents are not available"); a body that is only "Sent from my iPhone" is empty, so its subject is
    the message; a mail over the message limit says it was read only in part."""
    await mail_to_city(mail_server, compose("subject@resident.test", "House on fire at 12 Elm St",
                                            "please send someone quickly"))
    [answer] = await relay.messages.wait_for(mails_to(relay, "subject@resident.test", "311 cannot dispatch"))
    # first, in the reply of the resident's own thread (it came as a separate mail, and the thread's reply
    # spoke only of agents)
    assert body_of(answer).lstrip().startswith("If this is an emergency") and "House on fire" in str(answer["Subject"])
    await mail_to_city(mail_server, compose("iphone@resident.test", "Fuga de gas - urgente", "\n\nSent from my iPhone"))
    [answer] = await relay.messages.wait_for(mails_to(relay, "iphone@resident.test", "911"))
    assert "llame al 911" in body_of(answer).lower()
    story = "I have lived on this street for many years and want to tell you the whole story. " * 30
    await mail_to_city(mail_server, compose("long@resident.test", "streetlight", story + "The light is out."))
    [answer] = await relay.messages.wait_for(mails_to(relay, "long@resident.test", "first 2,000 characters"))
    assert "shorter message" in body_of(answer)
    # A fire told past the cut: the 911 answer leads the reply in the resident's own thread (it was a mail of its
    # own, "Your conversation with City 311", and the threaded reply asked only about the streetlight).
    fire = compose("past@resident.test", "about my street", story + "Also, right now I see flames coming out of "
                   "the house next door, there is a fire.")
    await mail_to_city(mail_server, fire)
    [answer] = await relay.messages.wait_for(mails_to(relay, "past@resident.test", "311 cannot dispatch"))
    assert body_of(answer).lstrip().startswith("If this is an emergency"), body_of(answer)
    assert "first 2,000 characters" in body_of(answer)
    assert str(answer["Subject"]) == "Re: about my street" and answer["In-Reply-To"] == fire["Message-ID"]
    # Under the signature line, cut from the question: still the resident's words (it got only the bulk-pickup
    # answer, probe AC).
    await mail_to_city(mail_server, compose("sig@resident.test", "bulk pickup", "When is bulk pickup?\n\n-- \n"
                                            "Maria Lopez\n704-555-0101\nPS my dad is not breathing"))
    [answer] = await relay.messages.wait_for(mails_to(relay, "sig@resident.test", "311 cannot dispatch"))
    assert body_of(answer).lstrip().startswith("If this is an emergency"), body_of(answer)


def _raw_mail(sender: str, subject: str, message_id: str, body: str) -> bytes:
    """Header lines exactly as written (an EmailMessage would re-encode an encoded word given as text)."""
    return (f"From: <{sender}>\r\nTo: {CITY}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def _encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


async def test_a_line_break_hidden_in_the_subject_or_message_id_does_not_stop_the_911_answer(  # type: ignore[no-untyped-def]
        mail_server, relay) -> None:
    """Probe U: an encoded word that decodes to a line break made every reply unbuildable: the 911 answer was
    retried six times and dropped. The header injection it tried stays impossible."""
    port = int(mail_server.env["CHAT311_CHANNELS__SMTP_LISTEN_PORT"])
    injected = "\r\nBcc: victim@example.com"
    for sender, subject, message_id in (
            ("subject-crlf@resident.test", _encoded("pothole" + injected), "<a1@resident.test>"),
            ("id-crlf@resident.test", "help", _encoded("<x@y>" + injected))):
        await aiosmtplib.send(_raw_mail(sender, subject, message_id, "my house is on fire"), sender=sender,
                              recipients=[CITY], hostname="127.0.0.1", port=port, timeout=10)
        [answer] = await relay.messages.wait_for(mails_to(relay, sender, "311 cannot dispatch"))
        assert "call 911" in body_of(answer)
        assert "Bcc" not in answer and "\n" not in str(answer["Subject"])
    assert not [m for m in relay.messages.items if any("victim" in rcpt for rcpt in m["rcpt"])]
