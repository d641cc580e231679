"""Coalesced Redis writes: commands issued while a round trip is under way share the next one.

Why: a resident message costs several Redis round trips, and with redis-py each one costs about
0.1 ms of the event loop's CPU — more than the rest of the relay. Hot-path callers (event log,
rate limits) submit their commands here instead; when many turns run at once, one pipeline
carries all of them. Each caller still awaits its own replies, in order, with its own errors, so
the semantics are those of sending the commands itself. With one caller at a time it is one
ordinary pipeline round trip.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

Build = Callable[[Pipeline], object]  # queues commands on the pipeline; what it returns is ignored


_SHARED: weakref.WeakKeyDictionary[Redis, PipelineBatcher] = weakref.WeakKeyDictionary()


class PipelineBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[tuple[Build, asyncio.Future[list[Any]]]] = []
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    def shared(cls, redis: Redis) -> PipelineBatcher:
        """The one batcher of this client: the event log, rate limits and the conversation store share
        it, so concurrent turns' commands of every kind ride the same round trips."""
        batcher = _SHARED.get(redis)
        if batcher is None:
            batcher = _SHARED[redis] = cls(redis)
        return batcher

    async def execute(self, build: Build) -> list[Any]:
        """Run the commands `build` queues on a (shared) pipeline; returns their replies."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append((build, done))
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not done.get_loop():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            pipe = self._redis.pipeline(transaction=False)
            sizes = []
            for build, _ in batch:
                before = len(pipe.command_stack)
                build(pipe)
                sizes.append(len(pipe.command_stack) - before)
            try:
                replies = await pipe.execute(raise_on_error=False)
            except Exception as exc:  # the connection failed: every caller gets the error
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for (_, done), size in zip(batch, sizes, strict=True):
                mine = replies[start:start + size]
                start += size
                if done.done():
                    continue
                error = next((r for r in mine if isinstance(r, Exception)), None)
                if error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(mine)
