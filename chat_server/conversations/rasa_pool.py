"""Which Rasa server takes a conversation's turn: pure bookkeeping of the servers' health, no I/O.

Every server serves the same model and keeps trackers and locks in the shared Redis, so any server
can take any turn. A conversation still goes to one preferred server (rendezvous hashing of the
conversation id over the server URLs) rather than round-robin: its turns then show up in one
server's log, and when a server dies only the conversations it preferred move — each to its own
next choice, spreading the dead server's load over the others instead of piling it on one.

A server is marked down when a turn could not connect or timed out, or when a health check failed;
a passing health check marks it up again. Down servers go to the end of the order, never out of
it: when all are marked down the turn still tries them (one may have come back since the last
check), and a refused connection costs a millisecond.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ServerHealth:
    """What the pool knows of one server; `error` is our own short description, never a reply body."""

    url: str
    up: bool = True
    error: str = ""
    changed_at: float = 0.0


def _weight(url: str, key: str) -> bytes:
    return hashlib.sha256(f"{url}\0{key}".encode()).digest()


class RasaPool:
    def __init__(self, urls: list[str], clock: Callable[[], float] = time.time) -> None:
        if not urls:
            raise ValueError("a Rasa pool needs at least one server")
        self._clock = clock
        self.servers = {url: ServerHealth(url, changed_at=clock()) for url in urls}

    def order(self, key: str) -> list[str]:
        """Servers to try for conversation `key`: its preferred order, healthy ones first."""
        ranked = sorted(self.servers, key=lambda url: _weight(url, key), reverse=True)
        return [u for u in ranked if self.servers[u].up] + [u for u in ranked if not self.servers[u].up]

    def mark_down(self, url: str, error: str) -> bool:
        """Record a failure; True when this changed the server's state (worth a log line)."""
        server = self.servers[url]
        changed = server.up
        server.up, server.error = False, error
        if changed:
            server.changed_at = self._clock()
        return changed

    def mark_up(self, url: str) -> bool:
        server = self.servers[url]
        changed = not server.up
        server.up, server.error = True, ""
        if changed:
            server.changed_at = self._clock()
        return changed

    def healthy(self) -> list[str]:
        return [url for url, s in self.servers.items() if s.up]
