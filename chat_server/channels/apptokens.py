"""App tokens for the mobile-app API (`chat311 apptokens add|list|revoke`).

A token is 32 random bytes, so storing its SHA-256 is safe (nothing to brute-force) and cheap to
check on every request, unlike a password hash. The plain token is shown once, at creation; it
looks like `c311app_<app_id>_<secret>`, and the app id is what `list` shows and `revoke` takes.

An app may register a webhook URL: new bot/agent messages and status events are POSTed there,
signed with the app's webhook secret (HMAC-SHA256), which must be readable to sign, so it is
kept as is; it is shown once too.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass

from redis.asyncio import Redis


@dataclass
class AppToken:
    app_id: str
    name: str
    created_at: float
    webhook_url: str = ""
    webhook_secret: str = ""
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


class AppTokenStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.apps = f"{prefix}apptokens"  # hash app_id -> JSON record (incl. token digest)
        self.by_digest = f"{prefix}apptokens:digest"  # hash digest -> app_id

    async def add(self, name: str, webhook_url: str = "") -> tuple[AppToken, str]:
        if webhook_url and not webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook URL must start with https:// (or http:// for local testing)")
        app_id = secrets.token_hex(4)
        plain = f"c311app_{app_id}_{secrets.token_urlsafe(32)}"
        token = AppToken(app_id, name, time.time(), webhook_url,
                         f"whsec_{secrets.token_urlsafe(24)}" if webhook_url else "")
        record = {**asdict(token), "digest": digest(plain)}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.apps, app_id, json.dumps(record))
        pipe.hset(self.by_digest, record["digest"], app_id)
        await pipe.execute()
        return token, plain

    async def get(self, app_id: str) -> AppToken | None:
        raw = await self.redis.hget(self.apps, app_id)
        if raw is None:
            return None
        record = json.loads(raw)
        record.pop("digest", None)
        return AppToken(**record)

    async def list(self) -> list[AppToken]:
        out = []
        for raw in (await self.redis.hgetall(self.apps)).values():
            record = json.loads(raw)
            record.pop("digest", None)
            out.append(AppToken(**record))
        return sorted(out, key=lambda t: t.created_at)

    async def revoke(self, app_id: str) -> bool:
        raw = await self.redis.hget(self.apps, app_id)
        if raw is None:
            return False
        record = json.loads(raw)
        record["revoked_at"] = record.get("revoked_at") or time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.apps, app_id, json.dumps(record))
        pipe.hdel(self.by_digest, record["digest"])
        await pipe.execute()
        return True

    async def check(self, plain: str | None) -> str | None:
        """The app id if `plain` is a valid, unrevoked token."""
        if not plain or len(plain) > 200:
            return None
        app_id = await self.redis.hget(self.by_digest, digest(plain))
        return app_id.decode() if app_id else None
