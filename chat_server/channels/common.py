"""What every non-web channel shares: identity → session mapping, delivery records, event texts.

A channel identity (a phone number, an app's user id, an e-mail address) maps to one resident
session token in Redis, so a resident who texts again tomorrow continues their own history,
and the conversation core (`handle_resident_message`) sees the same kind of session the web
widget uses. The session hash keeps the identity (`address`) for the way back.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

from chat_server.channels.textforms import event_text, pick_option
from chat_server.conversations.store import CLOSED, Conversation, ConversationStore, Message
from chat_server.events import EventBus

# Delivery statuses in the order they can only move forward (Twilio's names; e-mail and
# webhooks use queued/sent/failed). A late "sent" callback must not undo "delivered".
STATUS_RANK = {"accepted": 0, "queued": 1, "scheduled": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 4, "delivered": 5, "read": 6, "undelivered": 6, "failed": 6, "canceled": 6}


class ChannelBase:
    """Redis helpers for one channel; subclasses implement deliver/notify (the `Channel` protocol)."""

    name = "channel"
    supports_buttons = False

    def __init__(self, redis: Redis, prefix: str, store: ConversationStore, bus: EventBus) -> None:
        self.redis = redis
        self.p = prefix
        self.store = store
        self.bus = bus

    # identities ------------------------------------------------------------------------------
    def _identity_key(self, identity: str) -> str:
        return f"{self.p}chan:{self.name}:id:{identity}"

    async def session_for(self, identity: str, **meta: str) -> str:
        """The identity's session token, creating the session the first time (race-safe)."""
        key = self._identity_key(identity)
        existing = await self.redis.get(key)
        if existing is not None and await self.store.session_exists(existing.decode()):
            return existing.decode()
        token = await self.store.new_session(self.name, address=identity, **meta)
        if existing is None:
            if await self.redis.set(key, token, nx=True):
                return token
            winner = await self.redis.get(key)  # a concurrent first message won
            await self.redis.delete(f"{self.p}session:{token}")
            return winner.decode() if winner else token
        await self.redis.set(key, token)  # the old session was deleted (retention): start afresh
        return token

    async def address_of(self, session: str) -> str | None:
        raw = await self.redis.hget(f"{self.p}session:{session}", "address")
        return raw.decode() if raw else None

    async def session_meta(self, session: str) -> dict[str, str]:
        raw = await self.redis.hgetall(f"{self.p}session:{session}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    # delivery records ------------------------------------------------------------------------
    def _delivery_key(self, conversation_id: str) -> str:
        return f"{self.p}conv:{conversation_id}:delivery"

    async def record_delivery(self, conversation_id: str, message_id: str, status: str, ref: str = "",
                              error: str = "", replaces: str = "", **info: Any) -> None:
        """Delivery status per stored message: {ref (e.g. Twilio SID) -> status}, never downgraded."""
        key = self._delivery_key(conversation_id)
        raw = await self.redis.hget(key, message_id)
        record: dict[str, Any] = json.loads(raw) if raw else {"channel": self.name, "parts": {}}
        part = record["parts"].pop(replaces, None) if replaces else None
        part = part or record["parts"].get(ref or "-", {})
        if STATUS_RANK.get(status, 0) >= STATUS_RANK.get(part.get("status", ""), -1):
            part = {**part, **info, "status": status, "updated_at": round(time.time(), 3)}
            if error:
                part["error"] = error[:200]
        record["parts"][ref or "-"] = part
        statuses = [p["status"] for p in record["parts"].values()]
        # The message's status is its least advanced part, except that any failure wins.
        failed = [s for s in statuses if s in ("failed", "undelivered")]
        record["status"] = failed[0] if failed else min(statuses, key=lambda s: STATUS_RANK.get(s, 0))
        await self.redis.hset(key, message_id, json.dumps(record))
        await self.redis.expire(key, 90 * 24 * 3600)
        if status in ("delivered", "failed", "undelivered", "sent") and ref:
            await self.bus.publish("channel_delivery", conversation_id, channel=self.name, message_id=message_id,
                                   status=status, error=error or None)

    async def delivery(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(self._delivery_key(conversation_id), message_id)
        return json.loads(raw) if raw else None

    # numbered options (text-only channels) ----------------------------------------------------
    options_ttl_s = 3600

    def _options_key(self, conversation_id: str) -> str:
        return f"{self.p}chan:options:{conversation_id}"

    async def remember_options(self, conv: Conversation, message: Message) -> list[dict[str, Any]] | None:
        """Keep the payloads of a message's buttons, so a later "2" means the second one.

        Only the latest bot/agent message counts: a message without buttons forgets them, so a
        resident answering "2" to "how many potholes?" is not taken for option 2.
        """
        quick = message.extra.get("quick_replies") or None
        if quick:
            payloads = [str(q.get("payload") or q.get("title") or "") for q in quick]
            await self.redis.set(self._options_key(conv.id), json.dumps(payloads), ex=self.options_ttl_s)
        elif message.sender in ("bot", "agent"):
            await self.redis.delete(self._options_key(conv.id))
        return quick

    async def map_option(self, session: str, body: str) -> str:
        """A bare digit answering a numbered list becomes that option's payload."""
        conv = await self.store.current_conversation(session)
        if conv is None or conv.state == CLOSED:
            return body
        raw = await self.redis.get(self._options_key(conv.id))
        if not raw:
            return body
        payload = pick_option(body, json.loads(raw))
        return payload if payload is not None else body

    # events as text --------------------------------------------------------------------------
    async def event_as_text(self, conv: Conversation, event: str, data: dict[str, Any]) -> str | None:
        """The sentence for an extension event; the first queue update per conversation only."""
        state: dict[str, Any] = {}
        if event == "queue_update":
            first = await self.redis.set(f"{self.p}chan:queue_told:{conv.id}", "1", nx=True, ex=86400)
            state["queue_notified"] = not first
        return event_text(event, data, conv.language, state)
