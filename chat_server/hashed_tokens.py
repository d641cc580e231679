"""Secrets handed to other systems (Open311 API keys, mobile-app tokens), stored as SHA-256 digests.

A token is 32 random bytes, so a plain SHA-256 is safe to store (nothing to brute-force) and cheap
to check on every request, unlike a password hash. The plain token is shown once, at creation; it
looks like `<kind>_<id>_<secret>`, and the id is what listings show and revocation takes.

Records live in one Redis hash (id -> JSON, digest included) next to a digest -> id index that
revocation removes, so checking a presented token is a single HGET. The stores built on this one
(tickets/apikeys.py, channels/apptokens.py) subclass it with their record type and only add their own
fields and rules; listing, reading, revoking and checking are this class's.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from chat_server import redis_values as rv

MAX_TOKEN_CHARS = 200  # longer than any token we issue: refused before hashing

R = TypeVar("R")


@dataclass(kw_only=True)
class IssuedToken:
    """The fields every issued token's record has; subclasses add their id field and their own."""

    name: str
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


class HashedTokenStore(Generic[R]):
    """`record` builds a subclass's record type from a stored record's fields (digest left out)."""

    def __init__(self, redis: Redis, key: str, kind: str, id_field: str, record: Callable[..., R]) -> None:
        self.redis = redis
        self.records_key = key  # hash id -> JSON record (incl. digest)
        self.digests_key = f"{key}:digest"  # hash digest -> id
        self.kind = kind
        self.id_field = id_field
        self.record = record

    async def issue(self, fields: dict[str, Any]) -> tuple[R, str]:
        """A new token: (its record, the plain token — shown once)."""
        token_id = secrets.token_hex(4)
        plain = f"{self.kind}_{token_id}_{secrets.token_urlsafe(32)}"
        record = {self.id_field: token_id, "created_at": time.time(), "revoked_at": None, **fields}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.records_key, token_id, json.dumps({**record, "digest": digest(plain)}))
        pipe.hset(self.digests_key, digest(plain), token_id)
        await pipe.execute()
        return self.record(**record), plain

    async def _stored(self, token_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(self.records_key, token_id)
        return None if raw is None else dict(json.loads(raw))

    def _public(self, stored: dict[str, Any]) -> R:
        """A stored record as callers see it: the digest stays inside the store."""
        return self.record(**{k: v for k, v in stored.items() if k != "digest"})

    async def get(self, token_id: str) -> R | None:
        stored = await self._stored(token_id)
        return None if stored is None else self._public(stored)

    async def list(self) -> builtins.list[R]:
        """Oldest first, revoked ones included."""
        stored = [json.loads(raw) for raw in (await self.redis.hgetall(self.records_key)).values()]
        return [self._public(record) for record in sorted(stored, key=lambda r: r["created_at"])]

    async def revoke(self, token_id: str) -> bool:
        """Revoked tokens stay listed (with revoked_at) but no longer check."""
        record = await self._stored(token_id)
        if record is None:
            return False
        record["revoked_at"] = record.get("revoked_at") or time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.records_key, token_id, json.dumps(record))
        pipe.hdel(self.digests_key, record["digest"])
        await pipe.execute()
        return True

    async def check(self, plain: str | None) -> str | None:
        """The id if `plain` is a valid, unrevoked token."""
        if not plain or len(plain) > MAX_TOKEN_CHARS:
            return None
        token_id = await self.redis.hget(self.digests_key, digest(plain))
        return rv.text(token_id) if token_id else None
