"""The one way tests wait: poll a condition until a deadline, then fail saying what never happened.

Tests wait on other processes (a chat_server, Redis, an SMTP stand-in, a log file), so there is often
no event to await across the boundary. Every waiting helper in `tests/support` is a thin use of
`until`: a client that records events passes its "something arrived" `asyncio.Event` as `wake` and
is woken at once instead of polling; everything else polls every `interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def until(check: Callable[[], T | Awaitable[T]], timeout: float, failure: str | Callable[[T], str],
                *, interval: float = 0.2, wake: asyncio.Event | None = None) -> T:
    """Call `check` (plain or async) until it returns something truthy, and return that.

    After `timeout` seconds raise AssertionError with `failure` (or `failure(last result)`, so the
    message can show what was seen instead). Between checks sleep `interval` seconds, or, with
    `wake`, until that event is set (it is cleared before each check, so nothing set during a check
    is missed). `interval=0` suits a check that blocks by itself (a Redis XREAD with BLOCK).
    """
    deadline = time.monotonic() + timeout
    while True:
        if wake is not None:
            wake.clear()
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(failure(result) if callable(failure) else failure)  # type: ignore[arg-type]
        if wake is None:
            await asyncio.sleep(min(interval, remaining))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy (there is no event to await across processes)."""
    return await until(check, timeout, lambda last: f"{what} not reached within {timeout}s (last: {last!r})")


def first_event(events: list[tuple[str, Any]], name: str, predicate: Callable[[Any], bool],
                after: int = 0) -> tuple[int] | None:
    """`(index,)` of the first `name` event at index >= `after` matching `predicate` (a tuple, so that
    index 0 counts as found), or None."""
    for index in range(after, len(events)):
        event, data = events[index]
        if event == name and predicate(data):
            return (index,)
    return None


async def events_until(redis: Any, stream: str, match: Any, count: int, timeout: float = 60.0) -> list[dict]:
    """Block on the event log until `count` events match (kind, conv, data) → bool; returns their data."""
    last, found = "0", []

    async def all_found() -> list[dict] | None:
        nonlocal last
        for _, items in await redis.xread({stream: last}, block=1000, count=200) or []:
            for mid, raw in items:
                last = mid
                f = {k.decode(): v.decode() for k, v in raw.items()}
                data = json.loads(f.get("data") or "{}")
                if match(f["kind"], f.get("conv", ""), data):
                    found.append(data)
                    if len(found) == count:
                        return found
        return None

    # interval=0: XREAD's BLOCK is the wait.
    return await until(all_found, timeout,
                       lambda _: f"only {len(found)} of {count} expected events were published: {found}", interval=0)
