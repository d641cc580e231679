"""Running a background worker (sweeper, poller, outbox, reloader) for as long as the app runs.

Every lifecycle is an aiohttp `cleanup_ctx`: workers start in the order the app factory and the
features register them and stop in the reverse order, so a feature stops before the ones it uses, and
the Redis and Rasa connections (registered first) close last.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable
from typing import Protocol

from aiohttp import web


class Worker(Protocol):
    def start(self) -> Awaitable[None] | None:
        """Start the worker's task (some first await a read, e.g. a poller's state)."""

    def stop(self) -> Awaitable[None]:
        """Stop the task and wait until it has ended."""


def run_with_app(app: web.Application, worker: Worker) -> None:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        started = worker.start()
        if inspect.isawaitable(started):
            await started
        yield
        await worker.stop()

    app.cleanup_ctx.append(lifecycle)
