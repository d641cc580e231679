"""Rate limits shared by every chat_server process (fixed windows in Redis).

Residents behind one library or office IP must not block each other, so the tight limit is
per (IP, session) and the per-IP limit is only a generous flood ceiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from chat_server.redis_batch import PipelineBatcher


@dataclass
class Limit:
    name: str
    max_events: int
    window_s: float


_PRUNE_AT = 10_000  # refused windows remembered before expired ones are forgotten


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.prefix = prefix
        self._writes = PipelineBatcher.shared(redis)
        # Window keys already over their limit → the window's end. A count only grows within its
        # window, so a key refused once stays refused until then: a flood's further messages are
        # refused from memory, with no Redis round trip (and no write storm).
        self._refused: dict[str, float] = {}

    async def hit(self, limit: Limit, key: str) -> bool:
        """Count one event; False when the caller is over the limit for the current window."""
        return await self.hit_all([(limit, key)])

    async def hit_all(self, checks: list[tuple[Limit, str]]) -> bool:
        """Count one event against limits checked in order; False if any is exceeded.

        An event refused by one limit does not count against the later ones: a resident flooding
        their own session must not use up the per-IP ceiling their library neighbours share.
        Every resident message is checked against two limits and on the hot path a Redis round
        trip costs more CPU than the rest of the check, so all are counted in one (shared) round
        trip (redis_batch.py) and a refusal — the rare case — undoes the later counts.
        """
        now = time.time()
        keys = [f"{self.prefix}rl:{limit.name}:{key}:{int(now // limit.window_s)}" for limit, key in checks]
        if any(self._refused.get(rkey, 0.0) > now for rkey in keys):
            return False

        def count(pipe: Pipeline) -> None:
            for (limit, _), rkey in zip(checks, keys, strict=True):
                pipe.incr(rkey)
                pipe.expire(rkey, int(limit.window_s) + 1)

        counts = [int(c) for c in (await self._writes.execute(count))[::2]]
        refused = next((i for i, ((limit, _), c) in enumerate(zip(checks, counts, strict=True))
                        if c > limit.max_events), None)
        if refused is None:
            return True
        if len(self._refused) >= _PRUNE_AT:
            self._refused = {k: end for k, end in self._refused.items() if end > now}
        window = checks[refused][0].window_s
        self._refused[keys[refused]] = (int(now // window) + 1) * window
        uncounted = keys[refused + 1:]

        def undo(pipe: Pipeline) -> None:
            for rkey in uncounted:
                pipe.decr(rkey)

        if uncounted:
            await self._writes.execute(undo)
        return False
