"""Incidents in Redis: one JSON document each, an index by end time, a generation counter.

Every chat_server process polls the generation counter (one GET a second) and reloads the
live incidents when it moves, so a notice posted in one process is served by all of them
within the poll interval. Incidents hold no personal data; the per-incident sets of
conversation ids behind the statistics expire with the conversations' retention.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import LockError

from chat_server import redis_values as rv
from chat_server.incidents.model import Incident, IncidentError, from_dict

KEEP_ENDED_S = 400 * 86400  # a year of reports, plus slack
LOCK_S = 10.0


class IncidentStore:
    def __init__(self, redis: Redis, prefix: str, stats_ttl_s: int) -> None:
        self.redis = redis
        self._doc = f"{prefix}incident:"
        self._by_end = f"{prefix}incidents"
        self._gen = f"{prefix}incidents:gen"
        self._lock = f"{prefix}incidents:lock"
        self._stats_ttl_s = stats_ttl_s

    @asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        """Held while staff post or end an incident: the overlap and "already ended" checks read what the
        other process may be writing."""
        lock = self.redis.lock(self._lock, timeout=LOCK_S, blocking_timeout=LOCK_S)
        if not await lock.acquire():
            raise IncidentError("incident", "another change to the notices is being saved; try again in a moment")
        try:
            yield
        finally:
            with contextlib.suppress(LockError):  # held past LOCK_S: it expired, nothing to release
                await lock.release()

    async def generation(self) -> int:
        return int(await self.redis.get(self._gen) or 0)

    async def save(self, incident: Incident) -> int:
        """Store (or replace) an incident; returns the new generation."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._doc + incident.id, json.dumps(incident.to_dict(), ensure_ascii=False))
            pipe.zadd(self._by_end, {incident.id: incident.effective_end})
            pipe.incr(self._gen)
            result = await pipe.execute()
        return int(result[-1])

    async def get(self, incident_id: str) -> Incident | None:
        raw = await self.redis.get(self._doc + incident_id)
        return from_dict(json.loads(raw)) if raw else None

    async def ending_after(self, since: float) -> list[Incident]:
        """Incidents live or scheduled at or after `since` (the poll loop's working set)."""
        return await self._load(rv.members(await self.redis.zrangebyscore(self._by_end, since, "+inf")))

    async def recent(self, since: float, limit: int = 50) -> list[Incident]:
        ids = await self.redis.zrevrangebyscore(self._by_end, "+inf", since, start=0, num=limit)
        return await self._load(rv.members(ids))

    async def _load(self, ids: list[str]) -> list[Incident]:
        if not ids:
            return []
        docs = await self.redis.mget([self._doc + i for i in ids])
        return [from_dict(json.loads(d)) for d in docs if d]

    async def purge_ended(self, now: float) -> int:
        old = rv.members(await self.redis.zrangebyscore(self._by_end, "-inf", now - KEEP_ENDED_S))
        if old:
            await self.redis.delete(*(self._doc + i for i in old))
            await self.redis.zrem(self._by_end, *old)
        return len(old)

    # statistics: which conversations got the notice, and which of those still needed an agent
    def _stat(self, incident_id: str, name: str) -> str:
        return f"{self._doc}{incident_id}:{name}"

    async def count_noticed(self, incident_id: str, conversation_id: str) -> None:
        key = self._stat(incident_id, "noticed")
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, conversation_id)
            pipe.expire(key, self._stats_ttl_s)
            pipe.sadd(f"{self._doc}conv:{conversation_id}", incident_id)
            pipe.expire(f"{self._doc}conv:{conversation_id}", self._stats_ttl_s)
            await pipe.execute()

    async def incidents_of(self, conversation_id: str) -> list[str]:
        return rv.members(await self.redis.smembers(f"{self._doc}conv:{conversation_id}"))

    async def count_escalated(self, incident_id: str, conversation_id: str) -> None:
        key = self._stat(incident_id, "escalated")
        await self.redis.sadd(key, conversation_id)
        await self.redis.expire(key, self._stats_ttl_s)

    async def claim(self, incident_id: str, what: str) -> bool:
        """True for the one process that does `what` for this incident first (e.g. telling the queue)."""
        return bool(await self.redis.set(self._stat(incident_id, what), "1", nx=True, ex=self._stats_ttl_s))

    async def stats(self, incident_id: str) -> dict[str, int]:
        noticed = int(await self.redis.scard(self._stat(incident_id, "noticed")))
        escalated = int(await self.redis.scard(self._stat(incident_id, "escalated")))
        return {"chats": noticed, "escalated": escalated, "contained": max(0, noticed - escalated)}
