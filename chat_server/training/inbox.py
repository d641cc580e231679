"""The content inbox: resident messages the bot did not understand or answered unsure, in Redis.

Fed by four events (chat_server/events.py): `fallback` (the redacted text is in the event),
`bot_answered` with a confidence below `training.low_confidence` (the text is the
conversation's last resident message, redacted here), and `kb_feedback` with helpful=false
(kind `kb_not_helpful`, `predicted` = the article id, the text = the resident's question), and
`kb_menu_rejected` ("None of these" on a menu; kind `menu_rejected`, the text = the question).
Identical messages (case and spacing ignored) are one item with a count, so the inbox shows what
residents ask most, not a log.

Keys: `<prefix>training:inbox:<id>` (hash) and `<prefix>training:inbox:open` (zset by last seen).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from chat_server import redis_values
from chat_server.redaction import redact


class InboxKind(StrEnum):
    """Why a message is in the inbox (the pages name each kind: staff_texts.yml `content.kind.*`)."""
    FALLBACK = "fallback"
    LOW_CONFIDENCE = "low_confidence"
    KB_NOT_HELPFUL = "kb_not_helpful"  # a "No" on a knowledge-base answer
    MENU_REJECTED = "menu_rejected"  # "None of these" on a menu of articles


@dataclass
class InboxItem:
    id: str
    text: str
    language: str
    kind: str  # an InboxKind
    predicted: str
    confidence: float
    count: int
    first_ts: float
    last_ts: float
    status: str  # open | labelled | dismissed
    resolved_label: str = ""
    resolved_by: str = ""

    def public(self) -> dict[str, Any]:
        return dict(self.__dict__)


def item_id(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()[:16]


class Inbox:
    def __init__(self, redis: Redis, prefix: str, max_items: int = 500) -> None:
        self.redis = redis
        self.inbox_prefix = f"{prefix}training:inbox"
        self.max_items = max_items

    def _key(self, iid: str) -> str:
        return f"{self.inbox_prefix}:{iid}"

    async def record(self, text: str, language: str, kind: InboxKind, predicted: str, confidence: float,
                     ts: float | None = None) -> str | None:
        text = " ".join(redact(text or "").split())[:500]
        if not text or text.startswith("/"):
            return None  # button payloads are not resident language
        ts = ts or time.time()
        iid = item_id(text)
        key = self._key(iid)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(key, "first_ts", f"{ts:.3f}")
        pipe.hsetnx(key, "status", "open")
        pipe.hset(key, mapping={"text": text, "language": language or "en", "kind": kind,
                                "predicted": predicted or "", "confidence": f"{confidence or 0:.3f}",
                                "last_ts": f"{ts:.3f}"})
        pipe.hincrby(key, "count", 1)
        pipe.hget(key, "status")
        results = await pipe.execute()
        if redis_values.text(results[-1]) == "open":
            await self.redis.zadd(f"{self.inbox_prefix}:open", {iid: ts})
            excess = await self.redis.zcard(f"{self.inbox_prefix}:open") - self.max_items
            if excess > 0:
                for old in redis_values.members(await self.redis.zrange(f"{self.inbox_prefix}:open", 0, excess - 1)):
                    await self.redis.zrem(f"{self.inbox_prefix}:open", old)
                    await self.redis.delete(self._key(old))
        return iid

    async def get(self, iid: str) -> InboxItem | None:
        if not iid.isalnum() or len(iid) > 32:
            return None
        raw = await self.redis.hgetall(self._key(iid))
        if not raw:
            return None
        f = redis_values.text_map(raw)
        return InboxItem(iid, f.get("text", ""), f.get("language", "en"), f.get("kind", "fallback"),
                         f.get("predicted", ""), float(f.get("confidence") or 0), int(f.get("count") or 0),
                         float(f.get("first_ts") or 0), float(f.get("last_ts") or 0), f.get("status", "open"),
                         f.get("resolved_label", ""), f.get("resolved_by", ""))

    async def open_items(self, limit: int = 200) -> list[InboxItem]:
        ids = await self.redis.zrevrange(f"{self.inbox_prefix}:open", 0, limit - 1)
        items = [await self.get(i) for i in redis_values.members(ids)]
        return [i for i in items if i is not None and i.status == "open"]

    async def forget_before(self, cutoff: float, dry_run: bool = False) -> int:
        """Delete every item (open or resolved) last seen before `cutoff`: resident words, redacted, kept no longer
        than the event stream they came from (retention). Returns how many went (or would go)."""
        gone = 0
        async for key in self.redis.scan_iter(match=f"{self.inbox_prefix}:*", count=1000):
            iid = redis_values.text(key).rsplit(":", 1)[-1]
            if iid == "open":
                continue
            last = await self.redis.hget(key, "last_ts")
            if last is not None and float(last) >= cutoff:
                continue
            gone += 1
            if not dry_run:
                await self.redis.zrem(f"{self.inbox_prefix}:open", iid)
                await self.redis.delete(key)
        return gone

    async def resolve(self, iid: str, status: str, label: str = "", by: str = "") -> None:
        await self.redis.hset(self._key(iid), mapping={"status": status, "resolved_label": label,
                                                       "resolved_by": by, "resolved_ts": f"{time.time():.3f}"})
        await self.redis.zrem(f"{self.inbox_prefix}:open", iid)
