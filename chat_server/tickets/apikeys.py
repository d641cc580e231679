"""Open311 API keys: issued by `chat311 apikeys add`, checked on every POST requests.

Every key may file requests. Reading residents' contact details and chat transcripts through
GET requests needs the `read_private` scope (`chat311 apikeys add NAME --scope read_private`):
the city's own back office gets it, a public app never does.

Keys are 32 random bytes, so a plain SHA-256 is enough to store them safely (no dictionary to
attack) and cheap enough to check on every request, unlike a password hash. The plain key is
shown once, at creation. A key looks like `c311_<key_id>_<secret>`; the id is what `list`
shows and `revoke` takes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from redis.asyncio import Redis


class Scope(StrEnum):
    READ_PRIVATE = "read_private"  # contact details and transcripts in GET requests


@dataclass
class ApiKey:
    key_id: str
    name: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None
    scopes: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.keys = f"{prefix}apikeys"  # hash key_id -> JSON metadata (incl. digest)
        self.by_digest = f"{prefix}apikeys:digest"  # hash digest -> key_id

    async def add(self, name: str, scopes: list[Scope] | None = None) -> tuple[ApiKey, str]:
        key_id = secrets.token_hex(4)
        plain = f"c311_{key_id}_{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, name, time.time(), scopes=[str(s) for s in scopes or []])
        record = {**key.__dict__, "digest": _digest(plain)}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys, key_id, json.dumps(record))
        pipe.hset(self.by_digest, record["digest"], key_id)
        await pipe.execute()
        return key, plain

    async def list(self) -> list[ApiKey]:
        out = []
        for raw in (await self.redis.hgetall(self.keys)).values():
            record = json.loads(raw)
            record.pop("digest", None)
            out.append(ApiKey(**record))
        return sorted(out, key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> bool:
        raw = await self.redis.hget(self.keys, key_id)
        if raw is None:
            return False
        record = json.loads(raw)
        record["revoked_at"] = record.get("revoked_at") or time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys, key_id, json.dumps(record))
        pipe.hdel(self.by_digest, record["digest"])
        await pipe.execute()
        return True

    async def check(self, plain: str | None) -> str | None:
        """The key id if `plain` is a valid, unrevoked key."""
        if not plain or len(plain) > 200:
            return None
        key_id = await self.redis.hget(self.by_digest, _digest(plain))
        if key_id is None:
            return None
        return key_id.decode()

    async def scopes(self, key_id: str) -> list[str]:
        """The scopes of an active key (a revoked or unknown key has none)."""
        raw = await self.redis.hget(self.keys, key_id)
        if raw is None:
            return []
        record = json.loads(raw)
        return [] if record.get("revoked_at") else list(record.get("scopes") or [])
