"""Upstream forwarding: a second chat311 process is the city's Open311 server.

The "worker" chat311 forwards its tickets through the Redis Stream outbox. The upstream is
taken down, tickets are filed, the worker process is killed (SIGKILL: no clean shutdown) and
restarted, the upstream comes back: every ticket must arrive upstream exactly once, the
upstream ids must be stored on our tickets, and status changes made upstream must come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from chat_server.child_specs import free_port
from tests.support.open311 import cli, new_api_key, start_server
from tests.support.servers import ROOT, ChatServerProcess, RedisServer
from tests.support.waiting import eventually

WORKER, UPSTREAM = "t311ob:", "t311up:"
UPSTREAM_JURISDICTION = "upstream.example.gov"


async def post(http: aiohttp.ClientSession, server: ChatServerProcess, key: str, **fields: str) -> str:
    async with http.post(f"{server.url}/open311/v2/requests.json", data={"api_key": key, **fields}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return str(body[0]["service_request_id"])


async def upstream_requests(http: aiohttp.ClientSession, upstream: ChatServerProcess) -> list[dict[str, Any]]:
    async with http.get(f"{upstream.url}/open311/v2/requests.json",
                        params={"jurisdiction_id": UPSTREAM_JURISDICTION}) as resp:
        assert resp.status == 200
        return list(await resp.json())


@pytest.fixture
def upstream_catalogue(tmp_path: Path) -> Path:
    """The upstream city has no GENERAL service, so forwarding one is permanently rejected (400)."""
    data = yaml.safe_load((ROOT / "chat_server" / "tickets" / "catalogue.yml").read_text())
    data["services"] = [s for s in data["services"] if s["service_code"] != "GENERAL"]
    path = tmp_path / "upstream-catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


async def test_outbox_survives_upstream_outage_and_worker_restart(
    redis_server: RedisServer, redis_client: aioredis.Redis, upstream_catalogue: Path,
) -> None:
    up_port = free_port()
    up_env = {"CHAT311_TICKETS__JURISDICTION_ID": UPSTREAM_JURISDICTION,
              "CHAT311_TICKETS__CATALOGUE": str(upstream_catalogue)}
    upstream = await start_server(redis_server, "outbox-upstream", UPSTREAM, port=up_port, **up_env)
    started = [upstream]
    try:
        await _scenario(redis_server, redis_client, upstream, up_port, started)
    finally:
        for server in started:
            await server.stop()


async def _scenario(redis_server: RedisServer, redis_client: aioredis.Redis, upstream: ChatServerProcess,
                    up_port: int, started: list[ChatServerProcess]) -> None:
    _, upstream_key = await asyncio.to_thread(new_api_key, redis_server, UPSTREAM, "worker-city")
    worker = await start_server(
        redis_server, "outbox-worker", WORKER,
        CHAT311_TICKETS__UPSTREAM_URL=f"http://127.0.0.1:{up_port}/open311/v2",
        CHAT311_TICKETS__UPSTREAM_API_KEY=upstream_key,
        CHAT311_TICKETS__UPSTREAM_JURISDICTION_ID=UPSTREAM_JURISDICTION,
        CHAT311_TICKETS__UPSTREAM_POLL_S="1", CHAT311_TICKETS__UPSTREAM_RETRY_BASE_S="0.2",
        CHAT311_TICKETS__UPSTREAM_RETRY_MAX_S="1", CHAT311_TICKETS__UPSTREAM_CLAIM_IDLE_S="3",
    )
    started.append(worker)
    _, worker_key = await asyncio.to_thread(new_api_key, redis_server, WORKER, "tests")

    async def upstream_id(ticket_id: str) -> str | None:
        value = await redis_client.hget(f"{WORKER}ticket:{ticket_id}", "upstream_id")
        return value.decode() if value else None

    def pothole(n: int) -> dict[str, str]:
        return {"service_code": "POTHOLE", "address_string": f"{n} Trade St", "attribute[road_position]": "lane",
                "attribute[size]": "large", "description": f"outbox test #{n}"}

    async with aiohttp.ClientSession() as http:
        # 1. Upstream up: a ticket is forwarded, with attributes, and its upstream id stored.
        first = await post(http, worker, worker_key, **pothole(0))
        up_first = await eventually(lambda: upstream_id(first), what="first ticket forwarded")
        async with http.get(f"{upstream.url}/open311/v2/requests/{up_first}.json") as resp:
            copy = (await resp.json())[0]
        assert copy["service_code"] == "POTHOLE" and copy["description"] == "outbox test #0"
        assert copy["address"] == "0 Trade St"
        raw = await redis_client.hgetall(f"{UPSTREAM}ticket:{up_first}")
        assert b'"large"' in raw[b"attributes"] and raw[b"idempotency_key"].endswith(first.encode())

        # 2. Upstream down: tickets are accepted and wait in the outbox.
        mark = _log_size(worker)
        await upstream.stop()
        waiting = [await post(http, worker, worker_key, **pothole(n)) for n in range(1, 5)]
        waiting.append(await post(http, worker, worker_key, service_code="MISSED_PICKUP", address_id="A-77",
                                  description="outbox test #5", **{"attribute[cart_type][]": "recycling",
                                                                    "attribute[cart_at_curb_by_7am]": "yes"}))
        await eventually(lambda: _failed_attempt_logged(worker, mark), what="worker retrying against the outage")
        assert [await upstream_id(t) for t in waiting] == [None] * 5

        # 3. The worker dies without cleanup and comes back; one more ticket meanwhile.
        await worker.kill()
        await worker.start()
        waiting.append(await post(http, worker, worker_key, **pothole(6)))
        rejected = await post(http, worker, worker_key, service_code="GENERAL", description="call me back")
        waiting.append(await post(http, worker, worker_key, **pothole(7)))

        # 4. Upstream back: everything arrives exactly once.
        await upstream.start()
        await eventually(lambda: _all(upstream_id, waiting), timeout=45, what="all tickets forwarded")
        requests = await upstream_requests(http, upstream)
        descriptions = sorted(r["description"] for r in requests)
        assert descriptions == sorted(f"outbox test #{n}" for n in range(8)), descriptions
        ids = {await upstream_id(t) for t in [first, *waiting]}
        assert ids == {r["service_request_id"] for r in requests}
        multi = next(r for r in requests if r["description"] == "outbox test #5")
        raw = await redis_client.hgetall(f"{UPSTREAM}ticket:{multi['service_request_id']}")
        assert b'["recycling"]' in raw[b"attributes"]

        # A permanent rejection is recorded and parked, and did not block the tickets after it.
        state = await redis_client.hget(f"{WORKER}ticket:{rejected}", "upstream_state")
        assert state == b"failed"
        dead = await redis_client.xrange(f"{WORKER}outbox:dead")
        assert [e[1][b"ticket_id"].decode() for e in dead] == [rejected]
        # Nothing left unacknowledged: the worker stores the upstream id, then acknowledges the entry, so the
        # last one forwarded may still be pending for a moment (it was, once, on a loaded machine).

        async def all_acknowledged() -> bool:
            return bool((await redis_client.xpending(f"{WORKER}outbox", "upstream"))["pending"] == 0)

        await eventually(all_acknowledged, what="every outbox entry acknowledged")
        assert await redis_client.xpending(f"{WORKER}outbox", "upstream") == {
            "pending": 0, "min": None, "max": None, "consumers": []}

        # 5. Status changes upstream come back to our ticket.
        target = waiting[0]
        up_target = await upstream_id(target)
        assert up_target
        out = await asyncio.to_thread(cli, redis_server, UPSTREAM, "tickets", "status", up_target, "resolved",
                                      "--note", "Patched by crew 7.")
        assert out.returncode == 0, out.stderr

        async def closed_here() -> dict[str, Any] | None:
            async with http.get(f"{worker.url}/open311/v2/requests/{target}.json") as resp:
                request = (await resp.json())[0]
            return request if request["status"] == "closed" else None

        request = await eventually(closed_here, what="status polled back")
        assert request["status_notes"] == "Patched by crew 7."
        history = await redis_client.lrange(f"{WORKER}ticket:{target}:history", 0, -1)
        assert b'"by": "upstream:' in history[-1]


async def _all(get: Callable[[str], Awaitable[str | None]], ids: list[str]) -> bool:
    return all([await get(t) for t in ids])


def _log_path(server: ChatServerProcess) -> Path:
    return ROOT / "var" / "test-logs" / f"{server.name}.log"


def _log_size(server: ChatServerProcess) -> int:
    return _log_path(server).stat().st_size


async def _failed_attempt_logged(server: ChatServerProcess, since: int) -> bool:
    with _log_path(server).open("rb") as f:
        f.seek(since)
        return b"upstream unavailable; will retry" in f.read()
