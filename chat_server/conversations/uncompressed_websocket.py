"""Engine.IO's websocket transport without permessage-deflate: 100 KB less per browser connection.

Every browser offers the permessage-deflate extension, and aiohttp's `WebSocketResponse` accepts
it by default. The first message sent then creates a zlib compressor for the connection and keeps
it for the connection's life: measured with `python -m bench --only idle --idle-compress 15`, an idle
widget connection cost ~130 KB instead of ~28 KB without the extension. Chat frames are small JSON,
so compression saves little bandwidth and costs CPU on every frame. The extension is optional
(RFC 7692): a client whose offer is not accepted simply sends and receives uncompressed frames, so
clients and the protocol are unchanged.

The wrapper also knows which websockets are open, so shutdown can wait for their closing handshakes
(`OpenWebSockets.closed`) before aiohttp stops reading the connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket


class OpenWebSockets:
    """The websocket connections being served, each until its closing handshake is over."""

    def __init__(self) -> None:
        self._open: set[asyncio.Future[None]] = set()

    def __len__(self) -> int:
        return len(self._open)

    def opened(self) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        self._open.add(done)
        done.add_done_callback(self._open.discard)
        return done

    async def closed(self, timeout: float) -> bool:
        """Wait up to `timeout` for every open websocket to close; whether they all did."""
        if self._open:
            await asyncio.wait(set(self._open), timeout=timeout)
        return not self._open


class UncompressedWebSocket(WebSocket):
    """Engine.IO's aiohttp websocket wrapper, declining permessage-deflate."""

    def __init__(self, handler: Any, server: Any, sockets: OpenWebSockets) -> None:
        super().__init__(handler, server)
        self._sockets = sockets

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        served = self._sockets.opened()
        try:
            await self.handler(self)
        finally:
            served.set_result(None)
        return self._sock


def install(eio: Any) -> OpenWebSockets:
    """Make the Engine.IO server (aiohttp mode) open its websockets without compression; the
    returned registry tells which are open."""
    sockets = OpenWebSockets()

    def websocket(handler: Any, server: Any) -> UncompressedWebSocket:
        return UncompressedWebSocket(handler, server, sockets)

    eio._async = {**eio._async, "websocket": websocket}
    return sockets
