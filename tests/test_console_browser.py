"""The agent console in headless Chromium: log in, accept an escalated chat, exchange messages,
close it; an unauthenticated browser reaches neither the console nor the `/agents` namespace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.agents import (
    PASSWORD,
    agent_client,
    escalate,
    escalation_env,
    fresh_prefix,
    make_agent,
    offered_chat,
    sign_in,
)
from tests.support.browser import chromium, new_page
from tests.support.channel_standins import bare_server
from tests.support.images import upload_photo

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

CONSOLE_VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
async def console_server(server_factory, redis_server) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    return server, prefix


async def test_agent_logs_in_accepts_chats_and_closes(console_server, resident) -> None:  # type: ignore[no-untyped-def]
    from playwright.async_api import expect

    server, _ = console_server
    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login")
        await page.fill("#username", "ann")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/console")
        await expect(page.locator("#conn")).to_have_text("connected", timeout=10_000)
        await expect(page.locator("#me-name")).to_have_text("Ann")

        res, offer = await offered_chat(page, resident, server.url)
        await offer.locator("button.accept").click()
        await expect(page.locator("#conv")).to_be_visible()
        transcript = page.locator("#transcript")
        await expect(transcript).to_contain_text("I need help with my water bill")  # bot part of the chat
        await expect(page.locator("#conv-facts")).to_contain_text("request_human")
        await res.wait_for("agent_joined", lambda d: d["name"] == "Ann")

        # Resident → agent, rendered as text (markup stays literal).
        await res.say("<b>bold?</b> my bill is wrong")
        await expect(transcript).to_contain_text("<b>bold?</b> my bill is wrong")
        assert await transcript.locator("b").count() == 0
        # Said once to a screen reader, apart from the transcript, which is no live region (its whole history was
        # read out on every open, probe AH).
        await expect(page.locator("#said")).to_contain_text("<b>bold?</b> my bill is wrong")
        assert await transcript.get_attribute("aria-live") == "off"
        # a photo sent with words shows with them (only the words did, probe AG)
        status, body = await upload_photo(server.url, res.session_id)
        assert status == 201, body
        await res.say("here it is", attachment={"type": "image", "url": body["media_url"]})
        photo = transcript.locator("li", has_text="here it is").locator("a.attachment")
        await expect(photo).to_have_attribute("href", body["media_url"])

        # Agent → resident (typing indicator first).
        await page.fill("#composer", "Hi, this is Ann. Let me look.")
        await page.locator("#composer").press("Space")
        await res.wait_for("typing", lambda d: d == {"sender": "agent", "on": True})
        await page.dblclick("#send")  # sent once (a double-click sent it twice, probe S)
        msg = await res.wait_for("bot_uttered", lambda m: m.get("sender") == "agent")
        assert msg["text"].startswith("Hi, this is Ann.")
        await expect(transcript).to_contain_text("Hi, this is Ann.")
        assert "Hi, this is Ann." not in await page.locator("#said").inner_text()  # one's own words: not read back

        # Knowledge search shows the city's article. A fresh process loads the knowledge base in the
        # background (the model and every article's vectors): the search waits for it.
        await page.fill("#kb-q", "how do I pay my water bill")
        await expect(page.locator("#kb-results")).to_contain_text("Charlotte Water", timeout=90_000)
        # A reply over the limit is counted and refused in the box, not cut at 2,000 characters (probe S).
        await page.fill("#composer", "x" * 2010)
        await expect(page.locator("#composer-count")).to_contain_text("10 characters too many (at most 2000)")
        await page.click("#send")
        await expect(page.locator("#action-result")).to_contain_text("10 characters too many")
        assert len(await page.locator("#composer").input_value()) == 2010  # kept to shorten
        # Insert adds the article where the cursor is: it replaced what the agent had typed (probe S).
        await page.fill("#composer", "Thanks for waiting.")
        await page.locator("#kb-results button.insert").first.click()
        drafted = await page.locator("#composer").input_value()
        assert drafted.startswith("Thanks for waiting. ") and "Charlotte Water" in drafted, drafted
        await page.fill("#composer", "")

        await page.click("#close-chat")  # no outcome chosen yet: asked for one, nothing closed
        await expect(page.locator("#action-result")).to_contain_text("Choose the chat's outcome")
        assert not res.of("conversation_closed")
        await page.select_option("#disposition", "resolved")
        await page.dblclick("#close-chat")
        closed = await res.wait_for("conversation_closed")
        assert closed["reason"] == "agent_closed"
        await expect(page.locator("#conv-title")).to_contain_text("closed")
        await expect(page.locator("#action-result")).to_contain_text("closed")
        await expect(page.locator("#conv-title")).to_be_focused()  # not the page's top (the button is disabled)
        assert len([m for m in res.of("bot_uttered") if m.get("sender") == "agent"]) == 1
        assert len(res.of("conversation_closed")) == 1
        assert page.errors == []


async def test_two_chats_unread_marks_and_an_emergency_alert(console_server, resident) -> None:  # type: ignore[no-untyped-def]
    """With two chats, the one not open still reports new messages; an emergency in a chat alerts the agent."""
    from playwright.async_api import expect

    server, _ = console_server
    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        await sign_in(page, server.url, "ann")
        _, offer = await offered_chat(page, resident, server.url)
        await expect(page.locator("#offer-announce")).to_contain_text("New chat offer")  # said once, politely
        await offer.locator("button.accept").click()
        await expect(page.locator("#composer")).to_be_focused()
        # taken, it is no news: the live line kept "New chat offer: …" for a screen reader to read again (probe W)
        await expect(page.locator("#offer-announce")).to_have_text("")
        second, offer = await offered_chat(page, resident, server.url, "my trash was not picked up")
        await offer.locator("button.accept").click()
        await expect(page.locator("#transcript")).to_contain_text("my trash was not picked up")
        chats = page.locator("#my-chats li")
        await expect(chats).to_have_count(2)
        # each says when it was taken, oldest first: two chats had read alike, in a different order per tab (probe S)
        for index in range(2):
            await expect(chats.nth(index).locator("button")).to_contain_text(re.compile(r"taken \d{1,2}:\d{2}"))
        await chats.first.locator("button").click()  # back to the first chat
        await expect(page.locator("#transcript")).to_contain_text("I need help with my water bill")

        await second.say("hello? are you still there?")
        await expect(page.locator("#my-chats li.unread")).to_have_count(1)
        await second.say("my neighbor's house is on fire")
        alert = page.locator("#urgent")
        await expect(alert).to_be_visible()
        await expect(alert).to_contain_text("reported an emergency")
        await expect(page.locator("#my-chats li.urgent button")).to_contain_text("EMERGENCY reported")
        await page.click("#urgent-open")
        await expect(page.locator("#transcript")).to_contain_text("my neighbor's house is on fire")
        await expect(page.locator("#conv-urgent")).to_be_visible()
        assert page.errors == []


async def test_an_emergency_texted_after_stop_shows_the_number_to_call(redis_server, twilio) -> None:  # type: ignore[no-untyped-def]
    """No text can reach a number that replied STOP: the alert and the chat say so, with the number to call."""
    from playwright.async_api import expect

    server = await bare_server(redis_server.url, "console-sms-stop", **twilio.env())
    try:
        await make_agent(redis_server.url, server.prefix, "ann", name="Ann")
        async with chromium() as browser:
            page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
            await sign_in(page, server.url, "ann")
            phone = "+17045550193"
            await twilio.text_server(server.url, phone, "STOP")
            await twilio.text_server(server.url, phone, "my house is on fire")
            alert = page.locator("#urgent")
            await expect(alert).to_contain_text(f"No text can reach them: call them at {phone}")
            await page.click("#urgent-open")
            await expect(page.locator("#transcript")).to_contain_text("my house is on fire")
            await expect(page.locator("#conv-urgent")).to_contain_text(f"Call them at {phone}.")
            assert page.errors == []
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def accepted_in_console(server: Any, resident: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Ann signed in to the console in Chromium, with a resident's chat accepted: (page, resident)."""
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        await sign_in(page, server.url, "ann")
        res, offer = await offered_chat(page, resident, server.url)
        await offer.locator("button.accept").click()
        await expect(page.locator("#my-chats li")).to_have_count(1)  # the console has it (the accept's answer)
        yield page, res


async def test_a_console_whose_session_ended_signs_in_again_and_keeps_the_draft(  # type: ignore[no-untyped-def]
        console_server, resident, redis_client) -> None:
    """The session ended (expiry, a password change): the console said "reconnecting…" for ever, Send stayed on and
    replies went nowhere (probe S). Now it goes to the sign-in and back, with the reply being typed."""
    from playwright.async_api import expect

    server, prefix = console_server
    async with accepted_in_console(server, resident) as (page, res):
        await page.fill("#composer", "Your bill was charged twice, I am refunding")
        # what `chat311 users passwd` and an expiry do: the agent's sessions are gone
        for token_hash in await redis_client.smembers(f"{prefix}agent_sessions:ann"):
            await redis_client.delete(f"{prefix}agent_session:{token_hash.decode()}")
        # typing asks the server (the typing indicator), which tells the console its session is over; the
        # console's own polling may tell it first, and then the page is already on its way to the sign-in
        with contextlib.suppress(Exception):
            await page.evaluate("document.getElementById('composer').dispatchEvent(new Event('input'))")
        await page.wait_for_url("**/console/login?next=%2Fconsole")
        await page.fill("#username", "ann")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{server.url}/console")
        await page.locator("#my-chats li button").first.click()
        await expect(page.locator("#composer")).to_have_value("Your bill was charged twice, I am refunding")
        assert not [m for m in res.of("bot_uttered") if m.get("sender") == "agent"]  # nothing went out meanwhile
        # the ended session's requests were refused (401), which the browser logs; nothing else may have failed
        assert [e for e in page.errors if "status of 401" not in e] == [], page.errors


async def test_logging_out_with_open_chats_asks_first_and_hands_them_over(  # type: ignore[no-untyped-def]
        console_server, resident) -> None:
    """Logging out with chats open went without a word, and their residents read "Your agent lost their
    connection" (probe S)."""
    from playwright.async_api import expect

    server, _ = console_server
    async with accepted_in_console(server, resident) as (page, res):
        asked: list[str] = []

        async def answer(dialog: Any, accept: bool) -> None:
            asked.append(dialog.message)
            await (dialog.accept() if accept else dialog.dismiss())

        pending: list[Any] = []
        page.once("dialog", lambda dialog: pending.append(asyncio.ensure_future(answer(dialog, False))))
        await page.locator("form.logout button").click()
        await expect(page.locator("#conv")).to_be_visible()  # stayed: the chat is still Ann's
        assert asked == ["You have 1 open chat(s). They go back to the queue for another agent. Log out anyway?"]
        page.once("dialog", lambda dialog: pending.append(asyncio.ensure_future(answer(dialog, True))))
        await page.locator("form.logout button").click()
        await page.wait_for_url("**/console/login")
        told = await res.wait_for("bot_uttered", lambda m: "transferred to another agent" in m.get("text", ""))
        assert "lost their connection" not in told["text"]
        assert not [m for m in res.of("bot_uttered") if "lost their connection" in m.get("text", "")]


async def test_a_declined_chat_stays_on_the_queue_list_and_can_be_asked_for_again(  # type: ignore[no-untyped-def]
        console_server, resident) -> None:
    """After Decline the queue list said "(0)" while the chat waited, so "Offer it to me" was out of reach; while
    Away, "Offer it to me" promised an offer that could not come (probe S)."""
    from playwright.async_api import expect

    server, _ = console_server
    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        await sign_in(page, server.url, "ann")
        _, offer = await offered_chat(page, resident, server.url)
        await offer.locator("button.decline").click()
        await expect(page.locator("#queue li")).to_have_count(1)
        await expect(page.locator("#queue-count")).to_have_text("(1)")
        # by keyboard: the list is redrawn every few seconds, and a focused button keeps its focus across redraws
        await page.select_option("#status", "away")
        await page.locator("#queue li button.take").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#action-result")).to_contain_text("You are Away: set yourself Online")
        await expect(page.locator("#offers li.offer")).to_have_count(0)
        await page.select_option("#status", "online")  # as told: Online, and the chat asked for comes
        await expect(page.locator("#offers li.offer")).to_have_count(1, timeout=15_000)
        assert page.errors == [], page.errors


async def test_a_chat_viewed_in_the_queue_closes_when_a_colleague_takes_it(  # type: ignore[no-untyped-def]
        console_server, redis_server, resident) -> None:
    """Probe AF: an agent who had viewed a waiting chat went on reading it live after a colleague took it, under a
    stale "Conversation — queued"."""
    from playwright.async_api import expect

    server, prefix = console_server
    await make_agent(redis_server.url, prefix, "bob", name="Bob")
    bob = await agent_client(server.url, "bob")
    try:
        async with chromium() as browser:
            page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
            await sign_in(page, server.url, "ann")
            await page.select_option("#status", "away")
            res = await resident(server.url)
            await res.start_session()
            mark = len(bob.events)
            await escalate(res, "I want to talk to a person")
            cid = (await bob.wait_for("offer", after=mark))["conversation_id"]
            assert (await bob.call("decline", {"conversation_id": cid}))["ok"]  # it waits on the queue list
            await page.locator("#queue li button.view").click()
            await expect(page.locator("#conv")).to_be_visible()
            mark = len(bob.events)
            assert (await bob.call("take", {"conversation_id": cid}))["ok"]  # "Offer it to me" after all
            await bob.wait_for("offer", after=mark)
            assert (await bob.call("accept", {"conversation_id": cid}))["ok"]
            await expect(page.locator("#action-result")).to_contain_text("Bob took that chat")
            await expect(page.locator("#conv")).to_be_hidden()
            assert page.errors == [], page.errors
    finally:
        await bob.close()


async def test_unauthenticated_browser_is_kept_out(console_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = console_server
    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        response = await page.goto(f"{server.url}/console")
        assert page.url.endswith("/console/login") and response is not None and response.ok
        await page.goto(f"{server.url}/console/login")
        # Load the socket.io client on the login page's origin and try the namespace directly.
        await page.add_script_tag(url=f"{server.url}/console/static/socket.io.min.js")
        outcome = await page.evaluate("""() => new Promise((resolve) => {
            const s = io('/agents', {path: '/socket.io', transports: ['websocket'], reconnection: false});
            s.on('connect', () => resolve('connected'));
            s.on('connect_error', (e) => resolve('refused: ' + e.message));
            setTimeout(() => resolve('timeout'), 8000);
        })""")
        assert outcome == "refused: unauthorized"
        status = await page.evaluate("() => fetch('/console/api/me').then(r => r.status)")
        assert status == 401


async def test_agent_sees_the_report_panel_and_files_a_typed_ticket(  # type: ignore[no-untyped-def]
        console_server, resident, redis_server) -> None:
    """The resident was halfway through a pothole report when they asked for a person: the agent sees
    what the bot collected (no debug metadata) and files a POTHOLE ticket from the catalogue form."""
    from playwright.async_api import expect

    server, prefix = console_server
    async with chromium() as browser:
        page = await new_page(browser, viewport=CONSOLE_VIEWPORT)
        await sign_in(page, server.url, "ann")

        res = await resident(server.url)
        await res.start_session()
        await res.turn("I want to report a pothole")
        await escalate(res, "/request_human")
        await page.locator("#offers li.offer button.accept").click()
        panel = page.locator("#collected")
        await expect(panel).to_be_visible()
        await expect(panel).to_contain_text("Pothole")
        assert "session_started_metadata" not in await page.locator("#conv").inner_text()

        # The form is the catalogue's: POTHOLE preselected, its attributes as labelled, typed fields.
        await page.locator("#ticket-details summary").click()
        await expect(page.locator("#ticket-service")).to_have_value("POTHOLE")
        await expect(page.locator("#attr-road_position")).to_be_visible()
        assert await page.locator("#attr-road_position").evaluate("n => n.tagName") == "SELECT"
        assert await page.locator("label[for=attr-road_position]").count() == 1
        # Every service can be chosen; switching rebuilds the fields (GRAFFITI has a required surface).
        await page.select_option("#ticket-service", "GRAFFITI")
        await expect(page.locator("#attr-surface")).to_be_visible()
        await page.select_option("#ticket-service", "POTHOLE")
        await page.fill("#ticket-address", "600 E 4th St, Charlotte, NC 28202")
        await page.fill("#ticket-description", "Deep pothole in the right lane")

        # A missing required attribute is refused with the catalogue's message; nothing is filed.
        await page.locator("#ticket").press("Enter")
        # named as the form names it, and focused (it read "attribute[road_position] is required", probe S)
        label = await page.locator("#attr-road_position").get_attribute("data-label")
        await expect(page.locator("#action-result")).to_have_text(
            f"Check “{label}”: it is required, or its value is not accepted.")
        await expect(page.locator("#attr-road_position")).to_be_focused()
        await expect(page.locator("#attr-road_position")).to_have_attribute("aria-invalid", "true")
        # Keyboard only: focus the select, pick a value, submit.
        await page.locator("#attr-road_position").focus()
        await page.select_option("#attr-road_position", "lane")
        await page.select_option("#attr-size", "large")
        await page.locator("#ticket").press("Enter")
        await expect(page.locator("#action-result")).to_contain_text("created", timeout=10_000)
        text = await page.locator("#action-result").inner_text()
        ticket_id = text.split()[1]
        created = await res.wait_for("ticket_created", lambda d: d["ticket_id"] == ticket_id)
        assert created["ticket_id"] == ticket_id
        redis = redis_server.client()
        try:
            raw = await redis.hgetall(f"{prefix}ticket:{ticket_id}")
        finally:
            await redis.aclose()
        assert raw[b"service_code"] == b"POTHOLE" and raw[b"source"] == b"agent"
        assert json.loads(raw[b"attributes"]) == {"road_position": "lane", "size": "large"}
        assert page.errors == []
