"""Published article versions in Redis: the one copy every chat_server process serves.

Each article has a version number. A publish names the version it was based on and is applied
only if that is still the latest (one Lua script: check, store, append to history, bump the
generation), so two staff saving the same article at once never lose an edit silently: the
second gets `VersionConflict` and reloads. Every publish also appends `<generation>:<id>` to a
short change log, which other processes poll (`changes_since`) to upsert just that article.

Keys (`<prefix>kb:`): `ver` hash id → latest version number; `cur` hash id → latest record
(JSON; absent when retired); `hist:<id>` list of every record, oldest first; `gen` counter;
`log` zset of `<gen>:<id>` scored by generation, trimmed to the last LOG_KEEP entries.
A record: {version, data (article mapping or null = retired), author, ts, origin, file, file_sha, note}.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from chat_server.redis_values import scored_members, text

LOG_KEEP = 1000

# KEYS: ver, cur, hist:<id>, gen, log   ARGV: id, base version, record JSON (without version), live (1|0)
_PUBLISH = """
local v = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if v ~= tonumber(ARGV[2]) then return {0, v, 0} end
v = v + 1
local rec = '{"version":' .. v .. ',' .. string.sub(ARGV[3], 2)
redis.call('HSET', KEYS[1], ARGV[1], v)
if ARGV[4] == '1' then redis.call('HSET', KEYS[2], ARGV[1], rec) else redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('RPUSH', KEYS[3], rec)
local g = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[5], g, g .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[5]) + 1))
return {1, v, g}
"""


class Origin(StrEnum):
    FILE = "file"  # loaded from the article's YAML file at startup (first load, or the file changed)
    EDIT = "edit"  # saved on the content page
    CREATED = "created"  # a new article written on the content page (no file until `chat311 kb export`)
    ROLLBACK = "rollback"  # a new version equal to an older one
    INBOX = "inbox"  # a resident's question attached as a sample question
    RETIRED = "retired"  # its file was deleted, or staff retired it on the content page: no longer served


class VersionConflict(Exception):
    """Someone published this article since the version the edit was based on."""

    def __init__(self, article_id: str, base: int, current: int) -> None:
        super().__init__(f"{article_id} was changed by someone else: you edited version {base}, "
                         f"the latest is version {current}; reload it and apply your change again")
        self.article_id, self.base, self.current = article_id, base, current


@dataclass(frozen=True)
class Version:
    version: int
    data: dict[str, Any] | None  # None: retired
    author: str
    ts: float
    origin: str
    file: str  # path under the knowledge directory, e.g. water/water-bill-pay.yml (where export writes it)
    file_sha: str  # the file content this version last saw (startup compares it to detect a changed file)
    note: str = ""

    @classmethod
    def from_json(cls, raw: str | bytes) -> Version:
        d = json.loads(raw)
        return cls(int(d["version"]), d.get("data"), str(d.get("author", "")), float(d.get("ts", 0)),
                   str(d.get("origin", "")), str(d.get("file", "")), str(d.get("file_sha", "")),
                   str(d.get("note", "")))

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "author": self.author, "ts": self.ts, "origin": self.origin,
                "note": self.note}


def content_sha(data: Any) -> str:
    """A stable fingerprint of an article mapping (key order and YAML formatting do not matter)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


class ArticleStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.kb_prefix = f"{prefix}kb:"
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, article_id: str, data: dict[str, Any] | None, base_version: int, author: str,
                      origin: Origin, file: str, file_sha: str, note: str = "") -> Version:
        """Store `data` as the next version if `base_version` is still the latest (0: a new article)."""
        ts = round(time.time(), 3)
        body = json.dumps({"data": data, "author": author, "ts": ts, "origin": str(origin), "file": file,
                           "file_sha": file_sha, "note": note}, ensure_ascii=False)
        ok, version, _ = await self._publish(
            keys=[f"{self.kb_prefix}{part}" for part in ("ver", "cur", f"hist:{article_id}", "gen", "log")],
            args=[article_id, base_version, body, "1" if data is not None else "0", LOG_KEEP])
        if not ok:
            raise VersionConflict(article_id, base_version, int(version))
        return Version(int(version), data, author, ts, str(origin), file, file_sha, note)

    async def current(self, article_id: str) -> Version | None:
        raw = await self.redis.hget(f"{self.kb_prefix}cur", article_id)
        return Version.from_json(raw) if raw else None

    async def latest_version(self, article_id: str) -> int:
        """The latest version number, also for a retired article (what the next publish must be based on)."""
        return int(await self.redis.hget(f"{self.kb_prefix}ver", article_id) or 0)

    async def all_current(self) -> dict[str, Version]:
        raw = await self.redis.hgetall(f"{self.kb_prefix}cur")
        return {text(k): Version.from_json(v) for k, v in raw.items()}

    async def retired(self) -> dict[str, Version]:
        """Articles that were published once and are retired now, each with its retiring record."""
        ids = sorted(set(map(text, await self.redis.hkeys(f"{self.kb_prefix}ver")))
                     - set(map(text, await self.redis.hkeys(f"{self.kb_prefix}cur"))))
        rows = [await self.redis.lindex(f"{self.kb_prefix}hist:{i}", -1) for i in ids]
        return {i: Version.from_json(raw) for i, raw in zip(ids, rows, strict=True) if raw}

    async def history(self, article_id: str) -> list[Version]:
        """Every version, newest first."""
        rows = await self.redis.lrange(f"{self.kb_prefix}hist:{article_id}", 0, -1)
        return [Version.from_json(r) for r in reversed(rows)]

    async def last_published(self, article_id: str) -> Version | None:
        """The newest version with an article in it (a retired article's text, for listing or restoring it)."""
        return next((v for v in await self.history(article_id) if v.data is not None), None)

    async def version(self, article_id: str, number: int) -> Version | None:
        if number < 1:
            return None
        raw = await self.redis.lindex(f"{self.kb_prefix}hist:{article_id}", number - 1)
        return Version.from_json(raw) if raw else None

    async def generation(self) -> int:
        return int(await self.redis.get(f"{self.kb_prefix}gen") or 0)

    async def changes_since(self, generation: int) -> tuple[int, set[str] | None]:
        """(latest generation, ids published after `generation`), or None for the ids when the log
        no longer reaches back that far (the caller then reloads everything)."""
        entries = scored_members(await self.redis.zrangebyscore(f"{self.kb_prefix}log", f"({generation}", "+inf",
                                                                withscores=True))
        if not entries:
            return generation, set()
        oldest = int(entries[0][1])
        latest = int(entries[-1][1])
        if oldest > generation + 1:
            return latest, None
        ids = {m.split(":", 1)[1] for m, _ in entries}
        return latest, ids
