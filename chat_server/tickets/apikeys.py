"""Open311 API keys: issued by `chat311 apikeys add`, checked on every POST requests.

Every key may file requests. Reading residents' contact details and chat transcripts through
GET requests needs the `read_private` scope (`chat311 apikeys add NAME --scope read_private`):
the city's own back office gets it, a public app never does. Keys look like `c311_<key_id>_<secret>`
and are stored hashed (chat_server/hashed_tokens.py).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from enum import StrEnum

from redis.asyncio import Redis

from chat_server.hashed_tokens import HashedTokenStore, IssuedToken


class Scope(StrEnum):
    READ_PRIVATE = "read_private"  # contact details and transcripts in GET requests


@dataclass(kw_only=True)
class ApiKey(IssuedToken):
    key_id: str
    last_used_at: float | None = None
    scopes: list[str] = field(default_factory=list)


class ApiKeyStore(HashedTokenStore[ApiKey]):
    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, f"{prefix}apikeys", "c311", "key_id", ApiKey)

    async def add(self, name: str, scopes: builtins.list[Scope] | None = None) -> tuple[ApiKey, str]:
        return await self.issue({"name": name, "scopes": [str(s) for s in scopes or []]})

    async def scopes(self, key_id: str) -> builtins.list[str]:
        """The scopes of an active key (a revoked or unknown key has none)."""
        key = await self.get(key_id)
        return list(key.scopes) if key is not None and key.active else []
