"""The durable stream outbox (chat_server/stream_outbox.py) on real Redis, as the channels and the
tickets' upstream forwarding use it: per-key order, retries, give-up, one line of store-written
entries retried until they go, takeover of a dead or stopped worker's jobs, and jobs a live worker
holds staying with it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from chat_server.stream_outbox import GiveUp, Outbox, Retry, RetryPolicy
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


async def test_store_written_entries_in_one_line_retried_until_they_go(redis_client) -> None:  # type: ignore[no-untyped-def]
    """The tickets' use: entries XADDed by a store as flat fields, one line in filing order
    (`key_field=None`), a failing job retried past the default attempt limit (`max_attempts=None`)
    while the jobs behind it wait, a `GiveUp` handed to the failure hook."""
    stream = f"t{uuid.uuid4().hex[:8]}:outbox"
    done = Waitable()
    # What each attempt at a ticket raises, in turn; then it goes through.
    errors: dict[str, list[Exception]] = {"t1": [ConnectionError("upstream down")] * 8,
                                          "t3": [GiveUp("HTTP 400: unknown service_code")]}

    async def forward(job: dict[str, Any]) -> None:
        if errors.get(job["ticket_id"]):
            raise errors[job["ticket_id"]].pop()
        done.add(job["ticket_id"])

    async def dead_letter(job: dict[str, Any], reason: str) -> None:
        done.add(f"{job['ticket_id']} failed: {reason}")

    outbox = Outbox(redis_client, stream, forward, RetryPolicy(None, 0.02, 0.05), claim_idle_s=5,
                    on_failure=dead_letter, key_field=None, group="upstream")
    for n in range(1, 5):
        await redis_client.xadd(stream, {"ticket_id": f"t{n}"})
    await outbox.start()
    try:
        await done.wait_for(lambda items: len(items) == 4, timeout=15)
        # Filing order, t1's eight retries included; t3's refusal goes to the hook, not retried.
        assert done.items == ["t1", "t2", "t3 failed: gave up: HTTP 400: unknown service_code", "t4"]
        assert errors == {"t1": [], "t3": []}
    finally:
        await outbox.stop()
    assert await redis_client.xlen(stream) == 0
    assert await redis_client.xpending(stream, "upstream") == {"pending": 0, "min": None, "max": None, "consumers": []}


async def test_a_stopped_workers_jobs_are_taken_over_within_seconds(redis_client) -> None:  # type: ignore[no-untyped-def]
    """A worker stopped mid-job leaves it pending and deletes its heartbeat: the next worker takes
    the job over within seconds (once the stopped one has not read for 5 s), long before
    `claim_idle_s` (60 s here) would let it."""
    stream = f"t{uuid.uuid4().hex[:8]}:outbox"
    started, done = Waitable(), Waitable()

    async def stuck(job: dict[str, Any]) -> None:
        started.add(job["v"])
        await asyncio.Event().wait()  # never returns: cancelled by stop()

    async def handler(job: dict[str, Any]) -> None:
        done.add(job["v"])

    first = Outbox(redis_client, stream, stuck, RetryPolicy(), claim_idle_s=60)
    await first.start()
    await first.put({"key": "x", "v": "interrupted"})
    await started.wait_for(lambda items: items == ["interrupted"], timeout=10)
    await first.stop()
    assert not await redis_client.exists(first.alive_key(first.consumer))
    second = Outbox(redis_client, stream, handler, RetryPolicy(), claim_idle_s=60)
    began = time.monotonic()
    await second.start()
    try:
        await done.wait_for(lambda items: items == ["interrupted"], timeout=15)
        assert time.monotonic() - began < 15
    finally:
        await second.stop()
    assert await redis_client.xlen(stream) == 0


async def test_jobs_a_live_worker_holds_are_not_taken(redis_client) -> None:  # type: ignore[no-untyped-def]
    """Jobs waiting behind a slow one for the same key stay with their worker while it lives, however
    long past `claim_idle_s` that lasts: another worker taking them would send them twice or out
    of order."""
    stream = f"t{uuid.uuid4().hex[:8]}:outbox"
    release = asyncio.Event()
    mine, theirs = Waitable(), Waitable()

    async def slow(job: dict[str, Any]) -> None:
        if job["v"] == "first":
            await release.wait()
        mine.add(job["v"])

    async def other(job: dict[str, Any]) -> None:
        theirs.add(job["v"])

    holder = Outbox(redis_client, stream, slow, RetryPolicy(), claim_idle_s=0.6)
    rival = Outbox(redis_client, stream, other, RetryPolicy(), claim_idle_s=0.6)
    await holder.start()
    try:
        await holder.put({"key": "555", "v": "first"})
        await holder.put({"key": "555", "v": "second"})
        await until(lambda: len(holder._mine) == 2, 10, "the holder never read both jobs", interval=0.02)
        await rival.start()
        try:
            # Nothing to wait for but time: for 2.5 s (a dozen of the rival's claim passes) the held
            # jobs never look stale: the holder touches them every 0.2 s, well inside claim_idle_s.
            # (Without that only the race between the two workers' own claim passes decides.)
            idle_ms: list[int] = []
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                pending = await redis_client.xpending_range(stream, holder.group, "-", "+", 10)
                idle_ms += [p["time_since_delivered"] for p in pending]
                await asyncio.sleep(0.03)
            assert idle_ms and max(idle_ms) < 600, max(idle_ms)
            assert theirs.items == []
            release.set()
            await mine.wait_for(lambda items: items == ["first", "second"], timeout=10)
            assert theirs.items == []
        finally:
            await rival.stop()
    finally:
        await holder.stop()
