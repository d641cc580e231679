"""The hot path's Redis savings against a real Redis: coalesced pipelines, rate limits, memos.

They must not change behaviour: each caller gets its own replies and its own errors, limits
still count every event across processes, and a closed conversation is still followed by a
new one even when this process remembered the old one.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from chat_server.child_specs import free_port
from chat_server.conversations.limits import Limit, RateLimiter
from chat_server.conversations.store import CLOSED, ConversationStore
from chat_server.redis_batch import PipelineBatcher


def _prefix() -> str:
    return f"t-hot-{uuid.uuid4().hex[:8]}:"


async def test_concurrent_callers_share_round_trips_and_keep_their_own_replies(redis_client: Any) -> None:
    batcher = PipelineBatcher(redis_client)
    p = _prefix()
    pipelines = 0
    original = redis_client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return original(*args, **kwargs)

    redis_client.pipeline = counting_pipeline
    try:
        results = await asyncio.gather(*(
            batcher.execute(lambda pipe, i=i: (pipe.incrby(f"{p}n{i}", i), pipe.get(f"{p}n{i}")))
            for i in range(1, 101)))
    finally:
        redis_client.pipeline = original
    assert [r[0] for r in results] == list(range(1, 101))
    assert [int(r[1]) for r in results] == list(range(1, 101))
    assert pipelines < 100 / 2  # 100 callers, far fewer round trips


async def test_one_callers_error_does_not_fail_the_others(redis_client: Any) -> None:
    batcher = PipelineBatcher(redis_client)
    p = _prefix()
    await redis_client.set(f"{p}text", "not a number")
    good = [batcher.execute(lambda pipe, i=i: pipe.incr(f"{p}ok{i}")) for i in range(5)]
    bad = batcher.execute(lambda pipe: pipe.incr(f"{p}text"))
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    assert outcomes[:5] == [[1]] * 5
    assert isinstance(outcomes[5], ResponseError)


async def test_a_dead_connection_fails_every_waiting_caller() -> None:
    dead = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    batcher = PipelineBatcher(dead)
    outcomes = await asyncio.gather(*(batcher.execute(lambda pipe: pipe.get("x")) for _ in range(3)),
                                    return_exceptions=True)
    assert all(isinstance(o, RedisConnectionError) for o in outcomes)
    await dead.aclose()


async def test_rate_limits_count_every_event_across_limiters(redis_client: Any) -> None:
    p = _prefix()
    tight, loose = Limit("t", 3, 60), Limit("l", 5, 60)
    one, two = RateLimiter(redis_client, p), RateLimiter(redis_client, p)  # two "processes"
    verdicts = await asyncio.gather(*(limiter.hit_all([(tight, "ip|s1"), (loose, "ip")])
                                      for limiter in (one, two, one, two)))
    assert sorted(verdicts) == [False, True, True, True]  # which one loses depends on arrival order
    # the refused 4th did not count against the per-IP limit: two more sessions fit under it
    assert await one.hit_all([(tight, "ip|s2"), (loose, "ip")]) is True
    assert await two.hit_all([(tight, "ip|s3"), (loose, "ip")]) is True
    assert await one.hit_all([(tight, "ip|s4"), (loose, "ip")]) is False  # 6th on the per-IP limit


@pytest.mark.parametrize("close_elsewhere", [False, True])
async def test_remembered_conversation_gives_way_to_a_new_one_after_close(
        redis_client: Any, close_elsewhere: bool) -> None:
    p = _prefix()
    mine = ConversationStore(redis_client, p)
    other = ConversationStore(redis_client, p)  # another chat_server process
    token = await mine.new_session("web")
    first = await mine.create(token, "web", "en")
    assert (await mine.current_conversation(token)).id == first.id  # type: ignore[union-attr]
    closer = other if close_elsewhere else mine
    assert await closer.set_state(first.id, CLOSED)
    second = await other.create(token, "web", "en")
    current = await mine.current_conversation(token)
    assert current is not None and current.id == second.id
