"""The whole chat_server app in this test process on a key prefix of its own, with signed-in staff
sessions: the supervisor API, CSV and /metrics tests use it (registered as a fixture module in
tests/conftest.py). No bot: `rasa.url` points nowhere."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.servers import in_process_app
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
    async with in_process_app(redis_server.url, prefix, metrics={"prometheus_token": SCRAPE_TOKEN}) as (url, _):
        yield App(url, prefix, redis_client)
