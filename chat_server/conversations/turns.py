"""Fair sharing of the bot between residents: a few turns at Rasa at once, the least-served source first.

Rasa answers one CPU-bound turn at a time however many it is sent, so without a gate a flood of
accepted messages from one IP queues up inside Rasa and every other resident waits behind it. Here
each turn names its source (the resident's IP on the web, the session elsewhere); at most
`concurrency` turns run, at most `per_source` of them from one source, and when a slot frees the
waiting source with the smallest backlog goes next, ties to the one served least recently (an
exponentially decaying count of its turns). A quiet resident therefore waits for one running turn
at most, not for the flood.

The backlog is every message of the source being handled (`handling`), not only the turns at this
gate: one conversation's messages wait for its previous turn before they reach the gate, so a
flooded conversation shows one waiting turn here however many messages are queued behind it. While
many sources flood at once, each of them thus ranks behind a resident with one message in hand —
even one who asks more often than each flooder gets through — and callers refuse a source whose
backlog is full (`pending`) before anything is stored.

Per process: several workers each have their own gate (the bound is per worker).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

_PRUNE_AT = 10_000  # sources remembered before idle ones are forgotten


@dataclass
class _Source:
    usage: float = 0.0
    stamp: float = 0.0
    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    handling: int = 0  # messages being handled: at this gate, or queued behind their conversation's turn

    def backlog(self) -> int:
        return max(self.handling, self.running + len(self.waiting))

    def decayed(self, now: float, tau: float) -> float:
        return self.usage * math.exp(-(now - self.stamp) / tau)

    def use(self, now: float, tau: float) -> None:
        """One more unit of recent use (a turn granted, or a message refused for flooding)."""
        self.usage = self.decayed(now, tau) + 1.0
        self.stamp = now


class FairTurns:
    def __init__(self, concurrency: int, per_source: int, memory_s: float = 10.0) -> None:
        self.concurrency = max(1, concurrency)
        self.per_source = max(1, per_source)
        self.tau = max(memory_s, 0.001)
        self._running = 0
        self._sources: dict[str, _Source] = {}
        self._queued: set[str] = set()  # sources with waiting turns: dispatch scans only these

    def pending(self, source: str) -> int:
        """The backlog of `source` (callers bound this to refuse a flood early)."""
        state = self._sources.get(source)
        return 0 if state is None else state.backlog()

    def refused(self, source: str) -> None:
        """A message of `source` refused for flooding (rate limit, full backlog) still counts in its
        recent use: the tie-break below then ranks a flooding source behind a resident who only
        asks, however briefly the flood's backlog is empty."""
        self._source(source).use(time.monotonic(), self.tau)

    @contextmanager
    def handling(self, source: str) -> Iterator[None]:
        """Counts one message of `source` in its backlog from arrival until its turn is over."""
        state = self._source(source)
        state.handling += 1
        try:
            yield
        finally:
            state.handling -= 1

    def _source(self, source: str) -> _Source:
        state = self._sources.get(source)
        if state is None:
            if len(self._sources) >= _PRUNE_AT:
                self._prune()
            state = self._sources[source] = _Source()
        return state

    @asynccontextmanager
    async def turn(self, source: str) -> AsyncIterator[None]:
        state = self._source(source)
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.waiting.append(granted)
        self._queued.add(source)
        self._dispatch()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(state)  # granted in the same instant it was cancelled
            else:
                state.waiting.remove(granted)
                if not state.waiting:
                    self._queued.discard(source)
            raise
        try:
            yield
        finally:
            self._release(state)

    def _release(self, state: _Source) -> None:
        self._running -= 1
        state.running -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self._running < self.concurrency:
            ready = [k for k in self._queued if self._sources[k].running < self.per_source]
            if not ready:
                return
            # Shortest backlog first (a flood keeps a queue, a resident waits for one reply), then
            # the source that used the bot least recently (turns served and messages refused).
            key = min(ready, key=lambda k: (self._sources[k].backlog(), self._sources[k].decayed(now, self.tau)))
            state = self._sources[key]
            state.use(now, self.tau)
            state.running += 1
            self._running += 1
            state.waiting.popleft().set_result(None)
            if not state.waiting:
                self._queued.discard(key)

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sources.items()
                    if not s.running and not s.waiting and not s.handling and s.decayed(now, self.tau) < 0.05]:
            del self._sources[key]
