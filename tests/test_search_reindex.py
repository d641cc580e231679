"""Console search finds what it used to miss (issue 19): conversations an agent took before the search
index existed are indexed when the server starts, and a phone search finds SMS conversations from that
number (and the tickets filed from them), still within the role rule: an agent finds only their own chats.

The conversations are written through the real ConversationStore without touching the index (as an
older version of chat311 left them), then a real chat_server process starts on that Redis."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import redis.asyncio as aioredis

from chat_server.agents.search import ConversationSearch
from chat_server.conversations.store import ConversationStore
from chat_server.tickets.store import Ticket, TicketStore
from tests.support.agents import fresh_prefix, login, make_agent
from tests.support.channel_standins import bare_server

TZ = ZoneInfo("America/New_York")
SMS_NUMBER = "+17045550199"


async def _search(url: str, token: str, **params: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(cookies={"c311_agent": token}) as http, \
            http.get(f"{url}/console/api/search", params=params) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return dict(body)


def _ids(found: dict[str, Any]) -> set[str]:
    return {c["conversation_id"] for c in found["conversations"]}


async def test_old_conversations_are_indexed_at_start_and_sms_chats_are_found_by_phone(redis_server: Any) -> None:
    prefix = fresh_prefix()
    redis = aioredis.from_url(redis_server.url)
    try:
        store = ConversationStore(redis, prefix)
        taken = time.time() - 3600
        # Ann's SMS chat: the number is only on the channel's session, the bot collected no contact.
        sms_session = await store.new_session("sms", address=SMS_NUMBER)
        sms = await store.create(sms_session, "sms", "es")
        await store.update(sms.id, state="closed", agent="ann", agent_name="Ann", assigned_at=f"{taken:.3f}")
        # Bob's web chat, and a chat the bot handled alone (no agent: never findable).
        bob = await store.create(await store.new_session("web"), "web", "en")
        await store.update(bob.id, state="closed", agent="bob", agent_name="Bob", assigned_at=f"{taken:.3f}")
        bot_only = await store.create(await store.new_session("web"), "web", "en")
        # A ticket filed from the SMS chat without contact details.
        ticket, _ = await TicketStore(redis, prefix).create(Ticket(
            id="", service_code="GENERAL", description="Missed pickup", conversation_id=sms.id, channel="sms"))
        assert await redis.keys(f"{prefix}search:*") == []  # nothing indexed: the old layout

        for username, roles in (("ann", ("agent",)), ("bob", ("agent",)), ("sue", ("supervisor",))):
            await make_agent(redis_server.url, prefix, username, roles=roles)
        server = await bare_server(redis_server.url, "search-reindex", CHAT311_REDIS__KEY_PREFIX=f"'{prefix}'")
        try:
            tokens = {}
            for user in ("ann", "bob", "sue"):
                status, token = await login(server.url, user)
                assert status == 303 and token, user
                tokens[user] = token
            # the chats' own day, not "today": just after midnight (New York) they were yesterday's
            day = datetime.fromtimestamp(taken, TZ).date().isoformat()

            # Ann finds her old SMS chat by the number it came from, in any spelling, and its ticket.
            for phone in ("704-555-0199", "+1 (704) 555-0199", "7045550199"):
                found = await _search(server.url, tokens["ann"], phone=phone)
                assert _ids(found) == {sms.id}, (phone, found)
                assert found["conversations"][0]["phone"] == SMS_NUMBER
                assert found["conversations"][0]["channel"] == "sms"
                assert [t["ticket_id"] for t in found["tickets"]] == [ticket.id], found
            # ... and by day or by her name; never Bob's chat.
            assert _ids(await _search(server.url, tokens["ann"], date=day)) == {sms.id}
            assert _ids(await _search(server.url, tokens["ann"], agent="ann")) == {sms.id}
            # Bob does not find Ann's chat (nor its ticket) by its number; he finds his own.
            found = await _search(server.url, tokens["bob"], phone="704-555-0199")
            assert found["conversations"] == [] and found["tickets"] == [], found
            assert _ids(await _search(server.url, tokens["bob"], date=day)) == {bob.id}
            # A supervisor finds both agents' chats, never the bot-only one; a wrong number finds nothing.
            assert _ids(await _search(server.url, tokens["sue"], date=day)) == {sms.id, bob.id}
            assert _ids(await _search(server.url, tokens["sue"], phone="704-555-0198")) == set()
            assert _ids(await _search(server.url, tokens["sue"], phone="704-555-0199")) == {sms.id}
        finally:
            await server.stop()

        # The index holds conversation ids and times only (no number, no name), and it is marked built.
        members = [m for key in await redis.keys(f"{prefix}search:*") if await redis.type(key) == b"zset"
                   for m in await redis.zrange(key, 0, -1)]
        assert sorted(members) == sorted([sms.id.encode(), sms.id.encode(), bob.id.encode(), bob.id.encode()])
        assert all(re.fullmatch(rb"[0-9a-f]{32}", m) for m in members)
        assert await redis.zscore(f"{prefix}search:handled", bot_only.id) is None
        assert await redis.get(f"{prefix}search:indexed") == b"1"
        # Once built, a start does nothing; forced again, it changes nothing (idempotent).
        search = ConversationSearch(redis, prefix, store, None, TZ)
        assert await search.reindex() == 0
        before = await redis.zrange(f"{prefix}search:handled", 0, -1, withscores=True)
        assert await search.reindex(force=True) == 2
        assert await redis.zrange(f"{prefix}search:handled", 0, -1, withscores=True) == before
        assert await redis.zscore(f"{prefix}search:agent:ann", sms.id) == float(f"{taken:.3f}")
    finally:
        await redis.aclose()
