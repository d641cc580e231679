"""Run pure computation in a thread that shutdown does not wait for.

`asyncio.to_thread` runs in the loop's default executor, whose threads the interpreter joins at exit.
Building the knowledge index and the emergency net takes seconds of CPU after start; a worker stopped in
that time (a deploy, a restart, a test) sat finished but unable to exit until the build was done: 2-4 s
per stop, measured. Work whose result only lives in memory can be abandoned instead, so it runs in a
daemon thread. Never use this for work that writes anything (files, Redis): that must finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_abandonable_thread(name: str, compute: Callable[[], T]) -> T:
    """`compute()` in a daemon thread; cancelling the caller leaves it to finish (or die with the process)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def give(value: T) -> None:
        if not result.done():  # done: the caller was cancelled meanwhile
            result.set_result(value)

    def fail(error: BaseException) -> None:
        if not result.done():
            result.set_exception(error)

    def run() -> None:
        try:
            value = compute()
        except BaseException as exc:  # handed to the awaiting task, which decides
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
                loop.call_soon_threadsafe(fail, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(give, value)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await result
