"""`ChannelBase`, the base class of every non-web channel (SMS, API, e-mail): identity → session
mapping, delivery records, outcomes of tagged notices, numbered options, event texts.

A channel identity (a phone number, an app's user id, an e-mail address) maps to one resident
session token in Redis, so a resident who texts again tomorrow continues their own history,
and the conversation core (`handle_resident_message`) sees the same kind of session the web
widget uses. The session hash keeps the identity (`address`) for the way back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from chat_server import redis_values as rv
from chat_server.channels.text_shaping import event_text, pick_option
from chat_server.conversations.store import CLOSED, Conversation, ConversationStore, Message
from chat_server.events import EventBus
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.channels")

# How a tagged outbound message ended, told to whoever tagged it (the status notifier):
# (the tag, outcome: sent | failed | skipped | undelivered, error)
NoticeHook = Callable[[dict[str, Any], str, str], Awaitable[None]]

# Delivery statuses in the order they can only move forward (Twilio's names; e-mail and
# webhooks use queued/sent/failed). A late "sent" callback must not undo "delivered".
STATUS_RANK = {"accepted": 0, "queued": 1, "scheduled": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 4, "delivered": 5, "read": 6, "undelivered": 6, "failed": 6, "canceled": 6}


_RECORD_LUA = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and tonumber(decoded['rank'] or -1) > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[1], ARGV[4]) end
return 1
"""


async def delivery_record(redis: Redis, key: str, message_id: str, channel: str = "") -> dict[str, Any] | None:
    parts: dict[str, Any] = {}
    for field, raw in (await redis.hgetall(key)).items():
        name = rv.text(field)
        mid, _, ref = name.partition("|")
        if mid == message_id:
            parts[ref] = json.loads(raw)
    if not parts:
        return None
    statuses = [p["status"] for p in parts.values()]
    failed = [s for s in statuses if s in ("failed", "undelivered")]
    status = failed[0] if failed else min(statuses, key=lambda s: STATUS_RANK.get(s, 0))
    return {"channel": channel, "status": status, "parts": parts}


async def drain(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    """Give in-flight resident turns `timeout` seconds, then cancel what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=timeout)
    await cancel_and_wait(pending)


def identity_key(prefix: str, channel: str, identity: str) -> str:
    """Key mapping a channel address (phone number, e-mail) to its session; retention deletes it too."""
    return f"{prefix}chan:{channel}:id:{identity}"


class ChannelBase:
    """Redis helpers for one channel; subclasses implement deliver/notify (the `Channel` protocol)."""

    name = "channel"
    supports_buttons = False

    def __init__(self, redis: Redis, prefix: str, store: ConversationStore, bus: EventBus) -> None:
        self.redis = redis
        self.prefix = prefix
        self.store = store
        self.bus = bus
        self.notice_hooks: list[NoticeHook] = []

    # identities ------------------------------------------------------------------------------
    def _identity_key(self, identity: str) -> str:
        return identity_key(self.prefix, self.name, identity)

    async def session_for(self, identity: str, **meta: str) -> str:
        """The identity's session token, creating the session the first time (race-safe)."""
        key = self._identity_key(identity)
        existing = await self.redis.get(key)
        if existing is not None and await self.store.session_exists(rv.text(existing)):
            return rv.text(existing)
        token = await self.store.new_session(self.name, None, **{**meta, "address": identity})
        if existing is None:
            if await self.redis.set(key, token, nx=True):
                return token
            winner = await self.redis.get(key)  # a concurrent first message won
            await self.store.delete_session(token)
            return rv.text(winner) if winner else token
        await self.redis.set(key, token)  # the old session was deleted (retention): start afresh
        return token

    async def address_of(self, session: str) -> str | None:
        return await self.store.session_field(session, "address")

    async def session_meta(self, session: str) -> dict[str, str]:
        return await self.store.session_meta(session)

    # delivery records ------------------------------------------------------------------------
    def _delivery_key(self, conversation_id: str) -> str:
        return self.store.conversation_subkey(conversation_id, "delivery")

    async def record_delivery(self, conversation_id: str, message_id: str, status: str, ref: str = "",
                              error: str = "", replaces: str = "", **info: Any) -> None:
        """Delivery status of one part of a stored message (e.g. one Twilio SID), never downgraded.

        One hash per conversation, one field per `<message id>|<ref>`, updated by a Lua script so a
        status callback racing the send's own record cannot lose or reverse a status.
        """
        key = self._delivery_key(conversation_id)
        rank = STATUS_RANK.get(status, 0)
        part: dict[str, Any] = {**info, "status": status, "rank": rank, "updated_at": round(time.time(), 3)}
        if error:
            part["error"] = error[:200]
        replaced = f"{message_id}|{replaces}" if replaces else ""
        await self.redis.eval(_RECORD_LUA, 1, key, f"{message_id}|{ref or '-'}", rank, json.dumps(part), replaced)
        await self.redis.expire(key, 90 * 24 * 3600)
        if status in ("delivered", "failed", "undelivered", "sent") and ref:
            await self.bus.publish("channel_delivery", conversation_id, channel=self.name, message_id=message_id,
                                   status=status, error=error or None)

    async def delivery(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        """{channel, status, parts: {ref: {status, updated_at, error?}}}: the message's status is its
        least advanced part, except that any failed part makes it failed."""
        return await delivery_record(self.redis, self._delivery_key(conversation_id), message_id, self.name)

    # outcomes of tagged messages ------------------------------------------------------------
    async def notice_outcome(self, notice: dict[str, Any] | None, outcome: str, error: str = "") -> None:
        """Tell the hooks how a tagged message (a `notice`: a ticket status notification) ended.

        Only the channel knows when its outbox really handed a message over (`sent`), gave up on it
        (`failed`), had nobody to send it to (`skipped`), or heard from the provider that a message
        it took was lost (`undelivered`); the tagger counts these, not the moment it queued one.
        Called after the send itself succeeded: a hook's trouble is logged, never a reason to resend.
        """
        if not notice:
            return
        for hook in self.notice_hooks:
            try:
                await hook(notice, outcome, error)
            except Exception:
                log.exception("notice outcome hook failed", extra={"channel": self.name, "outcome": outcome})

    # numbered options (text-only channels) ----------------------------------------------------
    options_ttl_s = 3600

    def _options_key(self, conversation_id: str) -> str:
        return f"{self.prefix}chan:options:{conversation_id}"

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
    @staticmethod
    def told_by_event(message: Message) -> bool:
        """A system message that an event's text already carries on a text channel: "You're in line… keep this
        window open" came by SMS next to "You're number 1 in line", one of five texts in a burst (probe R)."""
        return message.sender == "system" and (message.extra.get("custom") or {}).get("event") == "queued"

    async def event_as_text(self, conv: Conversation, event: str, data: dict[str, Any]) -> str | None:
        """The sentence for an extension event; the first queue update per conversation only."""
        state: dict[str, Any] = {}
        if event == "queue_update":
            first = await self.redis.set(f"{self.prefix}chan:queue_told:{conv.id}", "1", nx=True, ex=86400)
            state["queue_notified"] = not first
        return event_text(event, data, conv.language, state)
