"""A durable outbox on a Redis Stream: outbound work that must survive restarts and crashes.

Used for everything chat_server sends out on its own schedule: texts (Twilio), e-mails, app
webhooks and status notices (channels/, status/), and tickets forwarded to the city's Open311
endpoint (tickets/outbox.py). This module owns the stream mechanics; each user gives it the
per-job `Sender`, the `RetryPolicy` and what to do with a job that failed for good.

- A job is an entry of the stream: `{"job": <JSON>}` as `put()` writes it, or flat text fields
  XADDed by a store inside its own transaction (TicketStore.create writes `{"ticket_id": ...}`),
  so the job exists exactly when the thing it is about does.
- Every process runs one worker per outbox, reading through a consumer group under a unique
  consumer name, so each job is done by one process. It is acknowledged (and deleted) only once
  it is done: sent, or given up on.
- A job that raises is retried in place after a backoff (`RetryPolicy`, or `Retry.after_s`); one
  that raises `GiveUp`, or runs out of attempts, goes to the failure hook and is acknowledged.
- Jobs with the same key (`key_field`: a phone number, a conversation) are done in order, one at
  a time; different keys run concurrently. `key_field=None` puts every job in one line (tickets
  reach the upstream in the order they were filed).
- A crashed or stopped process leaves its jobs pending. Its heartbeat key
  (`<stream>:alive:<consumer>`) lapses or is deleted, and another worker takes its jobs over
  within seconds; any entry idle longer than `claim_idle_s` is taken over in any case (XAUTOCLAIM). Jobs a
  worker holds, waiting or backing off, are touched regularly so that nobody takes them meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from chat_server.redis_values import text, text_map
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.outbox")

HEARTBEAT_TTL_S = 30  # a worker's heartbeat key outlives it by at most this long
# A consumer that read this recently is alive even without a heartbeat: a process of an older
# version (none) during a rolling restart must not have its jobs taken and sent twice.
RECENT_READ_MS = 5000
FORGET_IDLE_MS = 3600_000  # a consumer with nothing pending, unheard of this long, is removed from the group
READ_COUNT = 50
MAX_HELD = 2000  # jobs one worker holds at once (waiting their turn or backing off) before it stops reading


class OutboxError(Exception):
    """What a `Sender` raises to tell the outbox how a job went wrong (any other error: retried)."""


class Retry(OutboxError):
    """A temporary failure (timeout, 5xx, 429, upstream down): try again later."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


class GiveUp(OutboxError):
    """A permanent failure (4xx, opted-out number, unknown ticket): retrying cannot help."""


class Sender(Protocol):
    """Does one job; returns when it is done, raises `Retry`/`GiveUp` (or anything: retried)."""

    async def __call__(self, job: dict[str, Any], /) -> None: ...


class FailureHook(Protocol):
    """Told about a job the outbox gave up on (`reason` says why) before it is acknowledged."""

    async def __call__(self, job: dict[str, Any], reason: str, /) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff base·2^attempt capped at `max_s`, ±`jitter`; `max_attempts=None` retries for ever."""

    max_attempts: int | None = 6
    base_s: float = 1.0
    max_s: float = 300.0
    jitter: float = 0.25

    def delay(self, attempt: int) -> float:
        raw = min(self.max_s, self.base_s * 2.0 ** attempt)
        return raw * random.uniform(1 - self.jitter, 1 + self.jitter)

    def exhausted(self, attempts: int) -> bool:
        return self.max_attempts is not None and attempts >= self.max_attempts


def entry_job(fields: dict[bytes | str, bytes | str]) -> dict[str, Any]:
    """An entry's job: the JSON `put()` wrote, or the flat fields a store XADDed (raises ValueError)."""
    raw = text_map(fields)
    if "job" not in raw:
        return dict(raw)
    job = json.loads(raw["job"])
    if not isinstance(job, dict):
        raise ValueError("an outbox job must be a JSON object")
    return job


class Outbox:
    """One Redis Stream of jobs and this process's worker for it (`start()` / `stop()`)."""

    def __init__(self, redis: Redis, stream: str, handler: Sender, policy: RetryPolicy,
                 claim_idle_s: float = 60.0, on_failure: FailureHook | None = None,
                 key_field: str | None = "key", concurrency: int = 32, group: str = "workers") -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{random.randrange(1 << 30):x}"
        self.handler = handler
        self.policy = policy
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.on_failure = on_failure
        self.key_field = key_field
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._mine: set[str] = set()  # entry ids this process holds (working on, waiting their turn)
        self._room = asyncio.Event()  # set whenever a held job ends

    def alive_key(self, consumer: str) -> str:
        return f"{self.stream}:alive:{consumer}"

    async def put(self, job: dict[str, Any]) -> str:
        entry_id = await self.redis.xadd(self.stream, {"job": json.dumps(job, ensure_ascii=False)},
                                         maxlen=200_000, approximate=True)
        return text(entry_id)

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self._create_group()
        await self.redis.set(self.alive_key(self.consumer), "1", ex=HEARTBEAT_TTL_S)
        self._tasks = [asyncio.create_task(self._read_loop(), name=f"outbox:{self.stream}"),
                       asyncio.create_task(self._keeper_loop(), name=f"outbox-keeper:{self.stream}")]

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, *self._inflight])
        # What this worker still held stays pending: with the heartbeat gone, another worker takes it
        # over at once. Every process start is a new consumer name: forget this one if it holds nothing.
        with contextlib.suppress(Exception):
            await self.redis.delete(self.alive_key(self.consumer))
            pending = await self.redis.xpending_range(self.stream, self.group, "-", "+", 1,
                                                      consumername=self.consumer)
            if not pending:
                await self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)

    async def _create_group(self) -> None:
        with contextlib.suppress(ResponseError):  # BUSYGROUP: another process created it
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)

    # reading -----------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        while True:
            try:
                while len(self._mine) >= MAX_HELD:  # enough on hand: read more once some are done
                    self._room.clear()
                    await self._room.wait()
                rows: Any = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                                        count=READ_COUNT, block=1000)
                self._dispatch([entry for _, items in rows or [] for entry in items])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted: start again
                    await self._create_group()
                    continue
                log.warning("outbox read failed", extra={"stream": self.stream, "error": str(exc)[:200]})
                await asyncio.sleep(1.0)

    async def _keeper_loop(self) -> None:
        """Heartbeat, keep held jobs from looking stale, take over the jobs of dead workers."""
        loop = asyncio.get_running_loop()
        tick = max(0.05, min(5.0, self.claim_idle_ms / 3000))
        last_claim = 0.0
        while True:
            try:
                await self.redis.set(self.alive_key(self.consumer), "1", ex=HEARTBEAT_TTL_S)
                if self._mine:
                    await self.redis.xclaim(self.stream, self.group, self.consumer, 0, list(self._mine),
                                            justid=True)
                self._dispatch(await self._take_over_dead())
                if loop.time() - last_claim > self.claim_idle_ms / 2000:
                    last_claim = loop.time()
                    self._dispatch(await self._claim_stale())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox upkeep failed", extra={"stream": self.stream, "error": str(exc)[:200]})
            await asyncio.sleep(tick)

    async def _take_over_dead(self) -> list[tuple[Any, Any]]:
        """The pending jobs of workers whose heartbeat is gone (stopped, or crashed a while ago) and
        that have not read for a few seconds."""
        out: list[tuple[Any, Any]] = []
        for info in await self.redis.xinfo_consumers(self.stream, self.group):
            name = text(info["name"])
            if name == self.consumer:
                continue
            if int(info.get("pending", 0)) == 0:
                if int(info.get("idle", 0)) > FORGET_IDLE_MS:
                    await self.redis.xgroup_delconsumer(self.stream, self.group, name)
                continue
            if int(info.get("idle", 0)) < RECENT_READ_MS or await self.redis.exists(self.alive_key(name)):
                continue
            pending = await self.redis.xpending_range(self.stream, self.group, min="-", max="+", count=100,
                                                      consumername=name)
            ids: list[Any] = [p["message_id"] for p in pending]
            if ids:
                claimed: Any = await self.redis.xclaim(self.stream, self.group, self.consumer, min_idle_time=0,
                                                       message_ids=ids)
                out.extend(row for row in claimed if row[1])
                log.info("outbox took over jobs of a stopped worker",
                         extra={"stream": self.stream, "from": name, "count": len(claimed)})
        return out

    async def _claim_stale(self) -> list[tuple[Any, Any]]:
        result = await self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                             start_id="0-0", count=READ_COUNT)
        entries = [(mid, fields) for mid, fields in result[1] if fields and text(mid) not in self._mine]
        if entries:
            log.info("outbox took over stale jobs", extra={"stream": self.stream, "count": len(entries)})
        return entries

    def _dispatch(self, entries: Iterable[tuple[Any, Any]]) -> None:
        """Chain jobs per key (ordered), run different keys concurrently."""
        for mid, fields in entries:
            entry_id = text(mid)
            if entry_id in self._mine:
                continue
            try:
                job = entry_job(fields)
            except ValueError:  # also UnicodeDecodeError
                log.error("outbox entry unreadable; dropped", extra={"stream": self.stream, "entry": entry_id})
                self._track(asyncio.create_task(self._ack(entry_id)))
                continue
            self._mine.add(entry_id)
            key = str(job.get(self.key_field) or entry_id) if self.key_field else ""
            previous = self._chains.get(key)
            task = asyncio.create_task(self._after(previous, entry_id, job))
            self._chains[key] = task
            self._track(task)
            task.add_done_callback(partial(self._chain_done, key))

    def _chain_done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._chains.get(key) is task:
            del self._chains[key]

    def _track(self, task: asyncio.Task[None]) -> None:
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # doing a job ---------------------------------------------------------------------------
    async def _after(self, previous: asyncio.Task[None] | None, entry_id: str, job: dict[str, Any]) -> None:
        if previous is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await previous
        try:
            async with self._sem:
                await self._process(entry_id, job)
        finally:
            self._mine.discard(entry_id)
            self._room.set()

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
                raise  # left pending: another worker (or this one after restart) takes it over
            except Exception as exc:
                attempt += 1
                reason = str(exc)[:300] or type(exc).__name__
                if self.policy.exhausted(attempt):
                    await self._failed(job, f"{attempt} attempts; last error: {reason}")
                    break
                delay = exc.after_s if isinstance(exc, Retry) and exc.after_s else self.policy.delay(attempt - 1)
                log.info("outbox job will be retried", extra={"stream": self.stream, "attempt": attempt,
                                                               "delay_s": round(delay, 2), "error": reason})
                await asyncio.sleep(delay)  # the keeper touches the entry meanwhile: nobody takes it
        await self._ack(entry_id)

    async def _ack(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.xdel(self.stream, entry_id)
        try:
            await pipe.execute()
        except Exception as exc:  # stays pending: done again once taken over (at least once)
            log.warning("outbox ack failed", extra={"stream": self.stream, "error": str(exc)[:200]})

    async def _failed(self, job: dict[str, Any], reason: str) -> None:
        log.warning("outbox job failed", extra={"stream": self.stream, "reason": reason})
        if self.on_failure:
            try:
                await self.on_failure(job, reason)
            except Exception:
                log.exception("outbox failure hook failed", extra={"stream": self.stream})
