"""OutboundQueue keeps the asyncio.Queue behaviour Engine.IO's writer and the slow-consumer watchdog rely on."""

from __future__ import annotations

import asyncio

import pytest

from chat_server.conversations.outbound_queue import OutboundQueue


async def test_items_come_out_in_order_and_get_nowait_says_empty() -> None:
    queue = OutboundQueue()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    for item in ("a", "b", "c"):
        await queue.put(item)
    assert (queue.qsize(), queue.empty()) == (3, False)
    assert await queue.get() == "a"
    assert [queue.get_nowait(), queue.get_nowait()] == ["b", "c"]
    assert queue.empty()


async def test_a_waiting_get_wakes_on_put() -> None:
    queue = OutboundQueue()
    getter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)  # the getter is now waiting
    assert not getter.done()
    queue.put_nowait("packet")
    assert await asyncio.wait_for(getter, 5) == "packet"


async def test_a_timed_out_get_loses_no_packet() -> None:
    """Engine.IO polls with wait_for(queue.get(), ping timeout): a timeout must leave later packets in place."""
    queue = OutboundQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait(1)
    assert await asyncio.wait_for(queue.get(), 5) == 1


async def test_a_timed_out_getter_is_skipped() -> None:
    queue = OutboundQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    waiting = asyncio.ensure_future(asyncio.wait_for(queue.get(), 5))
    await asyncio.sleep(0)
    queue.put_nowait("next")
    assert await waiting == "next"
    assert queue.empty()


async def test_a_writer_cancelled_once_its_packet_arrived_still_gets_it() -> None:
    """Engine.IO's writer is cancelled when its socket closes; a packet handed over just before is not dropped."""
    queue = OutboundQueue()
    writer = asyncio.ensure_future(asyncio.wait_for(queue.get(), 5))
    await asyncio.sleep(0)
    queue.put_nowait("handed over")
    writer.cancel()
    assert await writer == "handed over"


async def test_join_waits_for_every_task_done() -> None:
    queue = OutboundQueue()
    await asyncio.wait_for(queue.join(), 5)  # nothing unfinished: returns at once
    queue.put_nowait("x")
    queue.put_nowait("y")
    joined = asyncio.ensure_future(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, 5)
    with pytest.raises(ValueError):
        queue.task_done()
