"""Status changes reach every resident once, in their language, across a restart (issue 17).

A real chat311 process (no bot needed: following is answered by the server) with SMS (Twilio
stand-in), e-mail (a real SMTP relay) and the API channel (a signed-webhook receiver). Followers:
a web chat in Spanish, an API app conversation, an SMS number and an e-mail address that followed
from the status page (with its confirmation link), and the filer (Open311, by e-mail). The change is
made with the CLI while chat311 is DOWN, so it waits in Redis; after the restart each resident gets
it exactly once. A second change after a second restart shows the first was not sent again; a
stop link ends one follower's updates.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from chat_server.child_specs import free_port
from chat_server.status.followers import FollowerKind, FollowerStore
from tests.support.channel_standins import SmtpCapture, TwilioStandin, WebhookReceiver, bare_server, body_of, issue
from tests.support.open311 import cli, new_api_key

PHONE = "+17045550177"
FOLLOWER_MAIL = "follower@example.org"
FILER_MAIL = "filer@example.org"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/status/(?:follow|unfollow)/[A-Za-z0-9_-]+")


@pytest.fixture
async def outside() -> Any:
    twilio = await TwilioStandin().start()
    relay = await SmtpCapture().start()
    hook = await WebhookReceiver().start()
    yield twilio, relay, hook
    for part in (twilio, relay, hook):
        await part.stop()


async def follow_from_page(http: aiohttp.ClientSession, url: str, ticket_id: str, contact: str, lang: str) -> None:
    async with http.post(f"{url}/status/{ticket_id}/follow", data={"contact": contact, "lang": lang}) as resp:
        page = await resp.text()
        assert resp.status == 200, page
        assert "confirm" in page or "confirmación" in page


async def confirm(http: aiohttp.ClientSession, link: str) -> str:
    async with http.get(link) as resp:  # GET only shows the button: link previewers follow nobody
        assert resp.status == 200 and 'method="post"' in await resp.text()
    async with http.post(link) as resp:
        assert resp.status == 200
        return await resp.text()


async def test_every_channel_is_told_once_in_its_language_across_restarts(redis_server: Any, outside: Any,
                                                                          resident: Any) -> None:
    twilio, relay, hook = outside
    server = await bare_server(
        redis_server.url, "status-notify", **twilio.env(),
        CHAT311_CHANNELS__EMAIL_ENABLED="true", CHAT311_CHANNELS__SMTP_LISTEN_PORT=str(free_port()),
        CHAT311_CHANNELS__SMTP_HOST="127.0.0.1", CHAT311_CHANNELS__SMTP_PORT=str(relay.port))
    prefix = server.prefix
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, prefix)
        app = await asyncio.to_thread(issue, server, "city app", "--webhook-url", hook.url)
        hook.secret = app["secret"]
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/open311/v2/requests.json", data={
                    "api_key": key, "service_code": "POTHOLE", "address_string": "600 E 4th St",
                    "attribute[road_position]": "lane", "email": FILER_MAIL}) as resp:
                ticket_id = (await resp.json())[0]["service_request_id"]

            # Web chat, in Spanish: the Follow button's payload is answered by the server.
            web = await resident(server.url)
            session = await web.start_session()
            ack = await web.say(f'/follow_ticket{{"ticket_id": "{ticket_id}"}}', language="es")
            assert ack["ok"], ack
            followed = await web.wait_for("bot_uttered", lambda d: ticket_id in d.get("text", ""))
            assert followed["text"].startswith("Listo: le avisaré"), followed
            assert followed["quick_replies"][0]["payload"].startswith("/unfollow_ticket")

            # A city app's conversation (API channel): same button payload.
            headers = {"Authorization": f"Bearer {app['token']}"}
            async with http.post(f"{server.url}/api/v1/conversations", json={"user_id": "u-1", "language": "en"},
                                 headers=headers) as resp:
                conversation = (await resp.json())["id"]
            async with http.post(f"{server.url}/api/v1/conversations/{conversation}/messages",
                                 json={"text": f'/follow_ticket{{"ticket_id": "{ticket_id}"}}'},
                                 headers=headers) as resp:
                assert resp.status == 201, await resp.text()
            # the app's webhook hears of it, with the status link (it did only for a duplicate's "Follow it")
            [told] = await hook.calls.wait_for(lambda items: [c for c in items if c.get("event") == "ticket_followed"])
            assert told["valid"] and told["body"]["user_id"] == "u-1", told
            assert told["body"]["data"]["status_url"].endswith(f"/status/{ticket_id}"), told
            assert (await web.wait_for("ticket_followed"))["ticket_id"] == ticket_id  # the widget's status link

            # The status page: SMS (Spanish) and e-mail (English) followers confirm by link.
            await follow_from_page(http, server.url, ticket_id, "(704) 555-0177", "es")
            await follow_from_page(http, server.url, ticket_id, FOLLOWER_MAIL, "en")
            sms = await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == PHONE])
            assert "Para recibir avisos" in sms[0]["body"]
            await confirm(http, LINK.search(sms[0]["body"]).group(0))  # type: ignore[union-attr]
            mails = await relay.messages.wait_for(lambda items: [m for m in items if FOLLOWER_MAIL in m["rcpt"]])
            await confirm(http, LINK.search(body_of(mails[0]["msg"])).group(0))  # type: ignore[union-attr]
            last_seen = web.messages()[-1]["id"]
            await web.close()

            # The change is made while chat311 is down: it waits in Redis.
            await server.stop()
            out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", ticket_id, "resolved",
                                          "--note", "Patched today")
            assert out.returncode == 0, out.stderr
            await server.start()

            def notices(items: list[dict[str, Any]], to: str) -> list[str]:
                return [m["body"] for m in items if m["to"] == to and ticket_id in m["body"]
                        and "Novedad" in m["body"]]

            texts = await twilio.sent.wait_for(lambda items: notices(items, PHONE))
            assert "cerrada (resuelta)" in texts[0] and "Nota de la ciudad: Patched today" in texts[0]
            # a Spanish follower of a request filed in English: the page opens in Spanish (it opened in English)
            assert f"/status/{ticket_id}?lang=es" in texts[0]

            def mail_notices(address: str) -> list[Any]:
                return [m["msg"] for m in relay.messages.items
                        if address in m["rcpt"] and "Update on 311 request" in str(m["msg"]["Subject"])]

            for address in (FOLLOWER_MAIL, FILER_MAIL):
                await relay.messages.wait_for(lambda _, a=address: mail_notices(a))
            follower_mail = mail_notices(FOLLOWER_MAIL)[0]
            assert "closed (resolved)" in body_of(follower_mail)
            assert str(follower_mail["List-Unsubscribe"]).strip().startswith("<http")

            def hook_notices() -> list[dict[str, Any]]:
                return [c["body"] for c in hook.delivered() if c["valid"] and c["event"] == "message"
                        and "Update on 311 request" in c["body"]["message"]["text"]]

            await hook.calls.wait_for(lambda _: hook_notices())

            # The web resident was away: the notice is replayed on the next visit, in Spanish.
            web = await resident(server.url)
            await web.start_session(session, last_message_id=last_seen)
            replayed = await web.wait_for("bot_uttered", lambda d: "Novedad" in d.get("text", ""))
            assert replayed["sender"] == "system" and "cerrada (resuelta)" in replayed["text"]

            # Restart again, then a second change: the first is not sent a second time anywhere.
            await web.close()
            await server.restart()
            web = await resident(server.url)
            await web.start_session(session, last_message_id=replayed["id"])
            out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", ticket_id, "open",
                                          "--note", "Reopened: crack is back")
            assert out.returncode == 0, out.stderr
            await twilio.sent.wait_for(lambda items: len(notices(items, PHONE)) >= 2)
            await relay.messages.wait_for(lambda _: len(mail_notices(FILER_MAIL)) >= 2)
            await relay.messages.wait_for(lambda _: len(mail_notices(FOLLOWER_MAIL)) >= 2)
            await hook.calls.wait_for(lambda _: len(hook_notices()) >= 2)
            assert len(notices(twilio.sent.items, PHONE)) == 2
            assert len(mail_notices(FILER_MAIL)) == 2 and len(mail_notices(FOLLOWER_MAIL)) == 2
            assert len(hook_notices()) == 2
            await web.wait_for("bot_uttered", lambda d: "Reopened" in d.get("text", ""))
            assert len([d for d in web.of("bot_uttered") if "Novedad" in d.get("text", "")]) == 1

            # The e-mail's stop link ends that follower's updates; the others still get the next one.
            stop = LINK.search(body_of(mail_notices(FOLLOWER_MAIL)[-1])).group(0)  # type: ignore[union-attr]
            assert "/unfollow/" in stop
            assert "no more updates" in await confirm(http, stop)
            out = await asyncio.to_thread(cli, redis_server, prefix, "tickets", "status", ticket_id, "in_progress")
            assert out.returncode == 0, out.stderr
            await twilio.sent.wait_for(lambda items: len(notices(items, PHONE)) >= 3)
            await relay.messages.wait_for(lambda _: len(mail_notices(FILER_MAIL)) >= 3)
            assert len(mail_notices(FOLLOWER_MAIL)) == 2
    finally:
        await server.stop()


async def test_asking_for_no_more_updates_stops_them(redis_server: Any, redis_client: Any, resident: Any) -> None:
    """"ya no quiero recibir estos avisos" / "unsubscribe" in a conversation that follows requests stops them (an
    e-mail resident's reply got an article about paperless billing and the updates went on); without a followed
    request the words go on to the bot."""
    server = await bare_server(redis_server.url, "status-stop-words")
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, server.prefix)
        async with aiohttp.ClientSession() as http, http.post(f"{server.url}/open311/v2/requests.json", data={
                "api_key": key, "service_code": "POTHOLE", "address_string": "600 E 4th St",
                "attribute[road_position]": "lane"}) as resp:
            ticket_id = (await resp.json())[0]["service_request_id"]
        web = await resident(server.url)
        await web.start_session()
        assert (await web.say("unsubscribe", language="en"))["ok"]
        assert not [m for m in web.of("bot_uttered") if "no more updates" in (m.get("text") or "")]
        await web.say(f'/follow_ticket{{"ticket_id": "{ticket_id}"}}', language="es")
        await web.wait_for("bot_uttered", lambda d: d.get("text", "").startswith("Listo: le avisaré"))
        await web.say("Gracias, pero ya no quiero recibir estos avisos.", language="es")  # said in passing (probe R)
        stopped = await web.wait_for("bot_uttered", lambda d: "ya no recibirá avisos" in d.get("text", ""))
        assert ticket_id in stopped["text"]
        followers = await FollowerStore(redis_client, server.prefix).followers(ticket_id)
        assert not [f for f in followers if f.kind == FollowerKind.CONVERSATION]
    finally:
        await server.stop()


async def test_one_person_following_twice_is_told_once_and_one_stop_ends_both(redis_server: Any, redis_client: Any,
                                                                             outside: Any) -> None:
    """An SMS resident whose conversation follows a request and who also followed it on the status page with the
    same number got every update twice, with two stop links; stopping one left the other running (probe R). A
    second number, following from the page last, is the witness that each change has gone out."""
    twilio, _, _ = outside
    phone, witness = "+17045550178", "+17045550179"
    server = await bare_server(redis_server.url, "status-twice", **twilio.env())
    try:
        _, key = await asyncio.to_thread(new_api_key, redis_server, server.prefix)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.url}/open311/v2/requests.json", data={
                    "api_key": key, "service_code": "POTHOLE", "address_string": "600 E 4th St",
                    "attribute[road_position]": "lane"}) as resp:
                ticket_id = (await resp.json())[0]["service_request_id"]
            await twilio.text_server(server.url, phone, f'/follow_ticket{{"ticket_id": "{ticket_id}"}}')
            await twilio.sent.wait_for(lambda items: [m for m in items if m["to"] == phone and ticket_id in m["body"]])
            for number, typed in ((phone, "(704) 555-0178"), (witness, "704-555-0179")):
                await follow_from_page(http, server.url, ticket_id, typed, "en")
                ask = await twilio.sent.wait_for(lambda items, n=number: [m for m in items if m["to"] == n
                                                                          and "/status/follow/" in m["body"]])
                assert "if you did not ask for them, ignore this message" in ask[0]["body"]  # (probe AJ)
                await confirm(http, LINK.search(ask[0]["body"]).group(0))  # type: ignore[union-attr]
            assert len(await FollowerStore(redis_client, server.prefix).followers(ticket_id)) == 3

            def notices(to: str) -> list[str]:
                return [m["body"] for m in twilio.sent.items if m["to"] == to and "Update on 311 request" in m["body"]]

            for count, status in enumerate(("in_progress", "resolved"), start=1):
                out = await asyncio.to_thread(cli, redis_server, server.prefix, "tickets", "status", ticket_id, status)
                assert out.returncode == 0, out.stderr
                await twilio.sent.wait_for(lambda _, c=count: len(notices(witness)) >= c)
            assert len(notices(phone)) == 2, notices(phone)

            # One stop link, and neither the page follow nor the conversation hears of the next change.
            stop = LINK.search(notices(phone)[-1]).group(0)  # type: ignore[union-attr]
            assert "no more updates" in await confirm(http, stop)
            out = await asyncio.to_thread(cli, redis_server, server.prefix, "tickets", "status", ticket_id, "open")
            assert out.returncode == 0, out.stderr
            await twilio.sent.wait_for(lambda _: len(notices(witness)) >= 3)
            assert len(notices(phone)) == 2, notices(phone)
            left = await FollowerStore(redis_client, server.prefix).followers(ticket_id)
            assert [f.address for f in left] == [witness]
    finally:
        await server.stop()


async def test_an_address_given_for_the_confirmation_gets_it_and_the_updates(redis_server: Any, redis_client: Any,
                                                                            outside: Any, resident: Any) -> None:
    """"And your e-mail address, for the confirmation?": nothing was ever sent to it (probe R). A web resident
    leaves a request with "E-mail me": the address is told it was received and hears of its changes."""
    _, relay, _ = outside
    address = "pat.lee@resident.test"
    server = await bare_server(
        redis_server.url, "status-confirm", CHAT311_CHANNELS__EMAIL_ENABLED="true",
        CHAT311_CHANNELS__SMTP_LISTEN_PORT=str(free_port()), CHAT311_CHANNELS__SMTP_HOST="127.0.0.1",
        CHAT311_CHANNELS__SMTP_PORT=str(relay.port))
    try:
        web = await resident(server.url)
        await web.start_session()
        await web.say("My water bill doubled this month and I want to talk to someone", language="en")
        for said, then in (("/request_human", "leave a request"), ("/callback_yes", "E-mail me"),
                           ("/callback_email", "What e-mail address")):
            await web.say(said, language="en")
            await web.wait_for("bot_uttered", lambda d, t=then: t in d.get("text", "") + str(d.get("quick_replies")))
        await web.say(address, language="en")
        filed = await web.wait_for("bot_uttered", lambda d: re.search(r"311-\d+", d.get("text", "")) is not None)
        ticket_id = re.search(r"311-\d+", filed["text"]).group(0)  # type: ignore[union-attr]

        def to_pat(subject: str) -> list[Any]:
            return [m["msg"] for m in relay.messages.items
                    if address in m["rcpt"] and subject in str(m["msg"]["Subject"])]

        await relay.messages.wait_for(lambda _: to_pat(f"Your 311 request {ticket_id} was received"))
        confirmation = to_pat("was received")[0]
        assert ticket_id in body_of(confirmation) and f"/status/{ticket_id}" in body_of(confirmation)
        assert "/status/unfollow/" in str(confirmation["List-Unsubscribe"])
        out = await asyncio.to_thread(cli, redis_server, server.prefix, "tickets", "status", ticket_id, "in_progress")
        assert out.returncode == 0, out.stderr
        await relay.messages.wait_for(lambda _: to_pat(f"Update on 311 request {ticket_id}"))
        assert len(to_pat("was received")) == 1
        # RFC 8058 one-click: the mail client POSTs this body to the link, and the updates stop.
        update = to_pat("Update on 311 request")[0]
        assert update["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = str(update["List-Unsubscribe"]).strip("<> ")
        async with aiohttp.ClientSession() as http, http.post(link, data={"List-Unsubscribe": "One-Click"}) as resp:
            assert resp.status == 200
        followers = await FollowerStore(redis_client, server.prefix).followers(ticket_id)
        assert address not in [f.address for f in followers]
    finally:
        await server.stop()
