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
    assert await redis_client.hget(store.conversation_key(conv.id), "state") == b"queued"
    assert await store.set_state(conv.id, "assigned", expected=(State.QUEUED,))
    fetched = await store.get(conv.id)
    assert fetched is not None and fetched.state == State.ASSIGNED
    with pytest.raises(ValueError):
        await store.set_state(conv.id, "open")

    by_member = await store.append(conv, Sender.AGENT, "hello")
    by_text = await store.append(conv, "agent", "again")
    rows = await redis_client.xrange(store.messages_key(conv.id))
    assert [row[b"sender"] for _, row in rows] == [b"agent", b"agent"]
    assert by_member.to_client()["sender"] == by_text.to_client()["sender"] == "agent"
    resident = await store.append(conv, Sender.RESIDENT, "hi")
    assert "sender" not in resident.to_client() and resident.event_name == "resident_uttered"
    with pytest.raises(ValueError):
        await store.append(conv, "robot", "?")


async def test_keys_made_for_a_conversation_are_found_again_for_purging(redis_client: Any) -> None:
    store = _store(redis_client)
    session = await store.new_session("sms", address="+17045550100")
    conv = await store.create(session, "sms", "en")
    other = await store.create(await store.new_session(), "web", "en")
    stored = await store.record(conv, Sender.RESIDENT, "pothole on Elm", client_msg_id="c-1")
    assert not isinstance(stored, str)
    assert await store.record(conv, Sender.RESIDENT, "pothole on Elm", client_msg_id="c-1") == stored.id
    await redis_client.hset(store.conversation_subkey(conv.id, "delivery"), "1-0|SM1", "sent")

    keys = await store.conversation_keys()
    assert sorted(keys) == sorted([conv.id, other.id])
    assert sorted(keys[conv.id]) == sorted(k.encode() for k in (
        store.conversation_key(conv.id), store.messages_key(conv.id),
        store.conversation_subkey(conv.id, "cmid:c-1"), store.conversation_subkey(conv.id, "delivery")))
    assert await redis_client.sismember(store.open_key, conv.id)

    tokens = [token async for token in store.session_tokens()]
    assert sorted(tokens) == sorted([session, other.session])  # the `:convs` lists are not sessions
    assert await redis_client.lrange(store.session_conversations_key(session), 0, -1) == [conv.id.encode()]
    assert (await store.session_meta(session))["address"] == "+17045550100"
    assert await store.session_field(session, "address") == "+17045550100"
    assert await store.session_field(session, "missing") is None
    assert await store.delete_session(session) == 1
    assert await store.delete_session(session) == 0
    assert not await redis_client.exists(store.session_key(session))
    assert await store.session_meta(session) == {}


def test_redis_values_read_replies_as_text() -> None:
    from chat_server import redis_values as rv

    assert rv.text(b"caf\xc3\xa9") == "café" and rv.text("as-is") == "as-is"
    assert rv.text_map({b"state": b"bot", "lang": b"es"}) == {"state": "bot", "lang": "es"}
    assert rv.fields({"a": "1"}) == {"a": "1"}
    rows: list[tuple[bytes | str | None, dict[bytes | str, bytes | str] | None]] = [
        (b"1-0", {b"sender": b"bot"}), (b"2-0", None), (None, {b"x": b"y"})]
    assert rv.stream_entries(rows) == [(b"1-0", {b"sender": b"bot"})]
    assert rv.stream_entries(None) == []
