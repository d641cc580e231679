"""Several Rasa servers (`rasa.urls`): a dead one is skipped, its conversations carry on on the other
(trackers and locks are in Redis), a model publish reaches every server and names the one that failed,
and with all of them down /readyz names them and residents get the bot-unavailable path.

Two real `rasa run` processes serve the trained model with the session's Redis as tracker and lock
store, plus their action server and one chat_server with `rasa.urls` = both. The Rasa servers are
started here rather than under a Supervisor: a killed one must stay dead (a supervisor would restart
it). Every process started here is killed on the way out, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from chat_server.child_specs import action_server_spec, free_port, rasa_server_spec
from chat_server.config import ConfigError, RetentionConfig, load_config
from chat_server.conversations.rasa_pool import RasaPool
from chat_server.conversations.store import ConversationStore
from chat_server.process_supervisor import ChildSpec, Supervisor
from chat_server.texts import text
from chat_server.training.jobs import TrainingJobs
from tests.support.clients import ResidentClient
from tests.support.servers import (
    LOG_DIR,
    RASA_TOKEN,
    ROOT,
    ChatServerProcess,
    RasaStack,
    RedisServer,
    _model,
    chat_servers,
)

# --- configuration and the pool's choice: pure, no processes ---------------------------------------


def test_rasa_url_is_a_list_of_one_and_urls_wins() -> None:
    token = {"CHAT311_RASA__TOKEN": "a-secret-of-the-citys-own"}  # Rasa off this machine: never the shipped one
    assert load_config(environ={"CHAT311_RASA__URL": "http://10.0.0.5:5005/", **token}).rasa.servers() == [
        "http://10.0.0.5:5005"]
    both = load_config(environ={"CHAT311_RASA__URL": "http://10.0.0.5:5005",
                                "CHAT311_RASA__URLS": "[http://10.0.0.6:5005, http://10.0.0.7:5005]", **token})
    assert both.rasa.servers() == ["http://10.0.0.6:5005", "http://10.0.0.7:5005"]


@pytest.mark.parametrize(("env", "message"), [
    ({"CHAT311_RASA__URLS": "[http://10.0.0.6:5005, 10.0.0.7:5005]"}, "rasa: urls[1]: expected an http(s) URL"),
    ({"CHAT311_RASA__URLS": "[http://10.0.0.6:5005, '']"}, "rasa: urls[1]: expected an http(s) URL"),
    ({"CHAT311_RASA__URL": ""}, "rasa: url: expected an http(s) URL"),
    ({"CHAT311_RASA__URLS": "[http://a:5005, http://a:5005/]"}, "rasa: urls: a Rasa server is listed twice"),
    ({"CHAT311_RASA__URLS": "http://a:5005"}, "rasa.urls: expected a list"),
])
def test_bad_rasa_urls_stop_startup_naming_the_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ=env)
    assert str(caught.value).startswith(message), caught.value


def test_pool_keeps_a_conversation_on_one_server_and_moves_only_a_dead_servers_conversations() -> None:
    urls = ["http://r1:5005", "http://r2:5005", "http://r3:5005"]
    pool = RasaPool(urls, clock=lambda: 0.0)
    before = {f"conv-{i}": pool.order(f"conv-{i}") for i in range(600)}
    assert all(pool.order(cid) == order for cid, order in before.items())  # stable
    share = {url: sum(order[0] == url for order in before.values()) for url in urls}
    assert all(150 < n < 250 for n in share.values()), share  # spread over the servers
    assert pool.mark_down("http://r2:5005", "cannot connect") and not pool.mark_down("http://r2:5005", "again")
    after = {cid: pool.order(cid) for cid in before}
    for cid, order in before.items():
        if order[0] != "http://r2:5005":
            assert after[cid][0] == order[0]  # untouched by r2's death
        else:
            assert after[cid][0] == order[1]  # its own next choice
        assert after[cid][-1] == "http://r2:5005"  # still tried, last
    moved = {after[cid][0] for cid, order in before.items() if order[0] == "http://r2:5005"}
    assert moved == {"http://r1:5005", "http://r3:5005"}  # spread, not piled on one
    assert pool.healthy() == ["http://r1:5005", "http://r3:5005"]
    assert pool.mark_up("http://r2:5005") and pool.healthy() == urls


# --- two real Rasa servers ---------------------------------------------------------------------------


@dataclass
class RasaProcess:
    url: str
    spec: ChildSpec
    process: asyncio.subprocess.Process

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def kill(self) -> None:
        """kill -9 the server (its whole process group) and wait until it is gone."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def wait_ready(self, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                assert self.alive, f"{self.spec.name} exited; see {self.spec.log_file}"
                with contextlib.suppress(Exception):
                    if await self.spec.ready():
                        return
                await asyncio.sleep(0.5)


async def start_rasa(name: str, model: Path, actions_port: int, redis_url: str) -> RasaProcess:
    """A `rasa run` exactly as `make run` starts it (same child spec), but nobody restarts it."""
    port = free_port()
    spec = rasa_server_spec(model, port, RASA_TOKEN, actions_port, redis_url, LOG_DIR,
                            RetentionConfig().tracker_expiry_s(), name=name)
    assert spec.log_file is not None
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log_file, "ab") as log:
        process = await asyncio.create_subprocess_exec(
            *spec.argv, cwd=spec.cwd, env={**os.environ, **spec.env}, stdout=log,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
    return RasaProcess(f"http://127.0.0.1:{port}", spec, process)


@dataclass
class Replicas:
    rasas: list[RasaProcess]
    server: ChatServerProcess

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.rasas]

    def by_url(self, url: str) -> RasaProcess:
        return next(r for r in self.rasas if r.url == url)


@pytest.fixture(scope="module")
async def replicas(redis_server: RedisServer) -> AsyncIterator[Replicas]:
    model = await asyncio.to_thread(_model)
    server_port, actions_port = free_port(), free_port()
    actions = Supervisor()
    rasas: list[RasaProcess] = []
    try:
        actions.start(action_server_spec(actions_port, LOG_DIR, f"http://127.0.0.1:{server_port}", RASA_TOKEN))
        for name in ("rasa-replica-1", "rasa-replica-2"):
            rasas.append(await start_rasa(name, model, actions_port, redis_server.url))
        await asyncio.gather(*(r.wait_ready(300) for r in rasas))
        assert await actions.wait_ready("actions", 120), f"action server did not start; see {LOG_DIR}/actions.log"
        stack = RasaStack(rasas[0].url, RASA_TOKEN, f"http://127.0.0.1:{actions_port}", actions)
        async with chat_servers(redis_server, stack) as make:
            # Health checks once a minute: a turn that reaches a dead server before the next check
            # must fail over by itself (connection refused → the next server), not wait for one.
            server = await make(port=server_port, name="chat_server-rasa-replicas",
                                CHAT311_RASA__URLS=f"[{rasas[0].url}, {rasas[1].url}]",
                                CHAT311_RASA__HEALTH_INTERVAL_S="60")
            yield Replicas(rasas, server)
    finally:
        for rasa in rasas:
            await rasa.kill()
        await actions.stop()


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
        return resp.status, await resp.json()


def training_jobs(redis: aioredis.Redis, urls: list[str], model_dir: str) -> TrainingJobs:
    """The service behind the training page's Publish/Rollback, on a key prefix and model directory of its
    own (its pruning never touches the shared bot/models)."""
    config = load_config(environ={"CHAT311_RASA__URLS": f"[{', '.join(urls)}]", "CHAT311_RASA__TOKEN": RASA_TOKEN,
                                  "CHAT311_REDIS__KEY_PREFIX": "'t-replicas:'",
                                  "CHAT311_TRAINING__MODEL_DIR": model_dir})
    return TrainingJobs(redis, config)


@pytest.mark.rasa
async def test_a_turn_that_timed_out_is_not_sent_again_and_the_next_goes_to_the_other_server(
        replicas: Replicas, redis_client: aioredis.Redis, resident: Any) -> None:
    client: ResidentClient = await resident(replicas.server.url)
    session = await client.start_session()
    assert any(r["sender"] == "bot" for r in await client.turn("hello", language="en"))
    conv = await ConversationStore(redis_client, "c311:").current_conversation(session)
    assert conv is not None
    hung = replicas.by_url(RasaPool(replicas.urls).order(conv.id)[0])
    os.killpg(hung.process.pid, signal.SIGSTOP)  # accepts the connection, never answers
    try:
        # The turn reached the hung server and may be applied there later: it is not sent to the other
        # server (that would run it twice); the resident gets the bot-unavailable path after rasa.timeout_s.
        replies = await client.turn("thank you", language="en")
        assert text("bot_unavailable", "en") in [r.get("text") for r in replies], replies
        assert not any(r["sender"] == "bot" for r in replies), replies
        # The timeout marked the hung server down: the next turn goes to the other one at once.
        replies = await client.turn("hello", language="en")
        assert any(r["sender"] == "bot" for r in replies), replies
    finally:
        os.killpg(hung.process.pid, signal.SIGCONT)
    # Back: the health check (here /readyz's) marks it up again.
    async with asyncio.timeout(60):
        while [s["ok"] for s in (await readyz(replicas.server.url))[1]["components"]["rasa"]["servers"]] != [
                True, True]:
            await asyncio.sleep(0.5)


@pytest.mark.rasa
async def test_killed_rasa_server_conversation_continues_on_the_other_and_publish_names_it(
        replicas: Replicas, redis_client: aioredis.Redis, redis_server: RedisServer, resident: Any) -> None:
    status, body = await readyz(replicas.server.url)
    assert status == 200 and [s["ok"] for s in body["components"]["rasa"]["servers"]] == [True, True], body

    client: ResidentClient = await resident(replicas.server.url)
    session = await client.start_session()
    assert any(r["sender"] == "bot" for r in await client.turn("hello", language="en"))
    replies = await client.turn("/report_pothole", language="en")
    assert any("Where is the problem (pothole)" in (r.get("text") or "") for r in replies), replies
    conv = await ConversationStore(redis_client, "c311:").current_conversation(session)
    assert conv is not None and conv.get("active_loop") == "report_form"

    # The server this conversation's turns go to dies mid-form; the chat_server has not noticed yet.
    preferred = RasaPool(replicas.urls).order(conv.id)
    dead, live = replicas.by_url(preferred[0]), replicas.by_url(preferred[1])
    await dead.kill()

    # The next turn is refused by the dead server and taken by the other, which continues the same form
    # from the Redis tracker: the location is accepted and the next question comes.
    replies = await client.turn("1234 Sharon Amity Rd", language="en")
    assert not any(r.get("text") == text("bot_unavailable", "en") for r in replies), replies
    buttons = [q["title"] for r in replies for q in (r.get("quick_replies") or [])]
    assert "Bike lane" in buttons, replies
    bike_lane = next(q["payload"] for r in replies for q in (r.get("quick_replies") or []) if q["title"] == "Bike lane")
    replies = await client.turn(bike_lane, language="en")
    assert any(r["sender"] == "bot" for r in replies) and any(
        q["title"] == "Skip" for r in replies for q in (r.get("quick_replies") or [])), replies
    conv = await ConversationStore(redis_client, "c311:").get(conv.id)
    assert conv is not None and conv.get("active_loop") == "report_form"
    assert '"location": "1234 Sharon Amity Rd"' in conv.get("slots"), conv.get("slots")

    # Nothing lost: every message the resident sent and every reply the client saw is stored, in order.
    stored = await ConversationStore(redis_client, "c311:").messages(conv.id)
    assert [m.text for m in stored if m.sender == "resident"] == [
        "hello", "/report_pothole", "1234 Sharon Amity Rd", bike_lane]
    seen = [m.get("text") or "" for m in client.messages() if m.get("sender") == "bot"]
    assert seen and seen == [m.text for m in stored if m.sender == "bot"]

    # Still ready (one server answers); the dead one is named as down.
    status, body = await readyz(replicas.server.url)
    servers = {s["url"]: s for s in body["components"]["rasa"]["servers"]}
    assert status == 200 and servers[live.url]["ok"] and not servers[dead.url]["ok"], body
    assert "cannot connect" in servers[dead.url]["error"]

    # Publish and rollback reach the live server and name the dead one as failed.
    with tempfile.TemporaryDirectory() as model_dir:
        jobs = training_jobs(redis_client, replicas.urls, model_dir)
        try:
            model = str(_model())
            for entry in (await jobs.publish("test", model), await jobs.rollback("test")):
                results = {s["url"]: s for s in entry["servers"]}
                assert results[live.url] == {"url": live.url, "ok": True, "error": None}, entry
                assert not results[dead.url]["ok"] and "cannot connect" in results[dead.url]["error"], entry
                assert entry["model_file"] and "previous" in entry  # the old fields stay
            assert {s["url"]: s["ok"] for s in await jobs.servers_status()} == {live.url: True, dead.url: False}
            # The CLI twin names the dead server and exits 1.
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "chat_server.cli", "training", "publish", model, cwd=ROOT,
                env={**os.environ, "REDIS_URL": redis_server.url, "CHAT311_RASA__URLS": f"[{', '.join(replicas.urls)}]",
                     "CHAT311_RASA__TOKEN": RASA_TOKEN, "CHAT311_REDIS__KEY_PREFIX": "'t-replicas:'",
                     "CHAT311_TRAINING__MODEL_DIR": model_dir},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(cli.communicate(), 300)
            assert cli.returncode == 1 and b"chat311: serving" in out, (out, err)
            assert f"{dead.url} did not load it: cannot connect".encode() in err and live.url.encode() not in err, err
        finally:
            await redis_client.delete("t-replicas:training:published")
    # The published model took over on the live server and the conversation still carries on.
    replies = await client.turn("it's pretty big, bigger than a tire", language="en")
    assert any(r["sender"] == "bot" for r in replies) and not any(
        r.get("text") == text("bot_unavailable", "en") for r in replies), replies


@pytest.mark.rasa
async def test_all_rasa_servers_down_readyz_names_them_and_residents_get_the_bot_unavailable_path(
        replicas: Replicas, redis_client: aioredis.Redis, resident: Any) -> None:
    client: ResidentClient = await resident(replicas.server.url)
    session = await client.start_session()
    for rasa in replicas.rasas:
        await rasa.kill()

    status, body = await readyz(replicas.server.url)
    rasa = body["components"]["rasa"]
    assert status == 503 and body["status"] == "not_ready" and not rasa["ok"], body
    assert all(url in rasa["error"] for url in replicas.urls), rasa["error"]
    assert RASA_TOKEN not in str(body)

    replies = await client.turn("how do I pay my water bill", language="en")
    notice = next(r for r in replies if r.get("text") == text("bot_unavailable", "en"))
    assert notice["sender"] == "system"
    assert {"title": text("talk_to_person", "en"), "payload": "/request_human"} in notice["quick_replies"]
    conv = await ConversationStore(redis_client, "c311:").current_conversation(session)
    assert conv is not None
    stored = await ConversationStore(redis_client, "c311:").messages(conv.id)
    assert [m.text for m in stored if m.sender == "resident"] == ["how do I pay my water bill"]
