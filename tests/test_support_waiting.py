"""The one waiting helper (tests/support/waiting.py): returns the first truthy result, fails with the
message after the deadline, and wakes at once when a client's event is set."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.waiting import first_event, until


async def test_until_returns_the_first_truthy_result_of_a_plain_or_async_check() -> None:
    calls: list[int] = []

    def plain() -> list[int]:
        calls.append(1)
        return calls if len(calls) == 3 else []

    assert await until(plain, 5, "never", interval=0.01) == [1, 1, 1]

    async def coroutine() -> str:
        return "done"

    assert await until(coroutine, 5, "never") == "done"


async def test_until_fails_after_the_deadline_with_the_message_and_the_last_result() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match="nothing yet"):
        await until(lambda: 0, 0.3, "nothing yet", interval=0.05)
    assert 0.3 <= time.monotonic() - started < 2
    with pytest.raises(AssertionError, match=r"last was \[\]"):
        await until(lambda: [], 0.1, lambda last: f"last was {last!r}")


async def test_until_wakes_on_the_event_instead_of_polling() -> None:
    events: list[tuple[str, object]] = []
    changed = asyncio.Event()

    async def arrive() -> None:
        await asyncio.sleep(0.05)
        events.append(("other", None))
        changed.set()
        await asyncio.sleep(0.05)
        events.append(("wanted", 0))
        changed.set()

    task = asyncio.create_task(arrive())
    started = time.monotonic()
    # interval is huge: only the wake-ups can make this return in time.
    (index,) = await until(lambda: first_event(events, "wanted", lambda d: True), 5, "no event",
                           interval=60, wake=changed)
    await task
    assert index == 1 and time.monotonic() - started < 2
    assert first_event(events, "wanted", lambda d: True, after=2) is None
