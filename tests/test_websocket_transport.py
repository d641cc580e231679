"""The websocket transport declines permessage-deflate (uncompressed_websocket.py) and still carries the protocol.

Browsers always offer the extension; accepted, it kept a zlib compressor per connection (~100 KB each).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bench.loadgen import Conn


async def test_a_client_offering_deflate_gets_plain_frames_and_a_session(bare_factory: Any) -> None:
    server = await bare_factory(name="ws-no-deflate")
    async with aiohttp.ClientSession() as http:
        conn = Conn(http, server.url, compress=15)  # offers permessage-deflate, as a browser does
        await conn.open()
        try:
            assert conn.ws is not None
            assert conn.ws.compress == 0  # the server did not accept the extension
            token = await conn.session()
            assert len(token) >= 16
            ack = await conn.call("user_uttered", {"message": "hello", "session_id": token})
            assert ack["ok"] is True, ack
        finally:
            await conn.close()
