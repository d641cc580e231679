"""Running a background worker (sweeper, poller, outbox, reloader) for as long as the app runs.

The hooks go on the app's on_startup / on_cleanup lists at the point of the call, so workers start
and stop in the order the app factory and the features register them, among their other hooks.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Protocol

from aiohttp import web


class Worker(Protocol):
    def start(self) -> Awaitable[None] | None:
        """Start the worker's task (some first await a read, e.g. a poller's state)."""

    def stop(self) -> Awaitable[None]:
        """Stop the task and wait until it has ended."""


def run_with_app(app: web.Application, worker: Worker) -> None:
    async def start(app: web.Application) -> None:
        started = worker.start()
        if inspect.isawaitable(started):
            await started

    async def stop(app: web.Application) -> None:
        await worker.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
