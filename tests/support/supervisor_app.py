"""The whole chat_server app in this test process on a key prefix of its own, with signed-in staff
sessions: the supervisor API, CSV and /metrics tests use it (registered as a fixture module in
tests/conftest.py). No bot: `rasa.url` points nowhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chat_server.app import create_app
from chat_server.config import load_config
from tests.support.staff import console_login

SCRAPE_TOKEN = "scrape-secret-0123456789"


class App:
    def __init__(self, url: str, prefix: str, redis: Any) -> None:
        self.url = url
        self.prefix = prefix
        self.redis = redis

    async def session(self, username: str, roles: list[str]) -> tuple[aiohttp.ClientSession, str]:
        from chat_server.agents.auth import SESSION_COOKIE

        token, csrf = await console_login(self.redis, self.prefix, username, roles)
        http = aiohttp.ClientSession(cookies={SESSION_COOKIE: token})
        return http, csrf


@pytest.fixture
async def app_server(redis_server: Any, redis_client: Any) -> AsyncIterator[App]:
    prefix = f"t8s:{uuid.uuid4().hex[:8]}:"
    config = load_config(environ={}, overrides={
        "redis": {"url": redis_server.url, "key_prefix": prefix},
        "rasa": {"manage": False, "url": "http://127.0.0.1:9", "actions_url": ""},
        "logging": {"json": True, "level": "WARNING"},
        "metrics": {"prometheus_token": SCRAPE_TOKEN},
    })
    app = create_app(config, redis_server.url)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield App(f"http://127.0.0.1:{port}", prefix, redis_client)
    await runner.cleanup()
