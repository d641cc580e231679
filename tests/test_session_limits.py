"""New sessions are limited per IP, and a session that never got a message expires.

One socket once created 500 sessions in 0.76 s, leaving 500 Redis hashes that never expired.
A real chat_server process (no bot needed) and real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.clients import ResidentClient
from tests.support.open311 import start_server
from tests.support.servers import ChatServerProcess, RedisServer

PREFIX = "tsesslim:"
LIMIT = 5


@pytest.fixture(scope="module")
async def server(redis_server: RedisServer) -> AsyncIterator[ChatServerProcess]:
    proc = await start_server(redis_server, "session-limits", PREFIX, CHAT311_LIMITS__IP_SESSIONS=str(LIMIT),
                              CHAT311_LIMITS__IP_SESSIONS_WINDOW_S="3600",
                              CHAT311_LIMITS__UNUSED_SESSION_TTL_S="600")
    yield proc
    await proc.stop()


async def test_session_creation_is_limited_per_ip_and_unused_sessions_expire(
        server: ChatServerProcess, resident: Callable[..., Any], redis_client: aioredis.Redis) -> None:
    client: ResidentClient = await resident(server.url)
    acks = [await client.sio.call("session_request", {"last_message_id": "0"}, timeout=10)
            for _ in range(LIMIT + 3)]
    created = [a["session_id"] for a in acks if a.get("ok")]
    refused = [a for a in acks if not a.get("ok")]
    assert len(created) == LIMIT and len(set(created)) == LIMIT
    assert len(refused) == 3
    assert all(a["error"]["code"] == "rate_limited" and "sessions" in a["error"]["message"] for a in refused)

    # Resuming an existing session is not a new one: never refused.
    resumed = await client.sio.call("session_request", {"session_id": created[0], "last_message_id": "0"},
                                    timeout=10)
    assert resumed == {"ok": True, "session_id": created[0]}

    for token in created:
        ttl = await redis_client.ttl(f"{PREFIX}session:{token}")
        assert 0 < ttl <= 600, ttl

    # The first message makes the session permanent (retention then follows its conversations).
    assert (await client.say("hello"))["ok"]
    assert client.session_id == created[0]
    assert await redis_client.ttl(f"{PREFIX}session:{created[0]}") == -1
    assert 0 < await redis_client.ttl(f"{PREFIX}session:{created[1]}") <= 600
