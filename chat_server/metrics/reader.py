"""Reads the event stream into an `Aggregator`, incrementally.

The first refresh reads the last `days` (+1) days of the stream (stream ids are publish times
in ms, so that is one XRANGE from a computed id); every later refresh reads only what came
after the last id seen. A refresh is shared by concurrent callers and skipped when the last
one is younger than `min_interval_s`, so a dashboard polled by twenty supervisors costs one
small XRANGE every couple of seconds, never a rescan of months.

Agents' presence comes from the agents module when it is installed (`agent_states`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from chat_server.metrics.compute import Aggregator, LogEvent, aggregate
from chat_server.redis_values import stream_entries, text

if TYPE_CHECKING:
    from chat_server.config import Config

BATCH = 5000
AgentCounts = Callable[[], Awaitable[dict[str, int]]]


class MetricsReader:
    def __init__(self, redis: Redis, stream: str, tz: str, days: int, service_level_s: float,
                 csat_satisfied_min: int, low_confidence: float = 0.0, min_interval_s: float = 1.0) -> None:
        self.redis = redis
        self.stream = stream
        self.tz = tz
        self.days = days
        self.min_interval_s = min_interval_s
        self.kwargs: dict[str, Any] = {"tz": tz, "service_level_s": service_level_s,
                                       "csat_satisfied_min": csat_satisfied_min, "low_confidence": low_confidence}
        self.agg = Aggregator(**self.kwargs)
        self.last_id: str | None = None
        self.refreshed_at = 0.0
        self._lock = asyncio.Lock()
        self.agent_counts: AgentCounts | None = None

    @classmethod
    def for_config(cls, redis: Redis, config: Config, min_interval_s: float = 0.0) -> MetricsReader:
        """The reader of this installation's event log, as the dashboard, /metrics and `chat311 report` use it."""
        cfg = config.metrics
        return cls(redis, f"{config.redis.key_prefix}events", cfg.timezone or config.hours.timezone, cfg.days,
                   cfg.service_level_s, cfg.csat_satisfied_min, config.training.low_confidence, min_interval_s)

    def window_start(self, now: float) -> float:
        """Epoch seconds of local midnight `days` days ago (+ one day for conversations spanning it)."""
        tz = ZoneInfo(self.tz)
        first = datetime.fromtimestamp(now, tz).date() - timedelta(days=self.days + 1)
        return datetime.combine(first, dtime(0), tzinfo=tz).timestamp()

    async def refresh(self, force: bool = False) -> Aggregator:
        now = time.time()
        if not force and now - self.refreshed_at < self.min_interval_s:
            return self.agg
        async with self._lock:
            if not force and time.time() - self.refreshed_at < self.min_interval_s:
                return self.agg
            start = f"{int(self.window_start(now) * 1000)}-0" if self.last_id is None else f"({self.last_id}"
            while True:
                rows = stream_entries(await self.redis.xrange(self.stream, min=start, max="+", count=BATCH))
                if not rows:
                    break
                for _mid, raw in rows:
                    self.agg.add(LogEvent.from_stream(raw))
                last = rows[-1][0]
                self.last_id = text(last)
                start = f"({self.last_id}"
                if len(rows) < BATCH:
                    break
                await asyncio.sleep(0)  # let residents' turns run between big batches
            if self.last_id is None:
                self.last_id = f"{int(self.window_start(now) * 1000)}-0"
            self.agg.prune(now, self.days + 1)
            self.refreshed_at = time.time()
        return self.agg

    async def agents(self) -> dict[str, int]:
        """{"online", "busy", "away", "offline"} counts; zeros when the agents module is absent."""
        if self.agent_counts is None:
            return {"online": 0, "busy": 0, "away": 0, "offline": 0}
        try:
            return await self.agent_counts()
        except Exception:  # presence is decoration on the dashboard; never break it
            return {"online": 0, "busy": 0, "away": 0, "offline": 0}

    def today(self, now: float | None = None) -> date:
        return datetime.fromtimestamp(now or time.time(), ZoneInfo(self.tz)).date()

    def bounds(self, start: date, end: date) -> tuple[float, float]:
        """[lo, hi) epoch seconds of local dates start..end."""
        tz = ZoneInfo(self.tz)
        return (datetime.combine(start, dtime(0), tzinfo=tz).timestamp(),
                datetime.combine(end + timedelta(days=1), dtime(0), tzinfo=tz).timestamp())

    async def events_between(self, start: date, end: date) -> list[LogEvent]:
        """Stored events whose timestamps fall on local dates start..end (for old date ranges)."""
        lo, hi = self.bounds(start, end)
        # Ids are publish times: events are published within moments of their ts, give a day of slack.
        cursor = f"{int((lo - 86400) * 1000)}-0"
        out: list[LogEvent] = []
        while True:
            rows = stream_entries(await self.redis.xrange(self.stream, min=cursor, max=f"{int((hi + 86400) * 1000)}-0",
                                                          count=BATCH))
            for _, raw in rows:
                ev = LogEvent.from_stream(raw)
                if lo - 86400 <= ev.ts < hi:
                    out.append(ev)
            if len(rows) < BATCH:
                break
            last = rows[-1][0]
            cursor = f"({text(last)}"
        return out

    async def for_range(self, start: date, end: date) -> Aggregator:
        """An aggregator covering start..end: the live one when the range is in memory, else a fresh fold."""
        await self.refresh()
        oldest = self.today() - timedelta(days=self.days)
        if start >= oldest:
            return self.agg
        return aggregate(await self.events_between(start, end), **self.kwargs)
