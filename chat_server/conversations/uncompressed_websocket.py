"""Engine.IO's websocket transport without permessage-deflate: 100 KB less per browser connection.

Every browser offers the permessage-deflate extension, and aiohttp's `WebSocketResponse` accepts
it by default. The first message sent then creates a zlib compressor for the connection and keeps
it for the connection's life: measured with `python -m bench --only idle --idle-compress 15`, an idle
widget connection cost ~130 KB instead of ~28 KB without the extension. Chat frames are small JSON,
so compression saves little bandwidth and costs CPU on every frame. The extension is optional
(RFC 7692): a client whose offer is not accepted simply sends and receives uncompressed frames, so
clients and the protocol are unchanged.
"""

from __future__ import annotations

from typing import Any

from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket


class UncompressedWebSocket(WebSocket):
    """Engine.IO's aiohttp websocket wrapper, declining permessage-deflate."""

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        await self.handler(self)
        return self._sock


def install(eio: Any) -> None:
    """Make the Engine.IO server (aiohttp mode) open its websockets without compression."""
    eio._async = {**eio._async, "websocket": UncompressedWebSocket}
