"""The conversation store's names for states, senders and keys, against a real Redis.

States and senders are StrEnums: a member must be the very text Redis holds and clients see,
so code written with the old bare strings keeps working. Key layouts live only in the store:
retention and channels ask it for keys, and whatever they put under a conversation is found
again by the store's own scan (that is what `chat311 purge` deletes).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chat_server.conversations import store as store_module
from chat_server.conversations.store import CLOSED, QUEUED, SENDERS, STATES, ConversationStore, Sender, State


def _store(redis_client: Any) -> ConversationStore:
    return ConversationStore(redis_client, f"t-names-{uuid.uuid4().hex[:8]}:")


def test_old_names_are_the_enum_members_and_equal_their_text() -> None:
    assert store_module.BOT is State.BOT and CLOSED is State.CLOSED and QUEUED is State.QUEUED
    assert STATES == ("bot", "queued", "assigned", "ticketed", "closed")
    assert SENDERS == ("resident", "bot", "agent", "system")
    assert State("ticketed") is State.TICKETED and Sender("agent") is Sender.AGENT
    assert f"{State.ASSIGNED}" == "assigned" and json.dumps({"s": Sender.SYSTEM}) == '{"s": "system"}'
    assert {"closed": 1}[State.CLOSED] == 1  # same hash as the text: works as a dict key
    with pytest.raises(ValueError):
        State("open")


async def test_members_and_bare_strings_store_the_same_text(redis_client: Any) -> None:
    store = _store(redis_client)
    session = await store.new_session()
    conv = await store.create(session, "web", "en")
    assert conv.state == State.BOT == "bot"
    assert await store.set_state(conv.id, State.QUEUED, expected=("bot",))
    assert await redis_client.hget(f"{store.p}conv:{conv.id}", "state") == b"queued"
    assert await store.set_state(conv.id, "assigned", expected=(State.QUEUED,))
    fetched = await store.get(conv.id)
    assert fetched is not None and fetched.state == State.ASSIGNED
    with pytest.raises(ValueError):
        await store.set_state(conv.id, "open")

    by_member = await store.append(conv, Sender.AGENT, "hello")
    by_text = await store.append(conv, "agent", "again")
    rows = await redis_client.xrange(f"{store.p}conv:{conv.id}:msgs")
    assert [row[b"sender"] for _, row in rows] == [b"agent", b"agent"]
    assert by_member.to_client()["sender"] == by_text.to_client()["sender"] == "agent"
    resident = await store.append(conv, Sender.RESIDENT, "hi")
    assert "sender" not in resident.to_client() and resident.event_name == "resident_uttered"
    with pytest.raises(ValueError):
        await store.append(conv, "robot", "?")
