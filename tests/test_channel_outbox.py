"""The channels' durable outbox on real Redis: per-key order, retries, give-up, takeover of a dead
worker's jobs."""

from __future__ import annotations

import uuid
from typing import Any

from chat_server.channels.outbox import GiveUp, Outbox, Retry, RetryPolicy
from tests.support.channel_standins import Waitable
from tests.support.waiting import until


async def test_order_per_key_retries_and_give_up(redis_client) -> None:  # type: ignore[no-untyped-def]
    stream = f"t{uuid.uuid4().hex[:8]}:outbox"
    done = Waitable()
    failed: list[tuple[dict[str, Any], str]] = []
    flaky = {"n": 2}

    async def handler(job: dict[str, Any]) -> None:
        if job["key"] == "slow" and flaky["n"] > 0:
            flaky["n"] -= 1
            raise Retry("503 from the provider")
        if job["v"] == "bad":
            raise GiveUp("400 from the provider")
        done.add(job["v"])

    async def on_failure(job: dict[str, Any], reason: str) -> None:
        failed.append((job, reason))

    outbox = Outbox(redis_client, stream, handler, RetryPolicy(5, 0.2, 0.5), claim_idle_s=5, on_failure=on_failure)
    await outbox.start()
    try:
        for i in range(4):
            await outbox.put({"key": "slow", "v": f"s{i}"})
            await outbox.put({"key": "fast", "v": f"f{i}"})
        await outbox.put({"key": "fast", "v": "bad"})
        await done.wait_for(lambda items: len(items) == 8)
        assert [v for v in done.items if v.startswith("s")] == ["s0", "s1", "s2", "s3"]  # in order despite retries
        assert [v for v in done.items if v.startswith("f")] == ["f0", "f1", "f2", "f3"]
        assert done.items.index("f3") < done.items.index("s0")  # one key's retries do not hold up another
        await until(lambda: failed, 5, "the handler never failed", interval=0.02)
        assert failed[0][0]["v"] == "bad" and "gave up" in failed[0][1]
    finally:
        await outbox.stop()
    assert await redis_client.xlen(stream) == 0  # acknowledged and removed


async def test_dead_workers_jobs_are_taken_over(redis_client) -> None:  # type: ignore[no-untyped-def]
    stream = f"t{uuid.uuid4().hex[:8]}:outbox"
    done = Waitable()

    async def handler(job: dict[str, Any]) -> None:
        done.add(job["v"])

    # A worker that read the job and died before acknowledging it.
    dead = Outbox(redis_client, stream, handler, RetryPolicy(), claim_idle_s=0.3)
    await redis_client.xgroup_create(stream, dead.group, id="0", mkstream=True)
    await dead.put({"key": "x", "v": "orphan"})
    rows = await redis_client.xreadgroup(dead.group, "dead-consumer", {stream: ">"}, count=10)
    assert rows and not done.items
    alive = Outbox(redis_client, stream, handler, RetryPolicy(), claim_idle_s=0.3)
    await alive.start()
    try:
        await done.wait_for(lambda items: items == ["orphan"], timeout=10)
    finally:
        await alive.stop()
