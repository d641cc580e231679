"""Escalation end to end on real processes: login, queue, offer/accept, chat, notes, close, transfer,
offer timeout, agent disconnect → requeue, after-hours / no-agent / long-wait tickets."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import aiohttp
import pytest
import socketio

from chat_server import safety
from chat_server.conversations.store import ConversationStore
from tests.support.agents import (
    PASSWORD,
    AgentClient,
    accepted_chat,
    agent_client,
    escalate,
    escalation_env,
    fresh_prefix,
    login,
    make_agent,
)
from tests.support.servers import wait_for_emergency_net
from tests.support.tickets import ANSWERS, transcript

pytestmark = pytest.mark.rasa


@pytest.fixture
async def setup(server_factory, redis_server):  # type: ignore[no-untyped-def]
    """(server, prefix) factory with isolated keys; agents made through `make`."""
    clients: list[AgentClient] = []

    async def start(**extra: str) -> tuple[Any, str]:
        prefix = fresh_prefix()
        server = await server_factory(**escalation_env(prefix, **extra))
        return server, prefix

    async def agent(server: Any, prefix: str, username: str, **kwargs: Any) -> AgentClient:
        await make_agent(redis_server.url, prefix, username, **kwargs)
        client = await agent_client(server.url, username)
        clients.append(client)
        return client

    yield start, agent
    for client in clients:
        await client.close()


def texts(resident: Any, sender: str | None = None) -> list[str]:
    return [m.get("text", "") for m in resident.of("bot_uttered") if sender is None or m.get("sender") == sender]


async def test_console_requires_login(setup, redis_server) -> None:  # type: ignore[no-untyped-def]
    start, _ = setup
    server, prefix = await start(CHAT311_ROUTING__LOGIN_MAX_FAILURES="3")
    await make_agent(redis_server.url, prefix, "ann")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/console", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/console/login"
        async with http.get(f"{server.url}/console/api/me") as resp:
            assert resp.status == 401
        async with http.get(f"{server.url}/console/login") as resp:
            assert resp.status == 200
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            page = await resp.text()  # the form works without scripts; the only one (i18n.js) is a file of ours
            assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/staff/i18n.js" defer>']
            assert "</script>" not in page.replace('<script src="/static/staff/i18n.js" defer></script>', "")
        # No CSRF token → refused.
        async with http.post(f"{server.url}/console/login", data={"username": "ann", "password": "x" * 12},
                             allow_redirects=False) as resp:
            assert resp.status == 400
    # No cookie / a made-up cookie: the /agents namespace refuses the connection.
    for headers in ({}, {"Cookie": "c311_agent=forged-token"}):
        sio = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(server.url, namespaces=["/agents"], transports=["websocket"], headers=headers,
                              wait_timeout=5)
        await sio.disconnect()
    # Wrong password, then throttled even with the right one; other usernames are not affected.
    for _ in range(3):
        assert (await login(server.url, "ann", "wrong password!"))[0] == 401
    assert (await login(server.url, "ann"))[0] == 429
    assert (await login(server.url, "nobody", "whatever-pass"))[0] == 401
    await make_agent(redis_server.url, prefix, "bob")
    status, token = await login(server.url, "bob")
    assert status == 303 and token
    # Cookie flags, /console reachable, logout needs the session's CSRF token.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{server.url}/console/login") as resp:
            page = await resp.text()
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        async with http.post(f"{server.url}/console/login", allow_redirects=False,
                             data={"csrf": csrf, "username": "bob", "password": "correct horse battery"}) as resp:
            set_cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie" and "c311_agent=" in v)
            assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            logged_out_token = set_cookie.split("c311_agent=", 1)[1].split(";", 1)[0]
            assert logged_out_token and logged_out_token != token
        async with http.get(f"{server.url}/console") as resp:
            assert resp.status == 200 and "console.js" in await resp.text()
        async with http.get(f"{server.url}/console/api/me") as resp:
            me = await resp.json()
            assert me["username"] == "bob" and me["csrf"]
        async with http.post(f"{server.url}/console/logout", data={"csrf": "nope"}, allow_redirects=False) as resp:
            assert resp.status == 403
        async with http.post(f"{server.url}/console/logout", data={"csrf": me["csrf"]},
                             allow_redirects=False) as resp:
            assert resp.status == 303
        async with http.get(f"{server.url}/console/api/me") as resp:
            assert resp.status == 401
    # The logged-out token no longer opens the namespace ...
    stale = AgentClient(server.url, logged_out_token, "bob")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await stale.connect()
    await stale.close()
    # ... while bob's *other* session (from login()) is still valid.
    client = AgentClient(server.url, token, "bob")
    await client.connect()
    assert client.sio.connected
    await client.close()


@pytest.mark.parametrize("roles,home", [(("agent",), "/console"), (("supervisor",), "/console/supervisor"),
                                        (("agent", "supervisor"), "/console"),
                                        (("content",), "/console/training"), (("admin",), "/console/supervisor")])
async def test_sign_in_lands_where_the_role_can_work(setup, redis_server, roles, home) -> None:  # type: ignore[no-untyped-def]
    """People who take no chats are not sent to the agent console (it refused them and bounced them
    back to the login page, which sent them to the console again, forever)."""
    start, _ = setup
    server, prefix = await start()
    await make_agent(redis_server.url, prefix, "pat", roles=roles)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{server.url}/console/login") as resp:
            csrf = (await resp.text()).split('name="csrf" value="')[1].split('"')[0]
        async with http.post(f"{server.url}/console/login", allow_redirects=False,
                             data={"csrf": csrf, "username": "pat", "password": PASSWORD}) as resp:
            assert resp.status == 303 and resp.headers["Location"] == home
        for path in ("/console/login", "/console"):
            async with http.get(f"{server.url}{path}", allow_redirects=False) as resp:
                if path == "/console" and set(roles) & {"agent", "supervisor"}:
                    assert resp.status == 200  # a supervisor lands on the dashboard and may still take chats
                else:
                    assert resp.status == 303 and resp.headers["Location"] == home, path
        async with http.get(f"{server.url}{home}") as resp:
            assert resp.status == 200


async def test_escalate_accept_chat_note_close(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    res = await resident(server.url)
    await res.start_session()
    await res.turn("hello")
    await escalate(res, "I want to talk to a person")
    update = res.of("queue_update")[0]
    assert update["position"] == 1 and isinstance(update["estimated_wait_s"], int)
    offer = await ann.wait_for("offer")
    cid = offer["conversation_id"]
    assert offer["language"] == "en"
    ack = await ann.call("accept", {"conversation_id": cid})
    assert ack["ok"], ack
    view = ack["conversation"]
    assert any(m["sender"] == "bot" for m in view["messages"])  # the bot transcript is there
    assert view["label"] == "request_human"
    joined = await res.wait_for("agent_joined")
    assert joined == {"name": "Ann"}
    await res.wait_for("bot_uttered", lambda m: m.get("sender") == "system" and "Ann" in m.get("text", ""))
    # Resident → agent; the bot stays silent.
    bot_before = len(texts(res, "bot"))
    mark = len(ann.events)
    ack = await res.say("my trash was not picked up")
    assert ack["ok"]
    got = await ann.wait_for("message", lambda d: d["sender"] == "resident", after=mark)
    assert got["text"] == "my trash was not picked up" and got["conversation_id"] == cid
    # Agent typing and message → resident.
    assert (await ann.call("typing", {"conversation_id": cid, "on": True}))["ok"]
    await res.wait_for("typing", lambda d: d == {"sender": "agent", "on": True})
    assert (await ann.call("send", {"conversation_id": cid, "text": "Sorry about that, I'll help."}))["ok"]
    msg = await res.wait_for("bot_uttered", lambda m: m.get("sender") == "agent")
    assert msg["text"] == "Sorry about that, I'll help." and msg["agent_name"] == "Ann"
    # Internal note: visible to agents, never to the resident (live or on replay).
    note = await ann.call("note", {"conversation_id": cid, "text": "INTERNAL repeat caller"})
    assert note["ok"]
    await ann.wait_for("message", lambda d: d.get("visibility") == "internal")
    # A packet too big to read is refused as such (it was "unknown event '__invalid_payload_…'", probe S).
    huge = await ann.call("note", {"conversation_id": cid, "text": "x" * 50_000})
    assert huge["ok"] is False and huge["error"]["code"] == "too_large", huge
    # Somebody else's actions are refused.
    assert (await ann.call("close", {"conversation_id": cid, "disposition": "made_up"}))["error"]["code"] == \
        "bad_disposition"
    # Knowledge search finds the city's article (the one KnowledgeSearch), in the query's language.
    kb = await ann.call("kb_search", {"q": "how do I pay my water bill"})
    assert kb["ok"] and kb["results"] and kb["results"][0]["topic"] == "utility_bill"
    assert kb["results"][0]["language"] == "en" and "https://" in kb["results"][0]["body"]
    kb = await ann.call("kb_search", {"q": "¿cómo pago la factura del agua?"})
    assert kb["results"][0]["topic"] == "utility_bill" and kb["results"][0]["language"] == "es"
    # Two closes at once (a double-click): one goodbye, one close (both were said and counted, probe S).
    both = await asyncio.gather(*(ann.call("close", {"conversation_id": cid, "disposition": "resolved"})
                                  for _ in range(2)))
    assert sorted(bool(a.get("ok")) for a in both) == [False, True], both
    assert next(a for a in both if not a.get("ok"))["error"]["code"] == "already_closed"
    closed = await res.wait_for("conversation_closed")
    assert closed["reason"] == "agent_closed"
    await ann.wait_for("chat_closed", lambda d: d["conversation_id"] == cid)
    assert len(texts(res, "bot")) == bot_before  # bot said nothing while the agent had it
    assert not any("INTERNAL" in t for t in texts(res))
    replay = await resident(server.url)
    await replay.start_session(res.session_id, last_message_id="0")
    await asyncio.sleep(0.5)
    assert replay.messages() and not any("INTERNAL" in (m.get("text") or "") for m in replay.messages())
    # After close the resident starts again with the bot.
    replies = await res.turn("hello")
    assert any(r.get("sender") == "bot" for r in replies)
    assert len(res.of("conversation_closed")) == 1 and len([t for t in texts(res) if "ended the chat" in t]) == 1
    again = await ann.call("close", {"conversation_id": cid, "disposition": "resolved"})
    assert again["error"]["code"] == "already_closed"  # closed, its outcome recorded: nothing to do


async def test_the_agent_sees_the_reports_answers_and_not_its_skipped_questions(  # type: ignore[no-untyped-def]
        setup, resident) -> None:
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    res = await resident(server.url)
    await res.start_session()
    for text in ("there's a pothole at 600 E 4th St", "travel lane", "skip"):
        await res.turn(text)
    await escalate(res, "I want to talk to a person")
    cid = (await ann.wait_for("offer"))["conversation_id"]
    ack = await ann.call("accept", {"conversation_id": cid})
    assert ack["ok"], ack
    panel = ack["conversation"]["collected"]
    assert panel["service_code"] == "POTHOLE" and panel["address"] == "600 E 4th St"
    assert [(a["code"], a["value"], a["words"]) for a in panel["attributes"]] == [("road_position", "lane",
                                                                                   "Travel lane")]
    assert "skipped" not in str(panel) and panel["contact"] == {}


async def test_an_emergency_in_the_queue_goes_first_and_alerts_the_console(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=1)
    _, first_cid = await accepted_chat(ann, resident, server.url)
    waiting = []
    for _ in range(2):  # Ann is full: both wait, in the order they asked
        res = await resident(server.url)
        await res.start_session()
        await escalate(res, "I want to talk to a person")
        waiting.append(res)
    mark = len(ann.events)
    await waiting[1].say("my neighbor's house is on fire")
    await waiting[1].wait_for("bot_uttered", lambda m: "911" in m.get("text", ""))
    alert = await ann.wait_for("urgent", after=mark)
    assert alert["urgent"] is True and not alert["agent"] and alert["state"] == "queued"
    urgent_cid = alert["conversation_id"]
    queue = await ann.wait_for("queue", lambda d: d["items"] and d["items"][0]["conversation_id"] == urgent_cid,
                               after=mark)
    assert [i["urgent"] for i in queue["items"]] == [True, False]
    # The resident is told they moved up; the one who asked first is not skipped in silence by the count.
    await waiting[1].wait_for("queue_update", lambda d: d["position"] == 1)
    # When Ann is free, the urgent chat is offered first, marked as such.
    mark = len(ann.events)
    assert (await ann.call("close", {"conversation_id": first_cid, "disposition": "resolved"}))["ok"]
    offer = await ann.wait_for("offer", after=mark)
    assert offer["conversation_id"] == urgent_cid and offer["urgent"] is True


async def test_logging_out_hands_the_chats_back_at_once(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    res, cid = await accepted_chat(ann, resident, server.url)
    await res.wait_for("agent_joined")
    mark = len(res.events)
    # Ann's socket is still connected (a lost connection would wait out the grace): the logout itself requeues.
    assert (await ann.call("sign_out"))["ok"]
    update = await res.wait_for("queue_update", after=mark)
    assert update["position"] == 1
    view = await ann.call("open", {"conversation_id": cid})
    assert view["ok"] and view["conversation"]["state"] == "queued" and not view["conversation"]["mine"]
    # Ann was the only agent: the resident hears what a new one would, not "being transferred" and a short wait
    # (probe AF), with the way to leave a request instead.
    told = await res.wait_for("bot_uttered", lambda m: "No agent who can take your chat" in m.get("text", ""),
                              after=mark)
    assert "311" in told["text"] and len(told.get("quick_replies") or []) == 1, told


async def test_a_chat_is_not_transferred_to_an_agent_without_its_language(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ana = await agent(server, prefix, "ana", name="Ana", languages=("en", "es"))
    ben = await agent(server, prefix, "ben", name="Ben", languages=("en",))
    res = await resident(server.url)
    await res.start_session()
    await res.turn("hola", language="es")
    await escalate(res, "quiero hablar con una persona")
    cid = (await ana.wait_for("offer"))["conversation_id"]
    assert (await ana.call("accept", {"conversation_id": cid}))["ok"]
    refused = await ana.call("transfer", {"conversation_id": cid, "to": "ben"})
    assert refused["error"]["code"] == "target_language" and "Spanish" in refused["error"]["message"], refused
    view = await ana.call("open", {"conversation_id": cid})
    assert view["conversation"]["mine"] and not [e for e, _ in ben.events if e == "chat_assigned"]


async def test_a_resident_who_closed_the_page_is_shown_and_not_left_in_the_queue(  # type: ignore[no-untyped-def]
        setup, resident, redis_client) -> None:
    start, agent = setup
    server, prefix = await start(CHAT311_ROUTING__RESIDENT_GONE_S="1")
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=1)
    first = await resident(server.url)
    session = await first.start_session()
    await escalate(first, "I want to talk to a person")
    cid = (await ann.wait_for("offer"))["conversation_id"]
    assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
    # With Ann: she sees the resident close the page and come back (a reload).
    mark = len(ann.events)
    await first.close()
    gone = await ann.wait_for("resident_presence", lambda d: d["conversation_id"] == cid, after=mark)
    assert gone["present"] is False
    view = await ann.call("open", {"conversation_id": cid})
    assert view["conversation"]["resident_away"] is True and view["conversation"]["state"] == "assigned"
    back = await resident(server.url)
    await back.start_session(session)
    await ann.wait_for("resident_presence", lambda d: d["conversation_id"] == cid and d["present"], after=mark)
    assert await back.wait_for("agent_joined") == {"name": "Ann"}  # the reloaded page says who has the chat
    # Waiting (Ann is full): a resident who closed the page for good is not left in the queue for an agent.
    waiting = await resident(server.url)
    await waiting.start_session()
    await escalate(waiting, "I want to talk to a person")
    [queued] = (await ann.call("hello"))["queue"]
    wcid = queued["conversation_id"]
    reloaded = await resident(server.url)  # the same page reloaded: its place in line is said again
    await reloaded.start_session(waiting.session_id)
    assert (await reloaded.wait_for("queue_update"))["position"] == 1
    await reloaded.close()
    mark = len(ann.events)
    await waiting.close()
    await ann.wait_for("queue", lambda d: not d["items"], after=mark)
    conv = await redis_client.hgetall(f"{prefix}conv:{wcid}")
    assert conv[b"state"] == b"closed" and conv[b"closed_reason"] == b"resident_left"
    assert (await ann.call("open", {"conversation_id": cid}))["conversation"]["state"] == "assigned"
    # A resident who left while Ann had the chat, requeued when she signs out, is not left in the queue either.
    await back.close()
    await ann.wait_for("resident_presence", lambda d: d["conversation_id"] == cid and not d["present"], after=mark)
    mark = len(ann.events)
    assert (await ann.call("sign_out"))["ok"]
    await ann.wait_for("queue", lambda d: [i["conversation_id"] for i in d["items"]] == [cid], after=mark)
    requeued = next(i for i, (e, d) in enumerate(ann.events) if i >= mark and e == "queue" and d["items"])
    await ann.wait_for("queue", lambda d: not d["items"], after=requeued + 1)
    conv = await redis_client.hgetall(f"{prefix}conv:{cid}")
    assert conv[b"state"] == b"closed" and conv[b"closed_reason"] == b"resident_left", ann.events[mark:]


async def test_a_chat_nobody_writes_in_for_long_is_closed_even_with_staff(  # type: ignore[no-untyped-def]
        setup, resident, redis_client) -> None:
    """A chat left in the queue, or one an agent never closed, stayed open for ever, and retention purges closed
    conversations only: after `staff_idle_close_s` of silence both close, so that they can be purged."""
    start, agent = setup
    server, prefix = await start(CHAT311_RETENTION__STAFF_IDLE_CLOSE_S="4")
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=1)
    with_ann, cid = await accepted_chat(ann, resident, server.url)
    waiting = await resident(server.url)
    await waiting.start_session()
    await escalate(waiting, "I want to talk to a person")
    for res in (with_ann, waiting):
        assert (await res.wait_for("conversation_closed", timeout=30))["reason"] == "idle"
    assert (await ann.wait_for("chat_closed", lambda d: d["conversation_id"] == cid))["reason"] == "idle"
    await ann.wait_for("queue", lambda d: not d["items"])
    store_ids = [await ConversationStore(redis_client, prefix).session_conversations(str(r.session_id))
                 for r in (with_ann, waiting)]
    for [conv_id] in store_ids:
        conv = await redis_client.hgetall(f"{prefix}conv:{conv_id}")
        assert conv[b"state"] == b"closed" and conv[b"closed_reason"] == b"idle"
        assert float(conv[b"closed_at"]) >= float(conv[b"created_at"])  # retention counts from here
        assert not await redis_client.sismember(f"{prefix}convs:open", conv_id)


@pytest.mark.parametrize(("said", "told"), [("never mind, I figured it out", "taken you out of the line"),
                                           ("ya no, gracias", "lo saqué de la fila")])
async def test_a_resident_who_no_longer_needs_an_agent_leaves_the_line(  # type: ignore[no-untyped-def]
        setup, resident, redis_client, said: str, told: str) -> None:
    """"never mind, I figured it out" got no answer, the chat stayed queued and was offered to the next free agent
    ahead of a resident still waiting (probe N)."""
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=0)  # online, no free seat: the chat waits
    res = await resident(server.url)
    await res.start_session()
    await escalate(res, "quiero hablar con una persona" if told.startswith("lo") else "I want to talk to a person")
    [queued] = (await ann.call("hello"))["queue"]
    mark = len(ann.events)
    await res.say(said)
    await res.wait_for("bot_uttered", lambda m: told in m.get("text", ""))
    await ann.wait_for("queue", lambda d: not d["items"], after=mark)
    conv = await redis_client.hgetall(f"{prefix}conv:{queued['conversation_id']}")
    assert conv[b"state"] == b"bot"
    waiting = await resident(server.url)  # "no thanks" to nothing asked keeps a resident in line
    await waiting.start_session()
    await escalate(waiting, "I want to talk to a person")
    await waiting.say("no thanks")
    assert len((await ann.call("hello"))["queue"]) == 1


async def test_a_queued_residents_messages_are_acknowledged_once_and_kept_for_the_agent(  # type: ignore[no-untyped-def]
        setup, resident) -> None:
    """What a resident typed while waiting got no answer at all, and they wrote again into the silence (probe N)."""
    start, agent = setup
    server, prefix = await start()
    await agent(server, prefix, "ann", name="Ann", max_chats=0)  # online, no free seat: the chat waits
    res = await resident(server.url)
    await res.start_session()
    await escalate(res, "I want to talk to a person")
    for said in ("it's about my water bill", "it doubled this month", "are you there?"):
        assert (await res.say(said)).get("ok")
    bob = await agent(server, prefix, "bob", name="Bob")
    cid = (await bob.wait_for("offer"))["conversation_id"]
    assert (await bob.call("accept", {"conversation_id": cid}))["ok"]
    await res.wait_for("bot_uttered", lambda m: "Bob joined" in m.get("text", ""))
    kept = [m for m in res.of("bot_uttered") if "your message is kept" in m.get("text", "")]
    assert len(kept) == 1, res.messages()
    read = [m["text"] for m in (await bob.call("open", {"conversation_id": cid}))["conversation"]["messages"]]
    assert {"it's about my water bill", "it doubled this month", "are you there?"} <= set(read), read


async def test_a_queued_residents_emergency_gets_only_the_911_answer(setup, resident) -> None:  # type: ignore[no-untyped-def]
    """A resident waiting in line who wrote an emergency was first told "your message is kept, the agent will read
    it when they join", and only then "call 911" (probe S)."""
    start, agent = setup
    server, prefix = await start()
    await agent(server, prefix, "ann", name="Ann", max_chats=0)  # online, no free seat: the chat waits
    for said, later, kept in (("someone is breaking into my neighbor's house right now with a gun", "are you there?",
                                "kept"),
                               ("mi vecino está inconsciente en el suelo y no respira", "¿hay alguien?", "guardado")):
        res = await resident(server.url)
        await res.start_session()
        await escalate(res)
        mark = len(res.events)
        assert (await res.say(said)).get("ok")
        first = await res.wait_for("bot_uttered", after=mark)
        assert "911" in first["text"], first
        assert (await res.say(later)).get("ok")
        await res.wait_for("bot_uttered", lambda m, k=kept: k in m["text"], after=mark)
        told = [d["text"] for e, d in res.events[mark:] if e == "bot_uttered"]
        assert "911" in told[0] and len([t for t in told if kept in t]) == 1, told


async def test_a_queued_emergency_no_wording_knows_is_read_by_its_meaning(setup, resident) -> None:  # type: ignore[no-untyped-def]
    """The semantic net reads a queued resident's words too: the 911 answer and the console's alert, and not "your
    message is kept" as if it could wait for an agent."""
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=0)  # online, no free seat: the chat waits
    await wait_for_emergency_net(server.url)
    res = await resident(server.url)
    await res.start_session()
    await escalate(res)
    mark, console_mark = len(res.events), len(ann.events)
    said = "my grandpa is on the floor and his eyes are rolling back"
    assert safety.emergency_language(said) is None  # no wording knows it
    assert (await res.say(said)).get("ok")
    first = await res.wait_for("bot_uttered", after=mark)
    assert "911" in first["text"] and "988" in first["text"], first
    alert = await ann.wait_for("urgent", after=console_mark)
    assert alert["urgent"] is True and alert["state"] == "queued"
    assert (await res.say("are you there?")).get("ok")
    await res.wait_for("bot_uttered", lambda m: "kept" in m["text"], after=mark)
    told = [d["text"] for e, d in res.events[mark:] if e == "bot_uttered"]
    assert "911" in told[0] and len([t for t in told if "kept" in t]) == 1, told


async def test_a_chat_looked_at_in_the_queue_is_not_heard_once_a_colleague_takes_it(setup, resident) -> None:  # type: ignore[no-untyped-def]
    """Probe AF: an agent who viewed a waiting chat went on receiving it after a colleague accepted it: the resident's
    phone number, the colleague's replies and internal notes. A supervisor watching it is let back in."""
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann", max_chats=1)
    bob = await agent(server, prefix, "bob", name="Bob", max_chats=1)
    sue = await agent(server, prefix, "sue", name="Sue", roles=("agent", "supervisor"), max_chats=1)
    for away in (bob, sue):
        assert (await away.call("set_status", {"status": "away"}))["ok"]
    res = await resident(server.url)
    await res.start_session()
    mark = len(ann.events)
    await escalate(res, "I want to talk to a person")
    cid = (await ann.wait_for("offer", after=mark))["conversation_id"]
    for looker in (bob, sue):
        assert (await looker.call("open", {"conversation_id": cid}))["ok"]  # a look at the queue
    marks = {c: len(c.events) for c in (bob, sue)}
    assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
    closed = await bob.wait_for("view_closed", after=marks[bob])
    assert closed == {"conversation_id": cid, "taken_by": "Ann"}
    assert (await bob.call("open", {"conversation_id": cid}))["error"]["code"] == "not_yours"
    assert (await sue.call("open", {"conversation_id": cid}))["ok"]  # the console's answer to view_closed
    assert (await ann.call("note", {"conversation_id": cid, "text": "called twice last week"}))["ok"]
    assert (await res.say("my phone is 704 555 0101")).get("ok")
    await ann.wait_for("message", lambda d: "704" in d.get("text", ""))
    await sue.wait_for("message", lambda d: "704" in d.get("text", ""))
    assert (await bob.call("heartbeat"))  # whatever was sent to Bob before this answer has arrived
    heard = [d for e, d in bob.events[marks[bob]:] if e == "message" and d.get("conversation_id") == cid]
    assert heard == [], heard


async def test_accepting_in_one_tab_updates_the_others(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    other_tab = await agent_client(server.url, "ann")
    try:
        res = await resident(server.url)
        await res.start_session()
        await escalate(res, "I want to talk to a person")
        cid = (await other_tab.wait_for("offer"))["conversation_id"]
        assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
        withdrawn = await other_tab.wait_for("offer_withdrawn", lambda d: d["conversation_id"] == cid)
        assert withdrawn["reason"] == "accepted"
        assigned = await other_tab.wait_for("chat_assigned", lambda d: d["conversation_id"] == cid)
        assert assigned["state"] == "assigned" and assigned["agent"] == "ann"
    finally:
        await other_tab.close()


async def test_a_chat_the_resident_ended_still_gets_its_outcome(setup, resident, redis_client) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    res, cid = await accepted_chat(ann, resident, server.url)
    assert (await res.sio.call("end_chat", {"session_id": res.session_id}))["ok"]
    await ann.wait_for("chat_closed", lambda d: d["conversation_id"] == cid)
    assert (await ann.call("close", {"conversation_id": cid, "disposition": "info_provided"}))["ok"]
    again = await ann.call("close", {"conversation_id": cid, "disposition": "resolved"})
    assert again["error"]["code"] == "already_closed"
    kinds = [(f[b"kind"], json.loads(f[b"data"]).get("disposition")) for _, f in
             await redis_client.xrange(f"{prefix}events") if f[b"conv"] == cid.encode()]
    conv = await redis_client.hgetall(f"{prefix}conv:{cid}")
    assert (b"wrapped_up", "info_provided") in kinds and conv[b"disposition"] == b"info_provided"


async def test_the_only_agent_can_take_back_a_chat_sent_to_the_queue(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    _, cid = await accepted_chat(ann, resident, server.url)
    assert (await ann.call("transfer", {"conversation_id": cid, "to": "queue"}))["ok"]
    # Sent back by Ann, it is not offered to her again on its own (nobody else is on) ...
    assert [i["conversation_id"] for i in (await ann.call("hello"))["queue"]] == [cid]
    mark = len(ann.events)
    # ... until she asks for it.
    assert (await ann.call("take", {"conversation_id": cid}))["ok"]
    assert (await ann.wait_for("offer", after=mark))["conversation_id"] == cid
    assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
    assert (await ann.call("take", {"conversation_id": cid}))["error"]["code"] == "not_queued"


async def test_a_reloaded_console_hears_every_chat_it_has(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    cids = []
    residents = []
    for _ in range(2):
        res, cid = await accepted_chat(ann, resident, server.url)
        cids.append(cid)
        residents.append(res)
    again = await agent_client(server.url, "ann")  # the console reloaded: a new socket
    try:
        hello = await again.call("hello", {})
        assert {c["conversation_id"] for c in hello["chats"]} == set(cids)
        for res, cid in zip(residents, cids, strict=True):
            assert (await res.say("are you there?"))["ok"]
            got = await again.wait_for("message",
                                       lambda d, c=cid: d["conversation_id"] == c and d["sender"] == "resident")
            assert got["text"] == "are you there?"
    finally:
        await again.close()


async def test_offer_timeout_then_next_agent_and_transfer(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    # No missed-offer warning here: Ann is set away at once (the warning has its own test).
    server, prefix = await start(CHAT311_ROUTING__ACCEPT_TIMEOUT_S="1.5", CHAT311_ROUTING__MISSED_OFFER_WARNING_S="0")
    ann = await agent(server, prefix, "ann", name="Ann")
    res = await resident(server.url)
    await res.start_session()
    await escalate(res)
    offer = await ann.wait_for("offer")
    cid = offer["conversation_id"]
    bob = await agent(server, prefix, "bob", name="Bob")
    # Ann ignores the offer: it is withdrawn, she is set away, Bob gets it.
    await ann.wait_for("offer_withdrawn", lambda d: d["conversation_id"] == cid)
    await ann.wait_for("status", lambda d: d["status"] == "away")
    await bob.wait_for("offer", lambda d: d["conversation_id"] == cid)
    assert (await ann.call("accept", {"conversation_id": cid}))["error"]["code"] == "offer_gone"
    assert (await bob.call("accept", {"conversation_id": cid}))["ok"]
    await res.wait_for("agent_joined", lambda d: d["name"] == "Bob")
    # Bob transfers to Ann (online again).
    assert (await ann.call("set_status", {"status": "online"}))["ok"]
    ack = await bob.call("transfer", {"conversation_id": cid, "to": "ann"})
    assert ack["ok"], ack
    handed = await ann.wait_for("chat_assigned", lambda d: d["conversation_id"] == cid)
    assert handed["reason"] == "transferred" and handed["from_name"] == "Bob"  # the console alerts Ann with it
    await res.wait_for("agent_joined", lambda d: d["name"] == "Ann")
    # Every action on a conversation that is no longer Bob's is refused, internal notes included.
    for event, extra in (("send", {"text": "still me?"}), ("note", {"text": "NOTE from bob"}),
                         ("typing", {"on": True}), ("close", {"disposition": "resolved"}),
                         ("ticket", {"service_code": "GENERAL", "description": "x"}), ("transfer", {"to": "queue"})):
        ack = await bob.call(event, {"conversation_id": cid, **extra})
        assert ack.get("error", {}).get("code") == "not_yours", (event, ack)
    assert (await ann.call("send", {"conversation_id": cid, "text": "Ann here."}))["ok"]
    await res.wait_for("bot_uttered", lambda m: m.get("agent_name") == "Ann")
    # Probe X: a transfer naming nobody quietly queued the chat; the wrong input is named as such.
    for event, data, code in (("transfer", {"conversation_id": cid}, "malformed"),
                              ("send", {"conversation_id": "nope", "text": "hi"}, "not_found"),
                              ("send", {"conversation_id": cid, "text": ["a"]}, "malformed")):
        ack = await ann.call(event, data)
        assert ack.get("error", {}).get("code") == code, (event, data, ack)
    # Ann sends it back to the queue: Bob is offered it (Ann declined it by transferring).
    mark = len(bob.events)
    assert (await ann.call("transfer", {"conversation_id": cid, "to": "queue"}))["ok"]
    await bob.wait_for("offer", lambda d: d["conversation_id"] == cid, after=mark)
    assert (await bob.call("accept", {"conversation_id": cid}))["ok"]
    assert (await bob.call("close", {"conversation_id": cid, "disposition": "info_provided"}))["ok"]
    await res.wait_for("conversation_closed")
    ack = await bob.call("note", {"conversation_id": cid, "text": "NOTE after close"})
    assert ack.get("error", {}).get("code") == "not_yours", ack
    view = await ann.call("open", {"conversation_id": cid})
    assert view.get("error", {}).get("code") == "not_yours"


async def test_agent_disconnect_requeues_without_losing_messages(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start()
    ann = await agent(server, prefix, "ann", name="Ann")
    res = await resident(server.url)
    await res.start_session()
    await escalate(res)
    cid = (await ann.wait_for("offer"))["conversation_id"]
    assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
    await res.wait_for("agent_joined")
    await res.say("first message to Ann")
    await ann.wait_for("message", lambda d: d["text"] == "first message to Ann")
    await ann.call("send", {"conversation_id": cid, "text": "Ann answering"})
    lost_at = time.time()
    await ann.close()  # connection lost
    await res.say("hello? are you still there?")  # arrives while nobody is connected
    await res.wait_for("bot_uttered", lambda m: m.get("sender") == "system" and "lost" in m.get("text", ""),
                       timeout=20)
    await res.wait_for("queue_update", lambda d: d["position"] == 1)
    bob = await agent(server, prefix, "bob", name="Bob")
    offer = await bob.wait_for("offer", lambda d: d["conversation_id"] == cid)
    # Its wait counts from the requeue, not from its first queueing: the time with Ann was not waiting.
    assert offer["queued_at"] >= lost_at and offer["waiting_s"] <= time.time() - lost_at + 0.1
    ack = await bob.call("accept", {"conversation_id": cid})
    assert ack["ok"]
    transcript = [m["text"] for m in ack["conversation"]["messages"]]
    for expected in ("first message to Ann", "Ann answering", "hello? are you still there?"):
        assert expected in transcript
    await res.wait_for("agent_joined", lambda d: d["name"] == "Bob")
    # Every message the resident saw is in Bob's view, in the same order.
    seen = [m["id"] for m in res.messages()]
    ids = [m["id"] for m in ack["conversation"]["messages"]]
    assert [i for i in ids if i in seen] == [i for i in seen if i in ids]
    assert set(seen) <= set(ids)
    # Ann reconnecting does not get the chat back.
    ann2 = await agent_client(server.url, "ann")
    hello = await ann2.call("hello")
    assert hello["ok"] and hello["chats"] == []
    await ann2.close()


async def test_no_agent_or_after_hours_offers_a_request(  # type: ignore[no-untyped-def]
        setup, resident, redis_server) -> None:
    start, agent = setup
    server, prefix = await start()
    # Inside hours but nobody online → told why and asked first; "yes" + a way to call back files it.
    res = await resident(server.url)
    await res.start_session()
    await res.say("hi")
    await res.say("/request_human")
    offer = await res.wait_for("bot_uttered", lambda m: m.get("sender") == "system"
                               and "unavailable" in m.get("text", ""), timeout=60)
    assert [q["payload"] for q in offer["quick_replies"]] == ["/callback_yes", "/callback_no"]
    assert not any("shortly" in t for t in texts(res))  # nobody could be with them: never promised
    # Only small talk and "a person" so far: asked what the request is about before how to call back.
    mark = len(res.events)
    await res.say("/callback_yes")
    question = await res.wait_for("bot_uttered", lambda m: "/callback_skip" in str(m.get("quick_replies")),
                                  after=mark)
    assert "What should the 311 specialist know?" in question["text"]
    assert "/callback_phone" not in str(question["quick_replies"])
    mark = len(res.events)
    await res.say("our recycling cart was stolen last night")
    await res.wait_for("bot_uttered", lambda m: "added that to your request" in m.get("text", ""), after=mark)
    await res.wait_for("bot_uttered", lambda m: "/callback_phone" in str(m.get("quick_replies")), after=mark)
    await res.say("ann@example.org")
    created = await res.wait_for("ticket_created", timeout=30)
    redis = redis_server.client()
    try:
        raw = await redis.hgetall(f"{prefix}ticket:{created['ticket_id']}")
        assert b"recycling cart was stolen" in raw[b"transcript"] and b"ann@" not in raw[b"transcript"]
    finally:
        await redis.aclose()
    # A supervisor closes the line (storm): even with an agent online, Spanish resident gets the closed text.
    sup = await agent(server, prefix, "sue", name="Sue", roles=("supervisor",))
    ann = await agent(server, prefix, "ann", name="Ann", roles=("agent",))
    assert (await ann.call("hours", {"mode": "closed", "minutes": 30}))["error"]["code"] == "forbidden"
    hours = await sup.call("hours", {"mode": "closed", "minutes": 30, "reason": "storm"})
    assert hours["ok"] and hours["hours"]["open"] is False and hours["hours"]["override"] == "closed"
    es = await resident(server.url)
    await es.start_session()
    await es.say("/request_human", language="es")
    await es.wait_for("bot_uttered", lambda m: m.get("sender") == "system" and "311" in m.get("text", "")
                      and "vuelve a abrir" in m.get("text", "") and "¿Desea dejar una solicitud?" in m["text"])
    await es.say("no, gracias", language="es")
    await es.wait_for("bot_uttered", lambda m: "no se registró nada" in m.get("text", ""))
    assert not es.of("queue_update") and not es.of("ticket_created")
    assert (await sup.call("hours", {"mode": "clear"}))["hours"]["open"] is True
    # With the line open again and Ann online, the bot's handoff line ("someone will be with you
    # shortly") is said, before the system's place in line.
    queued = await resident(server.url)
    await queued.start_session()
    mark = len(queued.events)
    await escalate(queued)
    await queued.wait_for("bot_uttered", lambda m: m.get("sender") == "system", after=mark)
    said = [d.get("sender") for e, d in queued.events[mark:] if e == "bot_uttered"]
    assert said[:2] == ["bot", "system"], queued.events[mark:]


async def test_closed_line_files_only_after_consent_and_only_once(  # type: ignore[no-untyped-def]
        setup, resident, redis_server) -> None:
    start, _ = setup
    server, prefix = await start(CHAT311_HOURS__WEEKLY="{}")  # never staffed
    res = await resident(server.url)
    await res.start_session()
    # Two misunderstood messages in a row: the bot escalates, the line is closed → an offer, no ticket.
    await res.turn("blorp snarfle wizzo")
    mark = len(res.events)
    await res.say("qwxz plonk frabjous")
    offer = await res.wait_for("bot_uttered", lambda m: "Would you like to leave a request?" in m.get("text", ""),
                               after=mark, timeout=60)
    assert offer["sender"] == "system"
    assert not any("shortly" in t for t in texts(res)), texts(res)
    # Talking about something else is not consent: the bot answers, nothing is filed.
    await res.turn("what day is trash pickup?")
    assert not res.of("ticket_created")
    # Asked again, the resident agrees and leaves a phone number (typed, not the button).
    mark = len(res.events)
    await res.say("/request_human")
    await res.wait_for("bot_uttered", lambda m: "Would you like to leave a request?" in m.get("text", ""),
                       after=mark, timeout=60)
    await res.say("yes")
    await res.wait_for("bot_uttered", lambda m: "/callback_email" in str(m.get("quick_replies")))
    # Offered "I can leave your question", the resident types the question where the contact was asked.
    mark = len(res.events)
    await res.say("my property tax bill doubled this year, why?")
    await res.wait_for("bot_uttered", lambda m: "added that to your request" in m.get("text", ""), after=mark)
    await res.wait_for("bot_uttered", lambda m: "/callback_email" in str(m.get("quick_replies")), after=mark)
    assert not res.of("ticket_created")
    await res.say("/callback_phone")
    await res.wait_for("bot_uttered", lambda m: "What phone number" in m.get("text", ""))
    mark = len(res.events)
    await res.say("call me maybe")  # not a number: asked again, nothing filed
    await res.wait_for("bot_uttered", lambda m: "What phone number" in m.get("text", ""), after=mark)
    await res.say("(704) 555 0142")
    created = await res.wait_for("ticket_created", timeout=30)
    await res.wait_for("bot_uttered", lambda m: "has been filed" in m.get("text", ""))  # the number, said once
    redis = redis_server.client()
    try:
        raw = await redis.hgetall(f"{prefix}ticket:{created['ticket_id']}")
        assert json.loads(raw[b"contact"]) == {"phone": "704-555-0142"}
        assert raw[b"service_code"] == b"GENERAL" and raw[b"source"] == b"after_hours"
        assert b"blorp" in raw[b"transcript"] and b"0142" not in raw[b"transcript"]
        assert b"property tax bill doubled" in raw[b"transcript"] and b"yes" not in raw[b"transcript"].split(b"\n")
        # Asking for a person again in the same conversation: told the number, no second ticket.
        mark = len(res.events)
        await res.say("/request_human")
        again = await res.wait_for("bot_uttered", lambda m: created["ticket_id"] in m.get("text", ""), after=mark,
                                   timeout=60)
        assert "already filed" in again["text"] and not again.get("quick_replies")
        assert len(res.of("ticket_created")) == 1
        assert await redis.get(f"{prefix}tickets:seq") == created["ticket_id"].split("-")[1].encode()
    finally:
        await redis.aclose()


async def test_leaving_a_request_reads_what_residents_type(  # type: ignore[no-untyped-def]
        setup, resident, redis_server) -> None:
    start, _ = setup
    server, prefix = await start(CHAT311_HOURS__WEEKLY="{}")  # never staffed

    async def offered(text: str) -> Any:
        res = await resident(server.url)
        await res.start_session()
        await res.say(text)
        await res.wait_for("bot_uttered", lambda m: "Would you like to leave a request?" in m.get("text", ""),
                           timeout=60)
        return res

    # The question came with the request for a person, and the yes with the number: filed at once.
    res = await offered("I got charged twice on my water bill this month, I want to talk to someone")
    await res.say("yes call me at 704-555-3321")
    created = await res.wait_for("ticket_created", timeout=30)
    redis = redis_server.client()
    try:
        raw = await redis.hgetall(f"{prefix}ticket:{created['ticket_id']}")
        assert json.loads(raw[b"contact"]) == {"phone": "704-555-3321"}
        assert b"charged twice" in raw[b"transcript"] and b"3321" not in raw[b"transcript"]
    finally:
        await redis.aclose()
    assert not any("What should the 311 specialist know?" in t for t in texts(res))
    # "yes please call me" with nothing said yet: the question first, then straight to the number.
    res = await offered("/request_human")
    await res.say("yes please call me")
    await res.wait_for("bot_uttered", lambda m: "/callback_skip" in str(m.get("quick_replies")))
    await res.say("the street light at my corner has been out for a week")
    await res.wait_for("bot_uttered", lambda m: "What phone number" in m.get("text", ""))
    await res.say("704 555 0177")
    await res.wait_for("ticket_created", timeout=30)
    # Nothing but "a person", no question and no way to call back: nothing a specialist could act on.
    res = await offered("/request_human")
    await res.say("/callback_yes")
    await res.wait_for("bot_uttered", lambda m: "/callback_skip" in str(m.get("quick_replies")))
    await res.say("/callback_skip")
    await res.wait_for("bot_uttered", lambda m: "/callback_none" in str(m.get("quick_replies")))
    mark = len(res.events)
    await res.say("/callback_none")
    nothing = await res.wait_for("bot_uttered", lambda m: "haven't filed a request" in m.get("text", ""), after=mark)
    assert nothing["sender"] == "system" and not res.of("ticket_created")
    # An offer's button pressed after the resident talked about something else: the offer picks up there.
    res = await offered("/request_human")
    await res.turn("what day is trash pickup?")
    mark = len(res.events)
    await res.say("/callback_yes")  # the trash question is a topic: straight to the way to call back
    await res.wait_for("bot_uttered", lambda m: "/callback_phone" in str(m.get("quick_replies")), after=mark)
    # A no while the number is asked for withdraws the offer instead of asking for the number again.
    await res.say("/callback_phone")
    await res.wait_for("bot_uttered", lambda m: "What phone number" in m.get("text", ""))
    mark = len(res.events)
    await res.say("actually never mind")
    await res.wait_for("bot_uttered", lambda m: "nothing was filed" in m.get("text", ""), after=mark)
    assert not res.of("ticket_created")


async def test_a_report_left_for_a_person_after_hours_can_still_be_finished(  # type: ignore[no-untyped-def]
        setup, resident, redis_server) -> None:
    """Asking for a person mid-report ends the form (an agent would get its answers). With nobody to take
    the chat, the resident may go back to it: the answers given so far are kept."""
    start, _ = setup
    server, prefix = await start(CHAT311_HOURS__WEEKLY="{}")  # never staffed
    res = await resident(server.url)
    await res.start_session()
    await res.turn("I want to report a pothole")
    replies = await res.turn("600 East 4th Street")
    assert "in the road" in replies[-1]["text"], transcript(res)
    mark = len(res.events)
    await res.say("/request_human")
    offer = await res.wait_for("bot_uttered", lambda m: "Would you like to leave a request?" in m.get("text", ""),
                               after=mark, timeout=60)
    assert "finish your report" in offer["text"]
    assert [q["payload"] for q in offer["quick_replies"]] == ["/callback_yes", "/callback_no", "/report_pothole"]
    await res.wait_for("typing", lambda d: d == {"sender": "bot", "on": False}, after=mark)  # that turn's end
    # "No" to a request for a specialist: nothing is filed, and the report is still offered.
    mark = len(res.events)
    await res.say("no thanks")
    declined = await res.wait_for("bot_uttered", lambda m: "not filed yet" in m.get("text", ""), after=mark)
    assert [q["payload"] for q in declined["quick_replies"]] == ["/report_pothole"]
    replies = await res.turn("yes")  # a yes to "shall we finish it?" is the report, not a new request
    said = " ".join(r["text"] for r in replies)
    assert "where we left off" in said and "in the road" in replies[-1]["text"], transcript(res)  # not the address
    answers = ANSWERS["en"]
    for _ in range(10):
        if res.of("ticket_created"):
            break
        prompt = replies[-1]["text"] if replies else ""
        answer = next((a for pattern, a in answers if re.search(pattern, prompt)), None)
        assert answer is not None and "address" not in prompt.lower(), transcript(res)
        replies = await res.turn(answer)
    created = await res.wait_for("ticket_created", timeout=30)
    redis = redis_server.client()
    try:
        raw = await redis.hgetall(f"{prefix}ticket:{created['ticket_id']}")
        assert raw[b"service_code"] == b"POTHOLE" and b"600 East 4th" in raw[b"address"]
    finally:
        await redis.aclose()

    # In Spanish, straight from the offer's button.
    es = await resident(server.url)
    await es.start_session()
    await es.turn("quiero reportar un bache", language="es")
    await es.turn("1200 Beatties Ford Road", language="es")
    mark = len(es.events)
    await es.say("quiero hablar con una persona", language="es")
    offer = await es.wait_for("bot_uttered", lambda m: "/report_pothole" in str(m.get("quick_replies")),
                              after=mark, timeout=60)
    assert "terminar con usted su reporte" in offer["text"]
    assert "Seguir con mi reporte" in [q["title"] for q in offer["quick_replies"]]
    await es.wait_for("typing", lambda d: d == {"sender": "bot", "on": False}, after=mark)  # that turn's end
    replies = await es.turn("seguir con mi reporte", language="es")  # typed rather than pressed
    assert "donde lo dejamos" in " ".join(r["text"] for r in replies), transcript(es)
    assert "bache" in replies[-1]["text"] and "Carril" in str(replies[-1].get("quick_replies")), transcript(es)
    assert not es.of("ticket_created")

    # No to finishing it, then a change of mind: the answers are still there.
    later = await resident(server.url)
    await later.start_session()
    await later.turn("I want to report a pothole")
    await later.turn("1200 Beatties Ford Road")
    mark = len(later.events)
    await later.say("/request_human")
    await later.wait_for("bot_uttered", lambda m: "/report_pothole" in str(m.get("quick_replies")), after=mark,
                         timeout=60)
    await later.wait_for("typing", lambda d: d == {"sender": "bot", "on": False}, after=mark)
    await later.say("/callback_no")
    await later.wait_for("bot_uttered", lambda m: "not filed yet" in m.get("text", ""), after=mark)
    mark = len(later.events)
    await later.say("no")
    await later.wait_for("bot_uttered", lambda m: "haven't filed your report" in m.get("text", ""), after=mark)
    replies = await later.turn("actually let's continue")
    assert "where we left off" in " ".join(r["text"] for r in replies), transcript(later)
    assert "in the road" in replies[-1]["text"], transcript(later)

    # A request for the specialist instead: the resident is told the report went with it.
    other = await resident(server.url)
    await other.start_session()
    await other.turn("I want to report a pothole")
    mark = len(other.events)
    await other.say("/request_human")
    await other.wait_for("bot_uttered", lambda m: "/report_pothole" in str(m.get("quick_replies")), after=mark,
                         timeout=60)
    await other.say("yes call me at 704-555-3322")
    await other.wait_for("ticket_created", timeout=30)
    await other.wait_for("bot_uttered", lambda m: "unfinished report was not filed on its own" in m.get("text", ""))


async def test_long_wait_offers_a_ticket(setup, resident) -> None:  # type: ignore[no-untyped-def]
    start, agent = setup
    server, prefix = await start(CHAT311_ROUTING__MAX_QUEUE_WAIT_S="1")
    await agent(server, prefix, "zero", name="Zed", max_chats=0)  # online but no free seat
    res = await resident(server.url)
    await res.start_session()
    await escalate(res)
    offer = await res.wait_for("bot_uttered", lambda m: any(q.get("payload") == "/leave_ticket"
                                                            for q in m.get("quick_replies") or []), timeout=15)
    assert offer["sender"] == "system"
    await res.say("/leave_ticket")
    # Nothing said but "a person": asked what it is about before the way to call back.
    await res.wait_for("bot_uttered", lambda m: "/callback_skip" in str(m.get("quick_replies")))
    mark = len(res.events)
    await res.say("is the landfill open on saturdays")
    await res.wait_for("bot_uttered", lambda m: "/callback_none" in str(m.get("quick_replies")), after=mark)
    await res.say("/callback_none")
    created = await res.wait_for("ticket_created", timeout=30)
    assert created["ticket_id"].startswith("311-")
    told = await res.wait_for("bot_uttered", lambda m: "status page" in m.get("text", ""))
    assert created["ticket_id"] in told["text"]  # no number or address: where the answer will be
