"""Shared pieces for the fault, security, fuzz and multi-process tests.

- `bare_factory` / `private_bare_factory` fixtures (registered in tests/conftest.py): real
  `chat311 serve` processes on the session's real Redis, without starting Rasa (its URL points
  at a closed port, so the bot is honestly "down"). Tests that are about delivery, headers or
  input handling do not need the 1 GB Rasa server.
- `RawSocketIO`: a minimal Engine.IO v4 / Socket.IO v5 websocket client on a plain socket, so a
  test can do what no well-behaved client library does: stop reading.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chat_server.child_specs import free_port
from chat_server.process_supervisor import Supervisor
from tests.support.servers import LOG_DIR, ChatServerProcess, RasaStack, RedisServer, chat_servers
from tests.support.waiting import until

BareFactory = Callable[..., Any]


@contextlib.asynccontextmanager
async def bare_servers(redis: RedisServer) -> AsyncIterator[BareFactory]:
    """chat_server processes on `redis` whose Rasa URL is a closed port (the bot is honestly down)."""
    dead_rasa = RasaStack(f"http://127.0.0.1:{free_port()}", "no-rasa-here", "", Supervisor())
    async with chat_servers(redis, dead_rasa) as start:
        async def make(port: int | None = None, name: str | None = None, **env_overrides: str) -> ChatServerProcess:
            port = port or free_port()
            name = name or f"bare-{port}"
            (LOG_DIR / f"{name}.log").unlink(missing_ok=True)  # tests read this process's log
            return await start(port, name, **{"CHAT311_RASA__TIMEOUT_S": "2", **env_overrides})

        yield make


@pytest.fixture(scope="module", name="bare_factory")
async def bare_factory_fixture(redis_server: RedisServer) -> AsyncIterator[BareFactory]:
    """Bot-less chat_server processes on the session's Redis, stopped when the module is done."""
    async with bare_servers(redis_server) as make:
        yield make


@pytest.fixture(scope="module", name="private_bare_factory")
async def private_bare_factory_fixture(private_redis: RedisServer) -> AsyncIterator[BareFactory]:
    """Bot-less chat_server processes on the module's own Redis (for tests that kill Redis)."""
    async with bare_servers(private_redis) as make:
        yield make


def log_path(server: ChatServerProcess) -> Path:
    return LOG_DIR / f"{server.name}.log"


def log_lines(server: ChatServerProcess) -> list[dict[str, Any]]:
    out = []
    for line in log_path(server).read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


async def wait_for_log(server: ChatServerProcess, predicate: Callable[[dict[str, Any]], bool],
                       timeout: float = 20.0) -> dict[str, Any]:
    def matching() -> dict[str, Any] | None:
        return next((line for line in log_lines(server) if predicate(line)), None)

    found = await until(matching, timeout, f"no matching log line in {log_path(server)} within {timeout}s")
    assert found is not None
    return found


class RawSocketIO:
    """Engine.IO over a raw websocket: handshake, masked text frames, and an explicit `read()`."""

    def __init__(self, url: str, rcvbuf: int | None = None, origin: str | None = None) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.rcvbuf = rcvbuf
        self.origin = origin
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._ack = 0

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, int(self.port)))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {self.host}:{self.port}",
                   "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                   "Sec-WebSocket-Version: 13"]
        if self.origin:
            headers.append(f"Origin: {self.origin}")
        self.writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        status = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise ConnectionError(status.decode(errors="replace"))
        opening = await self.read()
        assert opening.startswith("0"), opening
        await self.send("40")
        while not (await self.read()).startswith("40"):
            pass

    async def send(self, text: str) -> None:
        assert self.writer is not None
        payload = text.encode()
        mask = os.urandom(4)
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes(header) + mask + masked)
        await self.writer.drain()

    async def read(self) -> str:
        """The next Engine.IO text packet; answers pings on the way."""
        assert self.reader is not None
        while True:
            head = await self.reader.readexactly(2)
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = int.from_bytes(await self.reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await self.reader.readexactly(8), "big")
            data = await self.reader.readexactly(n)
            if opcode == 0x8:
                raise ConnectionResetError("server closed the websocket")
            if opcode != 0x1:
                continue
            text = data.decode()
            if text == "2":
                await self.send("3")
                continue
            return text

    async def call(self, event: str, data: Any) -> Any:
        """Emit with an ack id and return the ack payload (skipping other packets)."""
        self._ack += 1
        ack_id = self._ack
        await self.send(f"42{ack_id}" + json.dumps([event, data]))
        prefix = f"43{ack_id}"
        while True:
            packet = await self.read()
            if packet.startswith(prefix):
                return json.loads(packet[len(prefix):])[0]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
