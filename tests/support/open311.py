"""Open311 (GeoReport v2) from a client's side: a bot-less server for it, API keys made with the
real `chat311 apikeys` CLI, an HTTP client for /open311/v2, and filing a request.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp

from chat_server.child_specs import free_port
from tests.support.servers import ChatServerProcess, RedisServer, chat311_env, run_chat311, server_env


async def start_server(redis_server: RedisServer, name: str, prefix: str, port: int | None = None,
                       **env: str) -> ChatServerProcess:
    """A real `chat311 serve` process for Open311 work (no Rasa needed)."""
    port = port or free_port()
    server = ChatServerProcess(server_env(redis_server.url, port, "http://127.0.0.1:9", prefix=prefix, **env),
                               port, name)
    await server.start()
    return server


def cli(redis_server: RedisServer, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a `chat311` command against `redis_server` and key `prefix`."""
    return run_chat311(chat311_env(redis_server.url, prefix, CHAT311_LOGGING__JSON="false"), *args)


def new_api_key(redis_server: RedisServer, prefix: str, name: str = "tests") -> tuple[str, str]:
    """(key id, API key) issued by the real `chat311 apikeys add`."""
    out = cli(redis_server, prefix, "apikeys", "add", name)
    assert out.returncode == 0, out.stderr
    key_id = re.search(r"key id: (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    key = re.search(r"api_key: (\S+)", out.stdout).group(1)  # type: ignore[union-attr]
    return key_id, key


class Api:
    """A GeoReport v2 client: bodies come back decoded (JSON, or an XML element)."""

    def __init__(self, url: str, key: str) -> None:
        self.base = f"{url}/open311/v2"
        self.key = key
        self.http = aiohttp.ClientSession()

    async def get(self, path: str, **params: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.get(f"{self.base}/{path}", params=params) as resp:
            body = await resp.read()
            return resp.status, _decode(resp, body), resp

    async def post(self, data: list[tuple[str, str]] | dict[str, str], fmt: str = "json",
                   with_key: bool = True) -> tuple[int, Any, aiohttp.ClientResponse]:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if with_key:
            items.append(("api_key", self.key))
        async with self.http.post(f"{self.base}/requests.{fmt}", data=items) as resp:
            body = await resp.read()
            return resp.status, _decode(resp, body), resp

    async def create(self, **fields: str) -> dict[str, Any]:
        """A valid request; `fields` replace the pothole defaults (service_code + its attributes)."""
        data = {"address_string": "600 E 4th St, Charlotte, NC", "description": "deep hole"}
        data.update(fields or {"service_code": "POTHOLE", "attribute[road_position]": "lane"})
        status, body, _ = await self.post(data)
        assert status == 200, body
        return body[0]


def _decode(resp: aiohttp.ClientResponse, body: bytes) -> Any:
    if resp.content_type == "application/json":
        return json.loads(body)
    if "xml" in resp.content_type:
        return ET.fromstring(body)
    return body


async def file_ticket(http: aiohttp.ClientSession, url: str, key: str, code: str, attribute: tuple[str, str]) -> str:
    """File a request through the API with one attribute; returns its service_request_id."""
    async with http.post(f"{url}/open311/v2/requests.json", data={
            "api_key": key, "service_code": code, "address_string": "600 E 4th St",
            f"attribute[{attribute[0]}]": attribute[1]}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return str(body[0]["service_request_id"])
