"""Rate limits shared by every chat_server process (fixed windows in Redis).

Residents behind one library or office IP must not block each other, so the tight limit is
per (IP, session) and the per-IP limit is only a generous flood ceiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass
class Limit:
    name: str
    max_events: int
    window_s: float


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.p = prefix

    async def hit(self, limit: Limit, key: str) -> bool:
        """Count one event; False when the caller is over the limit for the current window."""
        window = int(time.time() // limit.window_s)
        rkey = f"{self.p}rl:{limit.name}:{key}:{window}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(rkey)
        pipe.expire(rkey, int(limit.window_s) + 1)
        count, _ = await pipe.execute()
        return int(count) <= limit.max_events
