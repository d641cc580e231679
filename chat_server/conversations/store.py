"""Conversations in Redis: a state hash per conversation and a Stream holding every message.

The stream id of a message is its public `id`: clients acknowledge and replay by it, so
"what did this tab miss?" is one XRANGE. A resident's session token maps to the list of
conversations it has had; a new conversation's first id is forced above the previous
conversation's last id so a session's ids stay strictly increasing across conversations.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeGuard

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from chat_server import redis_values as rv
from chat_server.redis_batch import PipelineBatcher
from chat_server.redis_store import RedisStore


class State(StrEnum):
    """Where a conversation is (DESIGN.md): bot → queued → assigned → closed; bot → ticketed → closed.

    A StrEnum so a member is the very text Redis stores and clients see ("bot" == State.BOT).
    """

    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    TICKETED = "ticketed"
    CLOSED = "closed"


class Sender(StrEnum):
    """Who wrote a message; stored as its text in the message stream."""

    RESIDENT = "resident"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


# The older module-level names, kept as aliases of the members.
BOT, QUEUED, ASSIGNED, TICKETED, CLOSED = State.BOT, State.QUEUED, State.ASSIGNED, State.TICKETED, State.CLOSED
# A session's set of connected sockets outlives its last change by a day (see socket_joined).
SOCKETS_TTL_S = 86400
STATES: tuple[State, ...] = tuple(State)
SENDERS: tuple[Sender, ...] = tuple(Sender)


@dataclass
class Message:
    id: str
    sender: str
    text: str
    language: str
    channel: str
    ts: int  # epoch milliseconds
    extra: dict[str, Any] = field(default_factory=dict)

    def to_client(self) -> dict[str, Any]:
        """Socket.IO payload: `bot_uttered` for bot/agent/system, `resident_uttered` for the resident."""
        out: dict[str, Any] = {"id": self.id, "text": self.text, "lang": self.language, "ts": self.ts}
        if self.sender != Sender.RESIDENT:
            out["sender"] = self.sender
        for key in ("quick_replies", "attachment", "custom", "agent_name", "client_msg_id", "form_active"):
            if self.extra.get(key) is not None:
                out[key] = self.extra[key]
        return out

    def to_rasa_client(self) -> dict[str, Any] | None:
        """The exact shape Rasa's socketio channel sends (rasa-webchat drops anything else)."""
        if self.sender == Sender.RESIDENT:
            return None
        out: dict[str, Any] = {}
        if self.text:
            out["text"] = self.text
        if self.extra.get("quick_replies"):
            out["quick_replies"] = [{"content_type": "text", **q} for q in self.extra["quick_replies"]]
        attachment = self.extra.get("attachment")
        if isinstance(attachment, dict) and attachment.get("type") == "image":
            out["attachment"] = {"type": "image", "payload": {"src": attachment.get("url", "")}}
        return out or None

    @property
    def event_name(self) -> str:
        return "resident_uttered" if self.sender == Sender.RESIDENT else "bot_uttered"


@dataclass
class Conversation:
    id: str
    session: str
    state: str
    channel: str
    language: str
    created_at: float
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


# claim_time: KEYS = conversation hash; ARGV = field, now, older_than.
_CLAIM_TIME = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if current >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
# ConversationStore.record: KEYS = stream, conversation hash, client-id key ("" = none);
# ARGV = stream id, client-id TTL, n, n hash field/value pairs, then the stream entry's field/value pairs.
_RECORD = """
local cmid = KEYS[3]
if cmid ~= '' then
  local earlier = redis.call('GET', cmid)
  if earlier then return {0, earlier} end
end
local n = tonumber(ARGV[3])
if n > 0 then redis.call('HSET', KEYS[2], unpack(ARGV, 4, 3 + 2 * n)) end
local id = redis.call('XADD', KEYS[1], ARGV[1], unpack(ARGV, 4 + 2 * n))
if cmid ~= '' then redis.call('SET', cmid, id, 'EX', ARGV[2]) end
return {1, id}
"""


def _parse_id(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def valid_message_id(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or len(value) > 42:
        return False
    try:
        _parse_id(value)
    except ValueError:
        return False
    return True


class _Lru:
    """A bounded str → str memo; the least recently used entry goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class ConversationStore(RedisStore):
    """All Redis I/O of conversations; no policy here (that is the relay's job)."""

    CLIENT_ID_TTL_S = 24 * 3600
    MEMO_MAX = 100_000

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix)
        # Two in-process memos that save a Redis round trip per resident message (bounded LRUs):
        # - conversations whose message stream exists: their next id is always "*" (a stream never
        #   disappears while its conversation can still receive messages; purges delete closed ones);
        # - each session's current conversation: only a closed one is ever followed by a new one,
        #   so a remembered conversation that is still open is still the current one.
        self._known_streams: _Lru = _Lru(self.MEMO_MAX)
        self._current: _Lru = _Lru(self.MEMO_MAX)
        self._record_script = redis.register_script(_RECORD)
        self._claim_script = redis.register_script(_CLAIM_TIME)
        # Per-message reads and writes ride the round trips other turns' commands make (redis_batch.py).
        self._batch = PipelineBatcher.shared(redis)

    # keys: the layout is known here only; retention and channels ask for keys by these names.
    def conversation_key(self, cid: str) -> str:
        """The conversation's state hash."""
        return f"{self.prefix}conv:{cid}"

    def conversation_subkey(self, cid: str, part: str) -> str:
        """A key that belongs to one conversation (its messages, delivery records, ...): it is
        deleted with the conversation by `chat311 purge`, which finds it by this shape."""
        return f"{self.prefix}conv:{cid}:{part}"

    def messages_key(self, cid: str) -> str:
        return self.conversation_subkey(cid, "msgs")

    @property
    def open_key(self) -> str:
        """The set of conversations not closed yet."""
        return f"{self.prefix}convs:open"

    def session_key(self, token: str) -> str:
        return f"{self.prefix}session:{token}"

    def session_conversations_key(self, token: str) -> str:
        return f"{self.prefix}session:{token}:convs"

    async def conversation_keys(self) -> dict[str, list[bytes]]:
        """conversation id → all of its keys (hash, stream, sub-keys), from one SCAN; for purging."""
        pattern = re.compile(re.escape(self.prefix).encode() + rb"conv:([0-9a-f]{32})(?::.*)?$", re.S)
        found: dict[str, list[bytes]] = {}
        async for key in self.redis.scan_iter(match=f"{self.prefix}conv:*", count=1000):
            match = pattern.match(key)
            if match:
                found.setdefault(match.group(1).decode(), []).append(key)
        return found

    async def attachment_urls(self, cid: str) -> list[str]:
        """The URL of every photo attached to the conversation's messages (retention keeps those files)."""
        return [str(m.extra["attachment"].get("url", "")) for m in await self.messages(cid)
                if isinstance(m.extra.get("attachment"), dict)]

    async def session_tokens(self) -> AsyncIterator[str]:
        """Every session token (SCAN; a token's `:convs` list is not a session of its own)."""
        pattern = re.compile(re.escape(self.prefix).encode() + rb"session:([A-Za-z0-9_-]{16,64})$")
        async for key in self.redis.scan_iter(match=f"{self.prefix}session:*", count=1000):
            match = pattern.match(key)
            if match is not None:
                yield match.group(1).decode()

    # sessions
    async def new_session(self, channel: str = "web", ttl_s: int | None = None, **meta: str) -> str:
        """A new session token. With `ttl_s` the session expires unless it gets a conversation first
        (`create` makes it permanent), so sessions opened and never used do not pile up."""
        token = secrets.token_urlsafe(24)
        pipe = self.redis.pipeline(transaction=True)
        session = {"created_at": f"{time.time():.3f}", "channel": channel, **meta}
        pipe.hset(self.session_key(token), mapping=rv.fields(session))
        if ttl_s:
            pipe.expire(self.session_key(token), ttl_s)
        await pipe.execute()
        return token

    async def session_exists(self, token: str) -> bool:
        if not 16 <= len(token) <= 64:
            return False
        return bool(await self.redis.exists(self.session_key(token)))

    async def session_meta(self, token: str) -> dict[str, str]:
        """The session hash (channel, created_at, a channel resident's address, ...)."""
        return rv.text_map(await self.redis.hgetall(self.session_key(token)))

    async def session_field(self, token: str, name: str) -> str | None:
        raw = await self.redis.hget(self.session_key(token), name)
        return rv.text(raw) if raw else None

    async def delete_session(self, token: str) -> int:
        """Delete the session hash (not its conversations); 1 if it existed."""
        return int(await self.redis.delete(self.session_key(token)))

    def _sockets_key(self, token: str) -> str:
        return f"{self.prefix}session:{token}:sockets"

    async def socket_joined(self, token: str, sid: str) -> None:
        """A resident's socket (browser tab) is on this session; the set lives a day past its last change (a
        process that died never said its sockets left)."""
        key = self._sockets_key(token)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, sid)
        pipe.expire(key, SOCKETS_TTL_S)
        await pipe.execute()

    async def open_sockets(self, token: str) -> int:
        """How many of the session's sockets (browser tabs) are connected."""
        return int(await self.redis.scard(self._sockets_key(token)))

    async def socket_left(self, token: str, sid: str) -> int:
        """How many of the session's sockets are left once this one is gone."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(self._sockets_key(token), sid)
        pipe.scard(self._sockets_key(token))
        return int((await pipe.execute())[1])

    async def mark_plain_client(self, token: str) -> None:
        """A Rasa-protocol client (no last_message_id) joined: deliver plain Rasa payloads too."""
        await self.redis.hset(self.session_key(token), "plain_clients", "1")

    async def has_plain_clients(self, token: str) -> bool:
        return bool(await self.redis.hget(self.session_key(token), "plain_clients"))

    async def session_conversations(self, token: str) -> list[str]:
        return [rv.text(c) for c in await self.redis.lrange(self.session_conversations_key(token), 0, -1)]

    async def current_conversation(self, token: str) -> Conversation | None:
        remembered = self._current.get(token)
        if remembered is not None:
            conv = await self.get(remembered)
            if conv is not None and conv.state != CLOSED:
                return conv
        cid = await self.redis.lindex(self.session_conversations_key(token), -1)
        if not cid:
            return None
        conv = await self.get(rv.text(cid))
        if conv is not None:
            self._current.put(token, conv.id)
        return conv

    # conversations
    async def create(self, session: str, channel: str, language: str, **extra: str) -> Conversation:
        cid = uuid.uuid4().hex
        now = time.time()
        fields = {"id": cid, "session": session, "state": BOT, "channel": channel, "language": language,
                  "created_at": f"{now:.3f}", "updated_at": f"{now:.3f}", **extra}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.conversation_key(cid), mapping=rv.fields(fields))
        pipe.persist(self.session_key(session))  # a used session lasts as long as its conversations
        pipe.rpush(self.session_conversations_key(session), cid)
        pipe.sadd(self.open_key, cid)
        await pipe.execute()
        self._current.put(session, cid)
        return Conversation(cid, session, BOT, channel, language, now, fields)

    async def get(self, cid: str) -> Conversation | None:
        key = self.conversation_key(cid)
        raw = (await self._batch.execute(lambda pipe: pipe.hgetall(key)))[0]
        if not raw:
            return None
        f = rv.text_map(raw)
        return Conversation(f["id"], f["session"], f["state"], f["channel"], f["language"],
                            float(f["created_at"]), f)

    async def update(self, cid: str, **fields: str) -> None:
        fields["updated_at"] = f"{time.time():.3f}"
        await self.redis.hset(self.conversation_key(cid), mapping=rv.fields(fields))
        if fields.get("state") == CLOSED:
            await self.redis.srem(self.open_key, cid)

    async def claim_time(self, cid: str, field: str, now: float, older_than: float) -> bool:
        """Set the time `field` to `now` unless it already holds one from `older_than` on: of the processes that
        reach the same moment (the idle warning), exactly one gets True."""
        return bool(await self._claim_script(keys=[self.conversation_key(cid)],
                                             args=[field, f"{now:.3f}", f"{older_than:.3f}"]))

    async def set_time(self, cid: str, field: str, moment: float) -> None:
        """Set the time `field` without counting as activity (`updated_at` stays)."""
        await self.redis.hset(self.conversation_key(cid), field, f"{moment:.6f}")

    async def set_once(self, cid: str, field: str, value: str, **more: str) -> bool:
        """Set `field` (and `more` with it) only if the conversation has none yet; False when it had one."""
        key = self.conversation_key(cid)
        if not await self.redis.hsetnx(key, field, value):
            return False
        await self.update(cid, **more)
        return True

    async def set_state(self, cid: str, state: str, expected: tuple[str, ...] | None = None, **fields: str) -> bool:
        """Atomic compare-and-set of the state, so two processes cannot both move a conversation."""
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        key = self.conversation_key(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = await pipe.hget(key, "state")
                    if current is None or (expected and rv.text(current) not in expected):
                        await pipe.unwatch()
                        return False
                    pipe.multi()
                    now = f"{time.time():.3f}"
                    stamps = {"updated_at": now, "closed_at": now} if state == CLOSED else {"updated_at": now}
                    pipe.hset(key, mapping=rv.fields({"state": state, **stamps, **fields}))
                    if state == CLOSED:
                        pipe.srem(self.open_key, cid)
                    await pipe.execute()
                    return True
                except Exception as exc:  # WatchError: retry
                    if type(exc).__name__ != "WatchError":
                        raise

    async def open_ids(self) -> list[str]:
        """Every conversation not closed yet."""
        return [m.decode() async for m in self.redis.sscan_iter(self.open_key, count=1000)]

    async def activity(self, cids: list[str]) -> list[tuple[str | None, float, float]]:
        """(state, time of the last update or message, when the resident was last warned it would close: 0 if
        never) per conversation; state None if it is gone."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in cids:
            pipe.hmget(self.conversation_key(cid), "state", "updated_at", "idle_warned_at")
            pipe.xrevrange(self.messages_key(cid), count=1)
        rows = await pipe.execute()
        out: list[tuple[str | None, float, float]] = []
        for (state, updated, warned), last in zip(rows[::2], rows[1::2], strict=True):
            last_ms = _parse_id(last[0][0].decode())[0] if last else 0
            out.append((state.decode() if state else None, max(float(updated or 0), last_ms / 1000),
                        float(warned or 0)))
        return out

    # messages
    @staticmethod
    def _entry(conv: Conversation, sender: str, text: str, language: str | None,
               extra: dict[str, Any]) -> tuple[dict[str, str], Message]:
        """A message's stream fields, and the Message it becomes once the stream gives it an id."""
        if sender not in SENDERS:
            raise ValueError(f"unknown sender {sender}")
        ts = int(time.time() * 1000)
        lang = language or conv.language
        fields: dict[str, str] = {"sender": sender, "text": text, "lang": lang, "channel": conv.channel,
                                  "ts": str(ts)}
        clean_extra = {k: v for k, v in extra.items() if v is not None}
        if clean_extra:
            fields["extra"] = json.dumps(clean_extra, ensure_ascii=False)
        return fields, Message("", sender, text, lang, conv.channel, ts, clean_extra)

    async def append(
        self, conv: Conversation, sender: str, text: str, language: str | None = None, **extra: Any
    ) -> Message:
        fields, message = self._entry(conv, sender, text, language, extra)
        msg_id = await self.redis.xadd(self.messages_key(conv.id), rv.fields(fields), id=await self._next_id(conv))
        self._known_streams.put(conv.id, "")
        message.id = msg_id.decode() if isinstance(msg_id, bytes) else msg_id
        return message

    async def record(self, conv: Conversation, sender: str, text: str, language: str | None = None,
                     client_msg_id: str | None = None, conv_fields: dict[str, str] | None = None,
                     **extra: Any) -> Message | str:
        """`append` for a resident's message, in one atomic round trip (a Lua script): the client id
        check, the conversation's field changes (`conv_fields`: language, media_url) and the stream
        entry. Returns the stored Message, or — the client id was seen before — the earlier message's
        id ("pending" while an older process still has it in flight); then nothing is written.

        Why one script: this is the relay's hot path, and each Redis round trip costs the event loop
        more CPU than the rest of storing the message. The reply comes after Redis has applied the
        XADD (and logged it to the AOF like any write), so acknowledging after it keeps durability.
        """
        fields, message = self._entry(conv, sender, text, language, {"client_msg_id": client_msg_id, **extra})
        changes = dict(conv_fields or {})
        if changes:
            changes["updated_at"] = f"{time.time():.3f}"
        args: list[str] = [await self._next_id(conv), str(self.CLIENT_ID_TTL_S), str(len(changes))]
        for pairs in (changes, fields):
            for key, value in pairs.items():
                args += [key, value]
        keys = [self.messages_key(conv.id), self.conversation_key(conv.id),
                self._cmid(conv.id, client_msg_id) if client_msg_id else ""]
        sha = self._record_script.sha
        try:
            stored, value = (await self._batch.execute(lambda pipe: pipe.evalsha(sha, len(keys), *keys, *args)))[0]
        except NoScriptError:  # Redis restarted or flushed its scripts; NOSCRIPT ran nothing, so run it again
            stored, value = await self._record_script(keys=keys, args=args)
        value = value.decode() if isinstance(value, bytes) else str(value)
        if not stored:
            return value
        self._known_streams.put(conv.id, "")
        message.id = value
        return message

    async def _next_id(self, conv: Conversation) -> str:
        """'*' normally; above the previous conversation's last id for a new conversation's first message."""
        if self._known_streams.get(conv.id) is not None or await self.redis.exists(self.messages_key(conv.id)):
            return "*"
        convs = await self.session_conversations(conv.session)
        idx = convs.index(conv.id) if conv.id in convs else -1
        if idx <= 0:
            return "*"
        last = rv.stream_entries(await self.redis.xrevrange(self.messages_key(convs[idx - 1]), count=1))
        if not last:
            return "*"
        prev_ms, prev_seq = _parse_id(rv.text(last[0][0]))
        now_ms = int(time.time() * 1000)
        return "*" if now_ms > prev_ms else f"{prev_ms}-{prev_seq + 1}"

    async def messages(self, cid: str, after: str = "0", count: int | None = None) -> list[Message]:
        start = "-" if after in ("0", "0-0") else f"({after}"
        rows = rv.stream_entries(await self.redis.xrange(self.messages_key(cid), min=start, max="+", count=count))
        return [self._decode(mid, raw) for mid, raw in rows]

    async def message_before(self, cid: str, message_id: str) -> Message | None:
        """The message the resident saw last before `message_id` (staff-only notes are not seen)."""
        rows = rv.stream_entries(await self.redis.xrevrange(self.messages_key(cid), max=message_id, min="-", count=4))
        earlier = (self._decode(mid, raw) for mid, raw in rows if rv.text(mid) != message_id)
        return next((m for m in earlier if m.extra.get("visibility") != "internal"), None)

    async def session_messages_after(self, token: str, after: str) -> list[Message]:
        """Every message of every conversation of this session with id > after, in order."""
        out: list[Message] = []
        after_key = _parse_id(after) if after not in ("0", "0-0") else (0, 0)
        for cid in await self.session_conversations(token):
            last = rv.stream_entries(await self.redis.xrevrange(self.messages_key(cid), count=1))
            if last and _parse_id(rv.text(last[0][0])) <= after_key:
                continue
            out.extend(m for m in await self.messages(cid, after) if m.extra.get("visibility") != "internal")
        return out

    @staticmethod
    def _decode(mid: bytes | str, raw: Mapping[bytes | str, bytes | str]) -> Message:
        f = rv.text_map(raw)
        return Message(
            rv.text(mid), f["sender"], f.get("text", ""), f.get("lang", ""),
            f.get("channel", ""), int(f.get("ts", "0")), json.loads(f["extra"]) if "extra" in f else {},
        )

    def _cmid(self, cid: str, client_msg_id: str) -> str:
        return self.conversation_subkey(cid, f"cmid:{client_msg_id}")

    async def message(self, cid: str, message_id: str) -> Message | None:
        rows = rv.stream_entries(await self.redis.xrange(self.messages_key(cid), min=message_id, max=message_id))
        return self._decode(*rows[0]) if rows else None
