"""Acceptance, one test per channel, on the real stack (Rasa bot, escalation, agents, tickets):
the resident starts on the channel, the bot answers an FAQ, the resident asks for a person, an
agent (console client on /agents) accepts and replies, and the reply arrives on the channel;
after hours the same channel gets a ticket number instead."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.support.agents import ALWAYS_OPEN, agent_client, make_agent
from tests.support.channel_standins import (
    App,
    SmtpCapture,
    WebhookReceiver,
    body_of,
    channel_messages,
    issue,
)
from tests.support.email import compose, email_env, mail_to_city, mails_to
from tests.support.servers import quoted_prefix
from tests.support.tickets import ANSWERS, BUTTON_PICK

pytestmark = pytest.mark.rasa

FAQ_QUESTION = "when is my trash picked up"
FAQ_ANSWER = "Garbage is collected once a week"  # training_data/knowledge/solid-waste/sw-collection-day.yml
ASK_PERSON = "I want to talk to a person"


def staffed_env(open_hours: bool = True, **extra: str) -> tuple[str, dict[str, str]]:
    prefix = f"ch{uuid.uuid4().hex[:8]}:"
    env = {
        "CHAT311_REDIS__KEY_PREFIX": quoted_prefix(prefix),
        "CHAT311_HOURS__WEEKLY": ALWAYS_OPEN if open_hours else "{}",
        "CHAT311_HOURS__CLOSING_SOON_MIN": "0",
        "CHAT311_ROUTING__TICK_S": "0.2",
        "CHAT311_ROUTING__HEARTBEAT_S": "1",
        "CHAT311_LIMITS__SESSION_MESSAGES": "100",
        **extra,
    }
    return prefix, env


@pytest.fixture
async def stack(server_factory, redis_server):  # type: ignore[no-untyped-def]
    """start(open_hours, **env) -> (server, prefix); agent(server, prefix, username) -> console client."""
    servers: list[Any] = []
    agents: list[Any] = []

    async def start(open_hours: bool = True, **extra: str) -> tuple[Any, str]:
        prefix, env = staffed_env(open_hours, **extra)
        server = await server_factory(**env)
        servers.append(server)
        return server, prefix

    async def agent(server: Any, prefix: str, username: str) -> Any:
        await make_agent(redis_server.url, prefix, username, name=username.title())
        client = await agent_client(server.url, username)
        agents.append(client)
        return client

    yield start, agent
    for client in agents:
        await client.close()
    for server in servers:
        await server.stop()


async def take_chat(agent: Any, channel: str) -> str:
    """The agent accepts the escalated conversation; the console shows which channel it came from."""
    offer = await agent.wait_for("offer", timeout=60)
    assert offer["channel"] == channel
    ack = await agent.call("accept", {"conversation_id": offer["conversation_id"]})
    assert ack["ok"], ack
    assert ack["conversation"]["channel"] == channel
    return str(offer["conversation_id"])


# ------------------------------------------------------------------------------------------ SMS

def sms_with(phone: str, needle: str, after: int = 0) -> Any:
    return lambda items: [m for m in items[after:] if m["to"] == phone and needle in m["body"]]


async def test_sms_faq_escalation_agent_reply_and_after_hours_ticket(stack, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    start, agent = stack
    server, prefix = await start(**twilio.env())
    ann = await agent(server, prefix, "ann")
    phone = "+17045550150"
    await twilio.text_server(server.url, phone, FAQ_QUESTION)
    await twilio.sent.wait_for(sms_with(phone, FAQ_ANSWER), timeout=60)
    await twilio.text_server(server.url, phone, ASK_PERSON)
    cid = await take_chat(ann, "sms")
    # The place in line is one text, without the web's "keep this window open" (probe R: five texts in a burst).
    await twilio.sent.wait_for(sms_with(phone, "number 1 in line for a 311 agent"))
    assert not sms_with(phone, "window")(twilio.sent.items) and not sms_with(phone, "You're in line")(twilio.sent.items)
    mark = len(twilio.sent.items)
    assert (await ann.call("send", {"conversation_id": cid, "text": "Hi, this is Ann from 311. How can I help?"}))["ok"]
    [reply] = await twilio.sent.wait_for(sms_with(phone, "Hi, this is Ann from 311", mark))
    assert reply["from"] and reply["status_callback"].endswith("/channels/sms/twilio/status")
    # The resident answers by text; the agent sees it in the console.
    events = len(ann.events)
    await twilio.text_server(server.url, phone, "My cart was not emptied on Tuesday")
    got = await ann.wait_for("message", lambda d: d.get("sender") == "resident", after=events)
    assert got["text"] == "My cart was not emptied on Tuesday"
    # A long agent answer is split at sentence ends into SMS bodies of at most 1600 characters.
    long_answer = "Your collection day is Tuesday and crews run late after holidays. " * 28
    mark = len(twilio.sent.items)
    assert (await ann.call("send", {"conversation_id": cid, "text": long_answer.strip()}))["ok"]

    def both_parts(items: list[Any]) -> list[Any] | None:
        found = [m for m in items[mark:] if m["to"] == phone and "collection day" in m["body"]]
        return found if len(found) >= 2 else None

    parts = await twilio.sent.wait_for(both_parts)
    assert all(len(p["body"]) <= 1600 for p in parts) and all(p["body"].endswith("holidays.") for p in parts)
    assert (await ann.call("close", {"conversation_id": cid, "disposition": "resolved"}))["ok"]

    # After hours: the same channel gets a ticket number.
    closed, _ = await start(open_hours=False, **twilio.env())
    night = "+17045550151"
    await twilio.text_server(closed.url, night, ASK_PERSON)
    # Nothing is filed without a yes; the resident types words, then their number, instead of the list digits.
    await twilio.sent.wait_for(sms_with(night, "Would you like to leave a request?"), timeout=60)
    assert not sms_with(night, "311-")(twilio.sent.items)
    await twilio.text_server(closed.url, night, "yes")
    # Only "a person" was asked for: what the request is about comes first, then how to call back.
    await twilio.sent.wait_for(sms_with(night, "What should the 311 specialist know?"), timeout=30)
    await twilio.text_server(closed.url, night, "The streetlight at my corner is out")
    await twilio.sent.wait_for(sms_with(night, "No callback needed"), timeout=30)
    await twilio.text_server(closed.url, night, "call me at 704 555 0151")
    both = await twilio.sent.wait_for(lambda items: found if len(found := sms_with(night, "311-")(items)) >= 2
                                      else None, timeout=60)
    # "Your request has been filed … number 311-…" first, then "Track request 311-… online: <link>"
    assert "request number" in both[0]["body"].lower() and both[1]["body"].startswith("Track request"), both


# What a resident texts back to each question of a report (the first pattern that matches the latest text).
SMS_REPORT_ANSWERS = [
    (r"texting from", "1"),  # "1) Yes, this number"
    (r"Shall I submit it\?", "1"),
    (r"(?i)photo", "skip"),
    (r"(?i)follow-up", "Sam Lee"),
    (r"(?i)email", "skip"),
    (r"(?i)describe|description", "Tags all over the overpass"),
    (r"1\) ", "1"),
]


async def test_sms_report_is_filed_with_the_number_texting(stack, twilio, redis_client) -> None:  # type: ignore[no-untyped-def]
    """By SMS the report form asked "What phone number can we reach you at?" of the number it was texting
    with (probe R): chat_server hands the bot that number, and one "1" files the request with it."""
    start, _ = stack
    server, prefix = await start(**twilio.env())
    phone = "+17045550157"
    mark = len(twilio.sent.items)
    await twilio.text_server(server.url, phone, "I want to report graffiti on the bridge at 500 W Trade St")
    offered = False

    def asked(items: list[Any], m: int = 0) -> list[Any]:
        return [i for i in items[m:] if i["to"] == phone
                and ("311-" in i["body"] or any(re.search(p, i["body"]) for p, _ in SMS_REPORT_ANSWERS))]

    for _ in range(12):
        latest = (await twilio.sent.wait_for(lambda items, m=mark: asked(items, m), timeout=60))[-1]
        if "311-" in latest["body"]:
            break
        offered = offered or "704-555-0157, the number you are texting from" in latest["body"]
        answer = next(a for pattern, a in SMS_REPORT_ANSWERS if re.search(pattern, latest["body"]))
        mark = len(twilio.sent.items)
        await twilio.text_server(server.url, phone, answer)
    ticket_id = re.search(r"311-\d+", latest["body"]).group(0)  # type: ignore[union-attr]
    assert offered
    contact = json.loads(await redis_client.hget(f"{prefix}ticket:{ticket_id}", "contact"))
    assert contact["phone"] == "704-555-0157" and contact.get("first_name") == "Sam", contact


async def test_sms_first_words_choose_the_language(stack, twilio) -> None:  # type: ignore[no-untyped-def]
    """SMS has no UI language: a first text "hola" is Spanish, as it is from the widget (it was answered in
    English, because a short message could not switch the default)."""
    start, _ = stack
    server, _ = await start(**twilio.env())
    await twilio.text_server(server.url, "+17045550160", "hola")
    await twilio.text_server(server.url, "+17045550161", "hi")
    [hola] = await twilio.sent.wait_for(sms_with("+17045550160", "Hola"), timeout=60)
    [hi] = await twilio.sent.wait_for(sms_with("+17045550161", "Hi"), timeout=60)
    assert "asistente virtual" in hola["body"] and "virtual assistant" in hi["body"]
    # Settled by the first words: a later short English word does not switch the conversation back.
    mark = len(twilio.sent.items)
    await twilio.text_server(server.url, "+17045550160", "ok thanks")
    [later] = await twilio.sent.wait_for(sms_with("+17045550160", "", mark), timeout=60)
    assert "¿" in later["body"] or "¡" in later["body"], later["body"]


# ------------------------------------------------------------------------------------------ API

async def test_api_faq_escalation_agent_reply_and_after_hours_ticket(stack) -> None:  # type: ignore[no-untyped-def]
    start, agent = stack
    hook = await WebhookReceiver().start()
    try:
        server, prefix = await start()
        issued = issue(server, "CLT+", "--webhook-url", hook.url)
        hook.secret = issued["secret"]
        app = App(server.url, issued["token"])
        ann = await agent(server, prefix, "ann")
        status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "app-user-1", "language": "en"})
        assert status == 201
        path = f"/api/v1/conversations/{conv['id']}/messages"
        status, sent = await app.call("POST", path, {"text": FAQ_QUESTION, "client_msg_id": "q-1"})
        assert status == 201 and any(FAQ_ANSWER in r["text"] for r in sent["replies"]), sent["replies"]
        status, sent = await app.call("POST", path, {"text": ASK_PERSON, "client_msg_id": "q-2"})
        assert status == 201
        cid = await take_chat(ann, "api")
        assert cid == conv["id"]
        assert (await ann.call("send", {"conversation_id": cid, "text": "Hello from Ann at 311."}))["ok"]
        # The agent's reply reaches the app both ways: its webhook (signed) and a fetch since an id.
        calls = await hook.calls.wait_for(lambda items: [c for c in items if c.get("body", {}).get("message", {})
                                                         .get("sender") == "agent"])
        assert calls[0]["valid"] and calls[0]["body"]["message"]["text"] == "Hello from Ann at 311."
        status, listing = await app.call("GET", path, params={"after": sent["message"]["id"]})
        assert any(m["sender"] == "agent" and m["text"] == "Hello from Ann at 311." for m in listing["messages"])
        # in line, without the web's "keep this window open": an app has none (probe Z)
        waiting = [m["text"] for m in listing["messages"] if "in line" in m["text"]]
        assert waiting and not [t for t in waiting if "window" in t], listing["messages"]
        assert listing["conversation"]["state"] == "assigned"
        assert any(c["event"] == "agent_joined" for c in hook.delivered())
        assert (await ann.call("close", {"conversation_id": cid, "disposition": "resolved"}))["ok"]

        # After hours: a ticket number on the same channel.
        closed, _ = await start(open_hours=False)
        night = App(closed.url, issue(closed, "CLT+ night")["token"])
        status, conv = await night.call("POST", "/api/v1/conversations", {"user_id": "app-user-2"})
        night_path = f"/api/v1/conversations/{conv['id']}/messages"
        status, sent = await night.call("POST", night_path, {"text": ASK_PERSON})
        assert status == 201 and not sent["conversation"]["ticket_id"]
        offer = next(r for r in sent["replies"] if "leave a request" in r["text"])
        yes = next(q["payload"] for q in offer["quick_replies"] if q["title"].startswith("Yes"))
        status, sent = await night.call("POST", night_path, {"text": yes})
        assert status == 201 and not sent["conversation"]["ticket_id"], sent
        [question] = [r for r in sent["replies"] if "What should the 311 specialist know?" in r["text"]]
        assert [q["title"] for q in question["quick_replies"]] == ["Skip"]
        status, sent = await night.call("POST", night_path, {"text": "Is the landfill open on Saturdays?"})
        assert status == 201 and any("No callback needed" in str(r.get("quick_replies")) for r in sent["replies"])
        status, sent = await night.call("POST", night_path, {"text": "no callback"})
        assert status == 201
        assert any("311-" in r["text"] for r in sent["replies"]), sent["replies"]
        assert sent["conversation"]["ticket_id"] and sent["conversation"]["ticket_id"].startswith("311-")
    finally:
        await hook.stop()


async def api_report(app: App, user_id: str, until: str) -> tuple[str, list[dict[str, Any]]]:
    """One app user reports a pothole, answering the bot's form, until a reply contains `until`:
    (the conversation id, the bot's replies so far)."""
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": user_id, "language": "en"})
    assert status == 201
    path = f"/api/v1/conversations/{conv['id']}/messages"
    said, seen = "I want to report a pothole", []
    for _ in range(14):
        status, sent = await app.call("POST", path, {"text": said})
        assert status == 201, sent
        seen += sent["replies"]
        if any(until in r["text"] for r in sent["replies"]):
            return conv["id"], seen
        last = sent["replies"][-1] if sent["replies"] else {"text": "", "quick_replies": []}
        answer = next((a for pattern, a in ANSWERS["en"] if re.search(pattern, last["text"])), None)
        assert answer is not None, [r["text"] for r in seen]
        pick = BUTTON_PICK["en"].get(answer, "\0")
        said = next((b["payload"] for b in last.get("quick_replies") or [] if b["title"].lower().startswith(pick)),
                    answer)
    raise AssertionError([r["text"] for r in seen])


async def test_api_app_hears_of_a_request_filed_and_of_one_followed(stack) -> None:  # type: ignore[no-untyped-def]
    """The app's webhook gets `ticket_created` for a new request and `ticket_followed` when its resident
    follows one already reported, with its status link either way (SMS and the widget had both)."""
    start, _ = stack
    hook = await WebhookReceiver().start()
    try:
        server, _ = await start(open_hours=False)
        issued = issue(server, "CLT+", "--webhook-url", hook.url)
        hook.secret = issued["secret"]
        app = App(server.url, issued["token"])
        await api_report(app, "app-user-first", "311-")
        [created] = await hook.calls.wait_for(lambda items: [c for c in items if c.get("event") == "ticket_created"])
        ticket_id = created["body"]["data"]["ticket_id"]
        assert created["valid"] and created["body"]["data"]["status_url"].endswith(f"/status/{ticket_id}")
        # A second app user, same pothole: told it is already reported, and follows it.
        cid, seen = await api_report(app, "app-user-second", "already reported as")
        question = next(r for r in seen if "already reported as" in r["text"])
        follow = next(q["payload"] for q in question["quick_replies"] if q["payload"] == "/duplicate_follow")
        status, sent = await app.call("POST", f"/api/v1/conversations/{cid}/messages",
                                      {"text": follow})
        assert status == 201 and any(f"following {ticket_id}" in r["text"] for r in sent["replies"]), sent
        [followed] = await hook.calls.wait_for(lambda items: [c for c in items if c.get("event") == "ticket_followed"])
        assert followed["valid"] and followed["body"]["user_id"] == "app-user-second"
        assert followed["body"]["data"]["ticket_id"] == ticket_id
        assert followed["body"]["data"]["status_url"].endswith(f"/status/{ticket_id}")
        assert len([c for c in hook.delivered() if c.get("event") == "ticket_created"]) == 1
    finally:
        await hook.stop()


async def test_api_without_a_language_is_settled_by_the_first_words(stack) -> None:  # type: ignore[no-untyped-def]
    """An app that names no language: "buenos días" opened the conversation in English."""
    start, _ = stack
    server, _ = await start(open_hours=False)
    app = App(server.url, issue(server, "CLT+ lang")["token"])
    status, conv = await app.call("POST", "/api/v1/conversations", {"user_id": "app-user-es"})
    assert status == 201
    status, sent = await app.call("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": "buenos días"})
    assert status == 201 and sent["conversation"]["language"] == "es", sent
    assert any("asistente virtual" in r["text"] for r in sent["replies"]), sent["replies"]


# ------------------------------------------------------------------------------------------ e-mail

async def test_email_faq_escalation_agent_reply_and_after_hours_ticket(stack, redis_client) -> None:  # type: ignore[no-untyped-def]
    start, agent = stack
    relay = await SmtpCapture().start()
    try:
        server, prefix = await start(**email_env(relay))
        ann = await agent(server, prefix, "ann")
        resident = "sam@resident.test"
        first = compose(resident, "Trash", FAQ_QUESTION)
        await mail_to_city(server, first)
        [answer] = await relay.messages.wait_for(mails_to(relay, resident, FAQ_ANSWER), timeout=60)
        assert answer["In-Reply-To"] == first["Message-ID"]
        quoted = "\n".join(f"> {line}" for line in body_of(answer).splitlines())
        follow_up = compose(resident, "Re: Trash", f"{ASK_PERSON}\n\nOn Tue, Nov 24, 2026, City 311 wrote:\n{quoted}",
                            in_reply_to=answer)
        await mail_to_city(server, follow_up)
        cid = await take_chat(ann, "email")
        assert (await ann.call("send", {"conversation_id": cid, "text": "Hello Sam, Ann from 311 here."}))["ok"]
        [mail] = await relay.messages.wait_for(mails_to(relay, resident, "Hello Sam, Ann from 311 here."))
        assert mail["Subject"] == "Re: Trash" and mail["In-Reply-To"] == follow_up["Message-ID"]
        assert f"<conv-{cid}@city.test>" in mail["References"]
        same, messages = await channel_messages(redis_client, prefix, "email", resident)
        assert same == cid and [m["text"] for m in messages if m["sender"] == "resident"] == [FAQ_QUESTION, ASK_PERSON]
        assert (await ann.call("close", {"conversation_id": cid, "disposition": "resolved"}))["ok"]

        # After hours: the ticket number comes by e-mail.
        closed, _ = await start(open_hours=False, **email_env(relay))
        night = "night@resident.test"
        asked = compose(night, "Help", ASK_PERSON)
        await mail_to_city(closed, asked)
        [offer] = await relay.messages.wait_for(mails_to(relay, night, "leave a request"), timeout=60)
        yes = compose(night, "Re: Help", "Yes", in_reply_to=offer)
        await mail_to_city(closed, yes)
        [question] = await relay.messages.wait_for(mails_to(relay, night, "What should the 311 specialist know?"),
                                                   timeout=30)
        await mail_to_city(closed, compose(night, "Re: Help", "A tree fell on the fence behind my house.",
                                           in_reply_to=question))
        [how] = await relay.messages.wait_for(mails_to(relay, night, "No callback needed"), timeout=30)
        await mail_to_city(closed, compose(night, "Re: Help", f"by email: {night}", in_reply_to=how))
        [ticket] = await relay.messages.wait_for(mails_to(relay, night, "311-"), timeout=60)
        assert ticket["In-Reply-To"]
    finally:
        await relay.stop()
