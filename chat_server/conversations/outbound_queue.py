"""A lean per-socket outbound queue for Engine.IO: what an idle widget connection costs in memory.

Engine.IO gives every socket an `asyncio.Queue` for the packets waiting to be written. An empty
`asyncio.Queue` holds four `collections.deque`s (items, getters, putters, and its `join` event's
waiters) of about 760 bytes each: 3 KB of a connection's ~32 KB while it sits idle, which is what
most widget connections do. Engine.IO uses only an unbounded queue with one reader at a time (the
websocket writer, or a long-polling GET), so this one keeps its items in a list, creates waiter
lists only while someone waits, and hands an item straight to a waiting getter. The behaviour
Engine.IO and `SlowConsumerWatchdog` rely on is asyncio.Queue's: `get` waits and a `wait_for`
timeout on it loses no packet, `get_nowait` raises `asyncio.QueueEmpty`, `join` waits until every
item got `task_done`.
"""

from __future__ import annotations

import asyncio
from typing import Any


class OutboundQueue:
    """The subset of `asyncio.Queue` Engine.IO uses (unbounded), without its idle allocations."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[Any]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._unfinished += 1
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():  # a getter whose wait timed out or was cancelled is skipped
                getter.set_result(item)
                break
        else:
            self._items.append(item)
        if not self._getters:
            self._getters = None

    async def put(self, item: Any) -> None:
        """Never waits (the queue is unbounded); a coroutine because Engine.IO awaits it."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    def get(self) -> asyncio.Future[Any]:
        """A future of the next item, rather than a coroutine.

        Engine.IO's writer waits with `asyncio.wait_for(queue.get(), timeout)`, which wraps a
        coroutine in a task of its own: one more task per idle socket, and one created for every
        batch of packets sent. A future needs none. When the wait times out, `wait_for` cancels the
        future, and `put_nowait` skips it; a future already given an item is returned by `wait_for`
        even if its caller is cancelled at that moment (Python 3.11's `wait_for`), so no packet is lost.
        """
        getter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._items:
            getter.set_result(self._items.pop(0))
        else:
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
        return getter

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        if self._unfinished > 0:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner


def install(eio: Any) -> None:
    """Give every socket the Engine.IO server creates from now on an `OutboundQueue`."""
    eio.create_queue = OutboundQueue
