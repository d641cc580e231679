"""Shutdown never hangs.

On Python 3.11 `asyncio.wait_for` swallows a cancel that arrives as the awaited thing finishes, and
redis-py writes every command through it. The routing loop, cancelled while a Redis command was in
flight, carried on, and `stop()` (cancel, then await) waited for ever: the app's cleanup hung, an
intermittent CI stall. Every background task is now stopped with `cancel_and_wait`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from chat_server.agents.feature import ESCALATION
from chat_server.app import create_app
from chat_server.app_hooks import run_with_app
from chat_server.config import Config
from chat_server.stopping import cancel_and_wait
from tests.support.faults import log_lines
from tests.support.servers import ROOT, in_process_config


async def test_a_task_that_swallows_a_cancel_is_still_stopped() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            swallowed.set()  # what wait_for does on 3.11 when the cancel races a completion
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait([task, None]))
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done and swallowed.is_set() and task.cancelled()


def _config(redis_url: str) -> Config:
    return in_process_config(redis_url, f"sd{uuid.uuid4().hex[:8]}:")


async def test_workers_stop_in_reverse_order(redis_server: Any) -> None:
    """Every lifecycle is a cleanup_ctx: a worker registered later (which may use an earlier one, as
    status notices go out through the channels' outboxes) stops first."""
    app = create_app(_config(redis_server.url), redis_server.url)
    events: list[str] = []

    class Worker:
        def __init__(self, name: str) -> None:
            self.name = name

        def start(self) -> None:
            events.append(f"start {self.name}")

        async def stop(self) -> None:
            events.append(f"stop {self.name}")

    run_with_app(app, Worker("outbox"))
    run_with_app(app, Worker("poller"))
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.wait_for(runner.cleanup(), 60)
    assert events == ["start outbox", "start poller", "stop poller", "stop outbox"]


async def test_routing_loop_stops_when_cancelled_mid_redis_command(redis_server: Any) -> None:
    app = create_app(_config(redis_server.url), redis_server.url)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        routing = app[ESCALATION]
        await routing.stop()  # the loop the app started; each round below starts its own
        for _ in range(8):  # the race is hit in about half the rounds
            await routing.start()
            await asyncio.sleep(0)  # the loop starts a dispatch round: Redis commands in flight
            routing.poke()
            # asyncio.wait neither cancels nor swallows: a stop that hangs stays pending and fails here.
            stopping = asyncio.create_task(routing.stop())
            done, _ = await asyncio.wait({stopping}, timeout=10)
            assert stopping in done, "the routing loop outlived stop()"
            stopping.result()
    finally:
        await asyncio.wait_for(runner.cleanup(), 60)


async def test_a_client_that_stopped_polling_does_not_hold_shutdown(server_factory: Any) -> None:
    """Probe S: on Ctrl-C the server waited for every client to take its goodbye packet. One that had
    stopped polling held shutdown until the 10 s limit, and the runner stopped Redis under the still
    running loops ("routing tick failed"). Goodbyes now get a short while; then the server goes on."""
    server = await server_factory()
    async with aiohttp.ClientSession() as session:
        base = f"{server.url}/socket.io/?EIO=4&transport=polling"
        async with session.get(base) as resp:
            opened = json.loads((await resp.text())[1:])
        poll = f"{base}&sid={opened['sid']}"
        async with session.post(poll, data="40") as resp:
            assert resp.status == 200
        async with session.get(poll) as resp:
            assert (await resp.text()).startswith("40")  # connected to the namespace; it never polls again
        await server.stop()
    assert server.proc is not None and server.proc.returncode == 0
    lines = log_lines(server)
    assert not [line for line in lines if line.get("msg") == "shutdown did not finish; exiting anyway"]


async def test_a_websocket_client_finishes_its_closing_handshake_at_shutdown(server_factory: Any) -> None:
    """aiohttp stops reading connections before the app's shutdown hooks ran, so the goodbye went out but
    the client's closing frame was never read: the handshake hung, and each connected client held the
    worker's shutdown for its whole grace period. The server now reads it and answers it."""
    server = await server_factory()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket")
        assert (await ws.receive_str()).startswith("0")  # engine.io open
        await ws.send_str("40")
        assert (await ws.receive_str()).startswith("40")  # in the resident namespace
        stopping = asyncio.create_task(server.stop())
        said = []
        while (msg := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
            said.append(msg.data)
            if msg.data == "1":  # engine.io close: the goodbye
                break
        assert said[-1:] == ["1"], said
        await ws.close()
        assert ws.close_code == aiohttp.WSCloseCode.OK, ws.close_code  # 1006 when the server never answered
        await stopping
    assert server.proc is not None and server.proc.returncode == 0
    lines = log_lines(server)
    assert not [line for line in lines if "did not" in str(line.get("msg"))], lines[-5:]


ABANDONED = """
import asyncio, threading
from chat_server.abandonable import in_abandonable_thread

started, never = threading.Event(), threading.Event()

def build():
    started.set()
    never.wait()  # an index build that has not finished when the process stops

async def main():
    task = asyncio.create_task(in_abandonable_thread("build", build))
    await asyncio.to_thread(started.wait)
    task.cancel()
    await asyncio.wait([task])
    print("cancelled" if task.cancelled() else "not cancelled", flush=True)

asyncio.run(main())
"""


def test_a_build_left_in_an_abandonable_thread_does_not_hold_the_exit() -> None:
    """The knowledge index and the emergency net build for seconds after start; a worker stopped meanwhile
    waited for them at exit (the default executor's threads are joined). Here the build never ends, so an
    exit that waited for it would never come."""
    done = subprocess.run([sys.executable, "-c", ABANDONED], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "cancelled", (done.returncode, done.stdout, done.stderr)
