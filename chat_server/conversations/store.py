"""Conversations in Redis: a state hash per conversation and a Stream holding every message.

The stream id of a message is its public `id`: clients acknowledge and replay by it, so
"what did this tab miss?" is one XRANGE. A resident's session token maps to the list of
conversations it has had; a new conversation's first id is forced above the previous
conversation's last id so a session's ids stay strictly increasing across conversations.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from chat_server.redis_batch import PipelineBatcher

# States (DESIGN.md): bot → queued → assigned → closed; bot → ticketed → closed.
BOT, QUEUED, ASSIGNED, TICKETED, CLOSED = "bot", "queued", "assigned", "ticketed", "closed"
STATES = (BOT, QUEUED, ASSIGNED, TICKETED, CLOSED)
SENDERS = ("resident", "bot", "agent", "system")


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
        if self.sender != "resident":
            out["sender"] = self.sender
        for key in ("quick_replies", "attachment", "custom", "agent_name", "client_msg_id", "form_active"):
            if self.extra.get(key) is not None:
                out[key] = self.extra[key]
        return out

    def to_rasa_client(self) -> dict[str, Any] | None:
        """The exact shape Rasa's socketio channel sends (rasa-webchat drops anything else)."""
        if self.sender == "resident":
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
        return "resident_uttered" if self.sender == "resident" else "bot_uttered"


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


def valid_message_id(value: Any) -> bool:
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


class ConversationStore:
    """All Redis I/O of conversations; no policy here (that is the relay's job)."""

    CLIENT_ID_TTL_S = 24 * 3600
    MEMO_MAX = 100_000

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.p = prefix
        # Two in-process memos that save a Redis round trip per resident message (bounded LRUs):
        # - conversations whose message stream exists: their next id is always "*" (a stream never
        #   disappears while its conversation can still receive messages; purges delete closed ones);
        # - each session's current conversation: only a closed one is ever followed by a new one,
        #   so a remembered conversation that is still open is still the current one.
        self._known_streams: _Lru = _Lru(self.MEMO_MAX)
        self._current: _Lru = _Lru(self.MEMO_MAX)
        self._record_script = redis.register_script(_RECORD)
        # Per-message reads and writes ride the round trips other turns' commands make (redis_batch.py).
        self._batch = PipelineBatcher.shared(redis)

    # keys
    def _conv(self, cid: str) -> str:
        return f"{self.p}conv:{cid}"

    def _msgs(self, cid: str) -> str:
        return f"{self.p}conv:{cid}:msgs"

    def _session(self, token: str) -> str:
        return f"{self.p}session:{token}"

    def _session_convs(self, token: str) -> str:
        return f"{self.p}session:{token}:convs"

    # sessions
    async def new_session(self, channel: str = "web", ttl_s: int | None = None, **meta: str) -> str:
        """A new session token. With `ttl_s` the session expires unless it gets a conversation first
        (`create` makes it permanent), so sessions opened and never used do not pile up."""
        token = secrets.token_urlsafe(24)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self._session(token), mapping={"created_at": f"{time.time():.3f}", "channel": channel, **meta})
        if ttl_s:
            pipe.expire(self._session(token), ttl_s)
        await pipe.execute()
        return token

    async def session_exists(self, token: Any) -> bool:
        if not isinstance(token, str) or not 16 <= len(token) <= 64:
            return False
        return bool(await self.redis.exists(self._session(token)))

    async def mark_plain_client(self, token: str) -> None:
        """A Rasa-protocol client (no last_message_id) joined: deliver plain Rasa payloads too."""
        await self.redis.hset(self._session(token), "plain_clients", "1")

    async def has_plain_clients(self, token: str) -> bool:
        return bool(await self.redis.hget(self._session(token), "plain_clients"))

    async def session_conversations(self, token: str) -> list[str]:
        return [c.decode() for c in await self.redis.lrange(self._session_convs(token), 0, -1)]

    async def current_conversation(self, token: str) -> Conversation | None:
        remembered = self._current.get(token)
        if remembered is not None:
            conv = await self.get(remembered)
            if conv is not None and conv.state != CLOSED:
                return conv
        cid = await self.redis.lindex(self._session_convs(token), -1)
        if not cid:
            return None
        conv = await self.get(cid.decode())
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
        pipe.hset(self._conv(cid), mapping=fields)
        pipe.persist(self._session(session))  # a used session lasts as long as its conversations
        pipe.rpush(self._session_convs(session), cid)
        pipe.sadd(f"{self.p}convs:open", cid)
        await pipe.execute()
        self._current.put(session, cid)
        return Conversation(cid, session, BOT, channel, language, now, fields)

    async def get(self, cid: str) -> Conversation | None:
        key = self._conv(cid)
        raw = (await self._batch.execute(lambda pipe: pipe.hgetall(key)))[0]
        if not raw:
            return None
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return Conversation(f["id"], f["session"], f["state"], f["channel"], f["language"],
                            float(f["created_at"]), f)

    async def update(self, cid: str, **fields: str) -> None:
        fields["updated_at"] = f"{time.time():.3f}"
        await self.redis.hset(self._conv(cid), mapping=fields)
        if fields.get("state") == CLOSED:
            await self.redis.srem(f"{self.p}convs:open", cid)

    async def set_state(self, cid: str, state: str, expected: tuple[str, ...] | None = None, **fields: str) -> bool:
        """Atomic compare-and-set of the state, so two processes cannot both move a conversation."""
        if state not in STATES:
            raise ValueError(f"unknown state {state}")
        key = self._conv(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = await pipe.hget(key, "state")
                    if current is None or (expected and current.decode() not in expected):
                        await pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping={"state": state, "updated_at": f"{time.time():.3f}", **fields})
                    if state == CLOSED:
                        pipe.srem(f"{self.p}convs:open", cid)
                    await pipe.execute()
                    return True
                except Exception as exc:  # WatchError: retry
                    if type(exc).__name__ != "WatchError":
                        raise

    async def open_ids(self) -> list[str]:
        """Every conversation not closed yet."""
        return [m.decode() async for m in self.redis.sscan_iter(f"{self.p}convs:open", count=1000)]

    async def activity(self, cids: list[str]) -> list[tuple[str | None, float]]:
        """(state, time of the last update or message) per conversation; state None if it is gone."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in cids:
            pipe.hmget(self._conv(cid), "state", "updated_at")
            pipe.xrevrange(self._msgs(cid), count=1)
        rows = await pipe.execute()
        out: list[tuple[str | None, float]] = []
        for (state, updated), last in zip(rows[::2], rows[1::2], strict=True):
            last_ms = _parse_id(last[0][0].decode())[0] if last else 0
            out.append((state.decode() if state else None, max(float(updated or 0), last_ms / 1000)))
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
        msg_id = await self.redis.xadd(self._msgs(conv.id), fields, id=await self._next_id(conv))
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
        keys = [self._msgs(conv.id), self._conv(conv.id), self._cmid(conv.id, client_msg_id) if client_msg_id else ""]
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
        if self._known_streams.get(conv.id) is not None or await self.redis.exists(self._msgs(conv.id)):
            return "*"
        convs = await self.session_conversations(conv.session)
        idx = convs.index(conv.id) if conv.id in convs else -1
        if idx <= 0:
            return "*"
        last = await self.redis.xrevrange(self._msgs(convs[idx - 1]), count=1)
        if not last:
            return "*"
        prev_ms, prev_seq = _parse_id(last[0][0].decode())
        now_ms = int(time.time() * 1000)
        return "*" if now_ms > prev_ms else f"{prev_ms}-{prev_seq + 1}"

    async def messages(self, cid: str, after: str = "0", count: int | None = None) -> list[Message]:
        start = "-" if after in ("0", "0-0") else f"({after}"
        rows = await self.redis.xrange(self._msgs(cid), min=start, max="+", count=count)
        return [self._decode(mid, raw) for mid, raw in rows]

    async def session_messages_after(self, token: str, after: str) -> list[Message]:
        """Every message of every conversation of this session with id > after, in order."""
        out: list[Message] = []
        after_key = _parse_id(after) if after not in ("0", "0-0") else (0, 0)
        for cid in await self.session_conversations(token):
            last = await self.redis.xrevrange(self._msgs(cid), count=1)
            if last and _parse_id(last[0][0].decode()) <= after_key:
                continue
            out.extend(m for m in await self.messages(cid, after) if m.extra.get("visibility") != "internal")
        return out

    @staticmethod
    def _decode(mid: bytes | str, raw: dict[bytes, bytes]) -> Message:
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return Message(
            mid.decode() if isinstance(mid, bytes) else mid, f["sender"], f.get("text", ""), f.get("lang", ""),
            f.get("channel", ""), int(f.get("ts", "0")), json.loads(f["extra"]) if "extra" in f else {},
        )

    def _cmid(self, cid: str, client_msg_id: str) -> str:
        return f"{self.p}conv:{cid}:cmid:{client_msg_id}"

    async def message(self, cid: str, message_id: str) -> Message | None:
        rows = await self.redis.xrange(self._msgs(cid), min=message_id, max=message_id)
        return self._decode(*rows[0]) if rows else None
