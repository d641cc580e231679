"""Faults in delivery: kill -9 a worker, Redis killed and restarted, pub/sub drops, slow consumers.

Real processes throughout (chat311 run --workers 2, chat311 serve, embedded redis-server with
AOF fsync always). The bot is down in these tests on purpose (they are about delivery), so
conversations are moved to `assigned` where the bot must stay silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
import psutil
import pytest

from chat_server.child_specs import free_port
from chat_server.conversations.delivery import HEARTBEAT, ReliableRedisManager
from tests.support.clients import ResidentClient
from tests.support.faults import RawSocketIO, log_lines, wait_for_log
from tests.support.servers import LOG_DIR, ROOT, chat311_env
from tests.support.waiting import until

FAST_LIMITS = {"CHAT311_LIMITS__SESSION_MESSAGES": "100000", "CHAT311_LIMITS__IP_MESSAGES": "100000"}


async def stream_ids(redis_client: Any, session: str, prefix: str = "c311:") -> list[str]:
    ids: list[str] = []
    for cid in await redis_client.lrange(f"{prefix}session:{session}:convs", 0, -1):
        ids += [mid.decode() for mid, _ in await redis_client.xrange(f"{prefix}conv:{cid.decode()}:msgs")]
    return ids


async def assign(redis_client: Any, session: str, prefix: str = "c311:") -> None:
    """Hand the conversation to a (pretend) agent so the bot stays out of a delivery test."""
    cid = (await redis_client.lindex(f"{prefix}session:{session}:convs", -1)).decode()
    await redis_client.hset(f"{prefix}conv:{cid}", mapping={"state": "assigned"})


async def say_until_acked(client: ResidentClient, text: str, cmid: str, timeout: float = 60) -> dict[str, Any]:
    """Resend with the same client_msg_id until the server acknowledges (the widget's behaviour)."""
    async def acked() -> dict[str, Any] | None:
        try:
            ack = await client.say(text, client_msg_id=cmid)
        except Exception:  # timeout or disconnected: retry
            return None
        return ack if ack.get("ok") and ack.get("id") else None

    found = await until(acked, timeout, f"message {cmid} never acknowledged", interval=0.3)
    assert found is not None
    return found


def ids_seen(client: ResidentClient) -> set[str]:
    return {m["id"] for m in client.messages() if m.get("id")}


async def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    await until(predicate, timeout, f"timed out waiting for {what}", interval=0.05)


# -- sequence-gap detector (pure) -------------------------------------------------------------

async def test_sequence_gap_and_heartbeat_gap_are_detected() -> None:
    manager = ReliableRedisManager("redis://127.0.0.1:1/0", "x")
    resyncs: list[str] = []
    manager.request_resync = resyncs.append  # type: ignore[method-assign]
    manager._track_peer({"method": "emit", "host_id": "peer", "seq": 1})
    manager._track_peer({"method": "emit", "host_id": "peer", "seq": 2})
    assert resyncs == []
    manager._track_peer({"method": "emit", "host_id": "peer", "seq": 5})  # 3 and 4 lost
    assert resyncs == ["sequence gap"] and manager.stats["missed"] == 2
    manager._track_peer({"method": HEARTBEAT, "host_id": "peer", "seq": 5})  # up to date
    assert len(resyncs) == 1
    manager._track_peer({"method": HEARTBEAT, "host_id": "peer", "seq": 6})  # the last message was lost
    assert len(resyncs) == 2 and manager.stats["missed"] == 3


# -- slow consumer ----------------------------------------------------------------------------

async def test_slow_consumer_is_detected_closed_and_replays_everything(bare_factory: Any, redis_client: Any) -> None:
    server = await bare_factory(name="fault-slow", CHAT311_SERVER__MAX_OUTBOUND_QUEUE="20",
                                CHAT311_LIMITS__MAX_MESSAGE_CHARS="30000", **FAST_LIMITS)
    talker = ResidentClient(server.url)
    await talker.connect()
    session = await talker.start_session(last_message_id="0")
    await talker.say("first")
    await assign(redis_client, session)

    frozen = RawSocketIO(server.url, rcvbuf=4096)
    await frozen.connect()
    ack = await frozen.call("session_request", {"session_id": session, "last_message_id": "0"})
    assert ack["ok"] and ack["session_id"] == session
    # From here on `frozen` never reads again: a tab on a frozen phone.
    acked: list[str] = []
    body = "x" * 29000
    try:
        # Enough to fill the kernel's socket buffers (up to 4 MB on loopback) and then the queue.
        for i in range(600):
            reply = await talker.say(f"{i} {body}")
            assert reply["ok"], reply
            acked.append(reply["id"])
            if i % 25 == 24 and any(e.get("msg", "").startswith("slow consumer") for e in log_lines(server)):
                break
        line = await wait_for_log(server, lambda e: e.get("msg", "").startswith("slow consumer"))
        assert line["queued"] > 20
        # The server cut the connection: the frozen client sees EOF/RST once it looks.
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError, OSError)):
            async with asyncio.timeout(20):
                while True:
                    await frozen.read()
    finally:
        frozen.close()

    # The healthy tab was not disturbed and got everything live.
    await wait_until(lambda: set(acked) <= ids_seen(talker), what="live delivery to the healthy tab")
    # The frozen tab comes back (reconnect with its last id: it saw none) and misses nothing.
    again = ResidentClient(server.url)
    await again.connect()
    await again.start_session(session, last_message_id="0")
    await wait_until(lambda: set(acked) <= ids_seen(again), what="replay after slow-consumer close")
    assert [m["id"] for m in again.messages()] == await stream_ids(redis_client, session)
    await again.close()
    await talker.close()
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200


# -- pub/sub drop between processes -------------------------------------------------------------

async def test_pubsub_connection_drop_is_detected_and_repaired(bare_factory: Any, redis_client: Any) -> None:
    env = {"CHAT311_SERVER__REDIS_MANAGER": "true", "CHAT311_SERVER__DELIVERY_HEARTBEAT_S": "0.5", **FAST_LIMITS}
    one = await bare_factory(name="fault-pubsub-1", **env)
    two = await bare_factory(name="fault-pubsub-2", **env)
    reader = ResidentClient(one.url)
    writer = ResidentClient(two.url)
    await reader.connect()
    await writer.connect()
    session = await reader.start_session(last_message_id="0")
    await writer.start_session(session, last_message_id="0")
    await writer.say("hello")
    await assign(redis_client, session)

    acked: list[str] = []

    async def talk() -> None:
        for i in range(60):
            acked.append((await say_until_acked(writer, f"message {i}", f"ps-{i}-{uuid.uuid4().hex[:6]}"))["id"])
            await asyncio.sleep(0.03)

    talking = asyncio.create_task(talk())
    await wait_until(lambda: len(acked) >= 10, what="first messages")
    # Redis drops every subscriber (as it does for one over its pub/sub output-buffer limit).
    await redis_client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await talking
    await wait_until(lambda: set(acked) <= ids_seen(reader), timeout=20, what="every message on the other process")
    line = await wait_for_log(one, lambda e: e.get("msg", "").startswith("socketio delivery repaired")
                              and e.get("replayed", 0) > 0)
    assert line["reason"] == "pubsub resubscribed"
    await wait_for_log(one, lambda e: e.get("msg", "").startswith("socketio pub/sub connection lost"))
    # Repaired messages arrive once per id at the client; dedupe-by-id covers the rest.
    assert ids_seen(reader) <= set(await stream_ids(redis_client, session))
    await reader.close()
    await writer.close()


# -- Redis killed and restarted -------------------------------------------------------------------

async def test_redis_kill_9_loses_nothing_acknowledged(private_bare_factory: Any, private_redis: Any) -> None:
    """Kills the module's own Redis (`private_redis`), never the one the rest of the suite uses."""
    server = await private_bare_factory(name="fault-redis", **FAST_LIMITS)
    client = ResidentClient(server.url)
    await client.connect()
    session = await client.start_session(last_message_id="0")
    acked: dict[str, str] = {}
    for i in range(20):
        cmid = f"r-{i}-{uuid.uuid4().hex[:6]}"
        acked[cmid] = (await say_until_acked(client, f"before {i}", cmid))["id"]
    restart = asyncio.create_task(private_redis.restart(hard=True))
    for i in range(20):  # keep talking through the outage; the widget resends until acked
        cmid = f"r-during-{i}-{uuid.uuid4().hex[:6]}"
        if not client.sio.connected:
            client = ResidentClient(server.url)
            await client.connect()
            await client.start_session(session, last_message_id="0")
        acked[cmid] = (await say_until_acked(client, f"during {i}", cmid))["id"]
    await restart
    fresh = private_redis.client()
    try:
        stored = await stream_ids(fresh, session)
        assert set(acked.values()) <= set(stored), "an acknowledged message was lost"
        assert len(stored) == len(set(stored))
        # every message the resident sent is there (a resend after an unacknowledged attempt may
        # legitimately be stored once more; losing one is the failure)
        texts = []
        for cid in await fresh.lrange(f"c311:session:{session}:convs", 0, -1):
            texts += [raw[b"text"].decode() for _, raw in await fresh.xrange(f"c311:conv:{cid.decode()}:msgs")
                      if raw[b"sender"] == b"resident"]
        assert {f"before {i}" for i in range(20)} | {f"during {i}" for i in range(20)} <= set(texts)
    finally:
        await fresh.aclose()
        await client.close()
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/readyz") as resp:
        body = await resp.json()
        assert body["components"]["redis"]["ok"], body


# -- kill -9 a worker of `chat311 run --workers 2` ------------------------------------------------

def _worker_holding(client_port: int, workers: list[psutil.Process]) -> psutil.Process:
    for proc in workers:
        for conn in proc.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == client_port and conn.status == psutil.CONN_ESTABLISHED:
                return proc
    raise AssertionError("no worker holds the client's connection")


def _my_connection_port(server_port: int, exclude: set[int]) -> int:
    for conn in psutil.Process().net_connections(kind="tcp"):
        if conn.raddr and conn.raddr.port == server_port and conn.status == psutil.CONN_ESTABLISHED \
                and conn.laddr.port not in exclude:
            return int(conn.laddr.port)
    raise AssertionError("client connection not found")


async def test_kill_9_worker_mid_conversation_resident_reconnects_nothing_lost(
        redis_server: Any, redis_client: Any) -> None:
    port = free_port()
    # `chat311 run` (a supervisor with workers), so not server_env's `serve` settings.
    env = chat311_env(redis_server.url, **{
        "CHAT311_SERVER__PORT": str(port), "CHAT311_SERVER__HOST": "127.0.0.1", "CHAT311_RASA__MANAGE": "false",
        "CHAT311_RASA__URL": f"http://127.0.0.1:{free_port()}", "CHAT311_RASA__TIMEOUT_S": "2",
        "CHAT311_SERVER__DELIVERY_HEARTBEAT_S": "0.5", **FAST_LIMITS})
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / "fault-workers.log", "wb") as log:
        parent = subprocess.Popen([sys.executable, "-m", "chat_server.cli", "run", "--workers", "2"], cwd=ROOT,
                                  env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def workers() -> list[psutil.Process]:
            return [p for p in psutil.Process(parent.pid).children() if "serve" in p.cmdline()]

        async def healthy() -> bool:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as resp:
                    return resp.status == 200
            return False

        async def started() -> bool:
            if len(workers()) == 2 and await healthy():
                return True
            assert parent.poll() is None, (LOG_DIR / "fault-workers.log").read_text()[-2000:]
            return False

        await until(started, 60, "workers did not start", interval=0.3)
        await asyncio.sleep(1.0)  # both workers listening

        resident = ResidentClient(url)
        await resident.connect()
        resident_port = _my_connection_port(port, set())
        session = await resident.start_session(last_message_id="0")
        await resident.say("my streetlight is out")
        await assign(redis_client, session)
        other = ResidentClient(url)  # a second tab, somewhere (maybe the same worker)
        await other.connect()
        await other.start_session(session, last_message_id="0")
        acked = [(await say_until_acked(resident, f"before {i}", f"w-{i}-{uuid.uuid4().hex[:6]}"))["id"]
                 for i in range(5)]
        await wait_until(lambda: set(acked) <= ids_seen(resident), what="live delivery")
        last_seen = max(ids_seen(resident), key=lambda i: tuple(map(int, i.split("-"))))

        victim = _worker_holding(resident_port, workers())
        victim.kill()  # SIGKILL mid-conversation
        await wait_until(lambda: not resident.sio.connected, what="the resident noticing")

        # While the resident is away, the conversation goes on from the other tab (reconnecting
        # that one too if it was on the dead worker).
        if not other.sio.connected:
            other = ResidentClient(url)
            await other.connect()
            await other.start_session(session, last_message_id="0")
        missed = [(await say_until_acked(other, f"while away {i}", f"a-{i}-{uuid.uuid4().hex[:6]}"))["id"]
                  for i in range(5)]

        back = ResidentClient(url)  # lands on the surviving (or restarted) worker
        await back.connect()
        await back.start_session(session, last_message_id=last_seen)
        await wait_until(lambda: set(missed) <= ids_seen(back), what="replay of the missed messages")
        replayed = [m["id"] for m in back.messages()]
        assert len(replayed) == len(set(replayed))
        stored = await stream_ids(redis_client, session)
        assert sorted(ids_seen(resident) | set(replayed), key=lambda i: tuple(map(int, i.split("-")))) == stored
        # The supervisor brings the killed worker back.
        await until(lambda: len(workers()) == 2 and victim.pid not in {w.pid for w in workers()}, 30,
                    "killed worker was not restarted", interval=0.3)
        for client in (resident, other, back):
            await client.close()
    finally:
        parent.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(parent.wait, 20)
        except subprocess.TimeoutExpired:
            os.killpg(parent.pid, signal.SIGKILL)
