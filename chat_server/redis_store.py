"""What every Redis-backed store starts from: the client and the deployment's key prefix.

Only the store itself turns the prefix into keys: no other module knows a store's key layout.
"""

from __future__ import annotations

from redis.asyncio import Redis


class RedisStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
