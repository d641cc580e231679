"""Search of past conversations and tickets (GET /console/api/search) against a real chat_server:
by ticket id, phone, e-mail, date and agent; an agent finds only their own conversations and their
tickets, a supervisor every one; bad input gets a clear error; the console shows the results."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server.conversations.store import ConversationStore
from tests.support.agents import agent_client, escalate, escalation_env, fresh_prefix, login, make_agent, sign_in
from tests.support.browser import chromium, new_page

pytestmark = [pytest.mark.rasa, pytest.mark.browser]


async def _get(url: str, token: str | None, **params: str) -> tuple[int, dict[str, Any]]:
    cookies = {"c311_agent": token} if token else {}
    async with aiohttp.ClientSession(cookies=cookies) as http, \
            http.get(f"{url}/console/api/search", params=params) as resp:
        return resp.status, await resp.json()


async def test_search_by_ticket_phone_email_date_agent_with_role_scopes(  # type: ignore[no-untyped-def]
        server_factory, redis_server, resident) -> None:
    from playwright.async_api import expect

    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    await make_agent(redis_server.url, prefix, "sue", name="Sue", roles=("supervisor",))
    ann = await agent_client(server.url, "ann")
    try:
        res = await resident(server.url)
        await res.start_session()
        await escalate(res)
        cid = (await ann.wait_for("offer"))["conversation_id"]
        assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
        # What the bot collected in the chat (the tracker's slots the console panel reads).
        redis = aioredis.from_url(redis_server.url)
        try:
            await ConversationStore(redis, prefix).update(cid, slots=json.dumps(
                {"phone": "(704) 555-0142", "email": "Pat@Example.org", "contact_name": "Pat"}))
        finally:
            await redis.aclose()
        ack = await ann.call("ticket", {"conversation_id": cid, "service_code": "GENERAL",
                                        "description": "Billing question, call back"})
        assert ack["ok"], ack
        ticket_id = ack["ticket_id"]
        assert (await ann.call("close", {"conversation_id": cid, "disposition": "ticket_created"}))["ok"]
        await res.wait_for("conversation_closed")
    finally:
        await ann.close()
    # Bob joins later (he handled nothing): his searches find none of Ann's work.
    await make_agent(redis_server.url, prefix, "bob", name="Bob")

    tokens = {}
    for user in ("ann", "bob", "sue"):
        status, token = await login(server.url, user)
        assert status == 303 and token, user
        tokens[user] = token
    today = datetime.now(ZoneInfo("America/New_York")).date().isoformat()

    for params in ({"ticket": ticket_id}, {"phone": "+1 704-555-0142"}, {"email": "pat@example.org"},
                   {"date": today}, {"agent": "ann"}):
        status, body = await _get(server.url, tokens["ann"], **params)
        assert status == 200, (params, body)
        assert [c["conversation_id"] for c in body["conversations"]] == [cid], params
        assert body["scope"] == "own"
        conv = body["conversations"][0]
        assert conv["agent"] == "ann" and conv["ticket_id"] == ticket_id and conv["state"] == "closed"
        assert conv["phone"] == "(704) 555-0142"  # nothing redacted for the agent who served them
    status, body = await _get(server.url, tokens["ann"], ticket=ticket_id)
    assert [t["ticket_id"] for t in body["tickets"]] == [ticket_id]
    assert body["tickets"][0]["description"] == "Billing question, call back"
    status, body = await _get(server.url, tokens["ann"], phone="704 555 0199")
    assert status == 200 and body["conversations"] == []

    # Bob: not his conversation, not his ticket; asking for Ann's is refused outright.
    for params in ({"ticket": ticket_id}, {"phone": "7045550142"}, {"date": today}):
        status, body = await _get(server.url, tokens["bob"], **params)
        assert status == 200 and body == {"conversations": [], "tickets": [], "scope": "own"}, (params, body)
    status, body = await _get(server.url, tokens["bob"], agent="ann")
    assert status == 403 and body["error"]["code"] == "forbidden"

    # Sue (supervisor) sees everyone's.
    status, body = await _get(server.url, tokens["sue"], agent="ann")
    assert status == 200 and body["scope"] == "all"
    assert [c["conversation_id"] for c in body["conversations"]] == [cid]
    assert [t["ticket_id"] for t in body["tickets"]] == [ticket_id]
    status, body = await _get(server.url, tokens["sue"], email="PAT@example.org", date=today)
    assert [c["conversation_id"] for c in body["conversations"]] == [cid]

    # Bad input and no session.
    for params, word in (({"date": "04/12/2026"}, "date"), ({"ticket": "abc"}, "ticket"), ({}, "give"),
                         ({"email": "pat"}, "e-mail"), ({"phone": "12"}, "digits")):
        status, body = await _get(server.url, tokens["ann"], **params)
        assert status == 400 and word in body["error"]["message"], (params, body)
    status, body = await _get(server.url, None, phone="7045550142")
    assert status == 401

    # In the console: Ann searches by phone and reads the result.
    async with chromium() as browser:
        page = await new_page(browser)
        await sign_in(page, server.url, "ann")
        await expect(page.locator("#s-agent")).to_be_hidden()
        await page.fill("#s-phone", "704-555-0142")
        await page.click("#s-submit")
        results = page.locator("#search-results")
        await expect(results).to_contain_text("Conversations (1)")
        await expect(results).to_contain_text(ticket_id)
        await expect(results).to_contain_text("Tickets (")
        # every line reads as words: no empty "· ·" for a missing part, a ticket's status in words
        assert not [line for line in await results.locator("li").all_inner_texts() if "· ·" in line or "·  ·" in line]
        ticket_line = results.locator("li strong").filter(has_text=ticket_id)
        await expect(ticket_line).to_have_text(re.compile(r" · (open|closed)$"))
        await page.fill("#s-phone", "")
        await page.fill("#s-ticket", "nonsense")
        await page.click("#s-submit")
        await expect(page.locator("#search-error")).to_contain_text("311-1000001")
        assert page.errors == []
