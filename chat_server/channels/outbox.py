"""A durable outbox on a Redis Stream: outbound SMS, e-mails and webhook calls survive restarts.

`put()` appends a job; every chat_server process runs one worker per outbox that reads the
stream through a consumer group, so each job is handled by one process. A job that fails with
`Retry` is retried in place with exponential backoff and jitter (base * 2^attempt, capped);
after `max_attempts` (or a `GiveUp`) it is acknowledged and reported as failed. A process that
dies mid-job leaves the entry pending; another worker claims it after `claim_idle_s`.

Jobs for the same `key` (a phone number, a conversation) are handled in order, one at a time;
different keys run concurrently, so one slow webhook does not hold up everybody's texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.channels.outbox")


class Retry(Exception):
    """A temporary failure (timeout, 5xx, 429): try again later."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


class GiveUp(Exception):
    """A permanent failure (4xx, opted-out number): retrying cannot help."""


Handler = Callable[[dict[str, Any]], Awaitable[None]]
FailureHook = Callable[[dict[str, Any], str], Awaitable[None]]


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 1.0
    max_s: float = 300.0

    def delay(self, attempt: int) -> float:
        raw = min(self.max_s, self.base_s * (2 ** attempt))
        return raw * random.uniform(0.75, 1.25)


class Outbox:
    def __init__(self, redis: Redis, stream: str, handler: Handler, policy: RetryPolicy,
                 claim_idle_s: float = 60.0, on_failure: FailureHook | None = None,
                 key_field: str = "key", concurrency: int = 32) -> None:
        self.redis = redis
        self.stream = stream
        self.group = "workers"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{random.randrange(1 << 30):x}"
        self.handler = handler
        self.policy = policy
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.on_failure = on_failure
        self.key_field = key_field
        self._sem = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._mine: set[str] = set()  # entry ids this process is working on

    async def put(self, job: dict[str, Any]) -> str:
        entry_id = await self.redis.xadd(self.stream, {"job": json.dumps(job, ensure_ascii=False)},
                                         maxlen=200_000, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    # worker ------------------------------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: another process created it
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        self._task = asyncio.create_task(self._run(), name=f"outbox:{self.stream}")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._inflight])
        # Every process start is a new consumer name: forget this one unless it still owns jobs
        # (those stay pending until another worker claims them).
        with contextlib.suppress(Exception):
            pending = await self.redis.xpending_range(self.stream, self.group, "-", "+", 1, consumername=self.consumer)
            if not pending:
                await self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)

    async def _run(self) -> None:
        last_claim = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_claim > self.claim_idle_ms / 2000:
                    last_claim = loop.time()
                    await self._claim_stale()
                rows = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                                   count=50, block=1000)
                entries = [(mid, fields) for _, items in rows or [] for mid, fields in items]
                if entries:
                    self._dispatch(entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(ResponseError):
                        await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
                    continue
                log.warning("outbox read failed", extra={"stream": self.stream, "error": str(exc)[:200]})
                await asyncio.sleep(1.0)

    async def _claim_stale(self) -> None:
        result = await self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                             start_id="0-0", count=50)
        entries = [(mid, fields) for mid, fields in result[1]
                   if fields and (mid.decode() if isinstance(mid, bytes) else str(mid)) not in self._mine]
        if entries:
            log.info("outbox took over stale jobs", extra={"stream": self.stream, "count": len(entries)})
            self._dispatch(entries)

    def _dispatch(self, entries: list[tuple[Any, dict[bytes, bytes]]]) -> None:
        """Chain jobs per key (ordered), run different keys concurrently."""
        for mid, fields in entries:
            entry_id = mid.decode() if isinstance(mid, bytes) else str(mid)
            try:
                job = json.loads(fields[b"job"])
            except (KeyError, ValueError):
                log.error("outbox entry unreadable; dropped", extra={"stream": self.stream, "entry": entry_id})
                task = asyncio.create_task(self._ack(entry_id))
                self._track(task)
                continue
            if entry_id in self._mine:
                continue
            self._mine.add(entry_id)
            key = str(job.get(self.key_field) or entry_id)
            previous = self._chains.get(key)
            task = asyncio.create_task(self._after(previous, entry_id, job))
            self._chains[key] = task
            self._track(task)
            task.add_done_callback(lambda t, k=key: self._chains.pop(k, None) if self._chains.get(k) is t else None)

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _after(self, previous: asyncio.Task[None] | None, entry_id: str, job: dict[str, Any]) -> None:
        if previous is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await previous
        try:
            async with self._sem:
                await self._process(entry_id, job)
        finally:
            self._mine.discard(entry_id)

    async def _process(self, entry_id: str, job: dict[str, Any]) -> None:
        attempt = 0
        while True:
            try:
                await self.handler(job)
                break
            except GiveUp as exc:
                await self._failed(job, f"gave up: {exc}")
                break
            except asyncio.CancelledError:
                raise  # left pending: another worker (or this one after restart) claims it
            except Exception as exc:
                attempt += 1
                reason = str(exc)[:300] or type(exc).__name__
                if attempt >= self.policy.max_attempts:
                    await self._failed(job, f"{attempt} attempts; last error: {reason}")
                    break
                delay = exc.after_s if isinstance(exc, Retry) and exc.after_s else self.policy.delay(attempt - 1)
                log.info("outbox job will be retried", extra={"stream": self.stream, "attempt": attempt,
                                                               "delay_s": round(delay, 2), "error": reason})
                await self._sleep_holding(entry_id, delay)
        await self._ack(entry_id)

    async def _sleep_holding(self, entry_id: str, delay: float) -> None:
        """Wait out a backoff while resetting the entry's idle time, so nobody claims it meanwhile."""
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(left, self.claim_idle_ms / 3000))
            with contextlib.suppress(Exception):
                await self.redis.xclaim(self.stream, self.group, self.consumer, 0, [entry_id], justid=True)

    async def _ack(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.xdel(self.stream, entry_id)
        await pipe.execute()

    async def _failed(self, job: dict[str, Any], reason: str) -> None:
        log.warning("outbox job failed", extra={"stream": self.stream, "reason": reason})
        if self.on_failure:
            try:
                await self.on_failure(job, reason)
            except Exception:
                log.exception("outbox failure hook failed", extra={"stream": self.stream})
