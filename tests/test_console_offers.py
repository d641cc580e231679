"""Offers and queue waits over Socket.IO against real chat_server processes (issue 19, part A):
a missed offer warns the agent before Away and "Stay available" keeps them online; the offer
carries the resident's last words in text and the topic and language in words; a queued resident
is re-told their wait when it changes (an agent who declined is no seat for them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agents import agent_client, escalate, escalation_env, fresh_prefix, make_agent

pytestmark = [pytest.mark.rasa]


async def test_missed_offer_warns_then_away_and_stay_keeps_online(  # type: ignore[no-untyped-def]
        server_factory, redis_server, resident) -> None:
    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix, CHAT311_ROUTING__ACCEPT_TIMEOUT_S="1.5",
                                               CHAT311_ROUTING__MISSED_OFFER_WARNING_S="2"))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    ann = await agent_client(server.url, "ann")
    try:
        res = await resident(server.url)
        await res.start_session()
        await res.turn("my streetlight is out on Elm Street")
        await escalate(res)
        offer = await ann.wait_for("offer")
        cid = offer["conversation_id"]
        assert offer["preview"] and "streetlight is out" in offer["preview"][-1]
        assert offer["language_name"] == "English"
        assert "_" not in offer["topic"] and offer["topic"], offer["topic"]
        assert offer["expires_in_s"] == 1.5 and offer["waiting_s"] >= 0
        # Ignored: withdrawn, then a warning (not Away yet), then Away when the warning runs out.
        await ann.wait_for("offer_withdrawn", lambda d: d["conversation_id"] == cid)
        warned = await ann.wait_for("status", lambda d: d["status"] == "missed")
        assert warned["away_in_s"] == 2
        mark = len(ann.events)
        # A reloaded console hears the warning too (probe S lost it on reload).
        reloaded = await agent_client(server.url, "ann")
        try:
            hello = await reloaded.call("hello")
            assert hello["status"] == "missed" and 0 < hello["away_in_s"] <= 2, hello
        finally:
            await reloaded.close()
        away = await ann.wait_for("status", lambda d: d["status"] == "away", after=mark, timeout=10)
        assert away["reason"] == "missed_offer"
        # Back online, the chat is offered again; this time she answers the warning with "Stay available".
        assert (await ann.call("set_status", {"status": "online"}))["ok"]
        mark = len(ann.events)
        await ann.wait_for("offer", lambda d: d["conversation_id"] == cid, after=mark)
        await ann.wait_for("status", lambda d: d["status"] == "missed", after=mark)
        assert (await ann.call("set_status", {"status": "online"}))["ok"]
        mark = len(ann.events)
        again = await ann.wait_for("offer", lambda d: d["conversation_id"] == cid, after=mark)
        assert again["conversation_id"] == cid
        assert not [d for e, d in ann.events[mark:] if e == "status" and d["status"] == "away"]
        assert (await ann.call("accept", {"conversation_id": cid}))["ok"]

        # Resident typing reaches the agent as on/off only (no text), once per change.
        mark = len(ann.events)
        assert (await res.sio.call("typing", {"session_id": res.session_id, "on": True}, timeout=10))["ok"]
        assert (await res.sio.call("typing", {"session_id": res.session_id, "on": True}, timeout=10))["ok"]
        got = await ann.wait_for("resident_typing", after=mark)
        assert got == {"conversation_id": cid, "on": True}
        assert (await res.sio.call("typing", {"session_id": res.session_id, "on": False}, timeout=10))["ok"]
        await ann.wait_for("resident_typing", lambda d: d["on"] is False, after=mark)
        assert len([e for e, _ in ann.events[mark:] if e == "resident_typing"]) == 2
        bad = await res.sio.call("typing", {"session_id": res.session_id, "on": "yes"}, timeout=10)
        assert bad["error"]["code"] == "malformed"
    finally:
        await ann.close()


async def test_queue_wait_is_retold_when_it_changes(server_factory, redis_server, resident) -> None:  # type: ignore[no-untyped-def]
    """Ann declines: she is no seat for this resident any more, so "less than a minute" is corrected."""
    prefix = fresh_prefix()
    server = await server_factory(**escalation_env(prefix, CHAT311_ROUTING__QUEUE_REFRESH_S="1",
                                               CHAT311_ROUTING__DEFAULT_HANDLE_S="300"))
    await make_agent(redis_server.url, prefix, "ann", name="Ann")
    ann = await agent_client(server.url, "ann")
    try:
        res = await resident(server.url)
        await res.start_session()
        mark = len(res.events)
        await escalate(res)
        first = await res.wait_for("queue_update", after=mark)
        assert first["estimated_wait_s"] < 60  # Ann is free
        cid = (await ann.wait_for("offer"))["conversation_id"]
        mark, seen = len(res.events), len(ann.events)
        assert (await ann.call("decline", {"conversation_id": cid}))["ok"]
        # back in line, and on every console's queue list: it stayed "Queue (0)" with no offer made (probe S)
        await ann.wait_for("queue", lambda d: [i["conversation_id"] for i in d["items"]] == [cid], after=seen)
        update: dict[str, Any] = await res.wait_for("queue_update", lambda d: d["estimated_wait_s"] >= 60,
                                                    after=mark, timeout=15)
        assert update["position"] == 1 and update["estimated_wait_s"] == 300
    finally:
        await ann.close()
