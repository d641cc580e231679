"""Stopping background tasks so that they really stop.

Why this exists: on Python 3.11, `asyncio.wait_for` swallows a cancel that arrives in the same loop
pass as the thing it awaits finishes (CPython gh-86296, fixed in 3.12). redis-py writes every
command through `wait_for` (its socket timeout), so a loop cancelled while a Redis command is in
flight can carry on as if nothing happened, and a plain `task.cancel(); await task` then waits for
ever: the app's shutdown hung that way. Here the cancel is repeated until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("chat311.stopping")

RETRY_S = 1.0  # how long a cancelled task gets to finish its clean-up before it is cancelled again


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any] | None]) -> None:
    """Cancel `tasks` and return once every one has ended; an error a task ended with is logged."""
    live = {t for t in tasks if t is not None}
    ended = set(live)
    while live := {t for t in live if not t.done()}:
        for task in live:
            task.cancel()
        await asyncio.wait(live, timeout=RETRY_S)
    for task in ended:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("background task ended with an error", exc_info=error)
