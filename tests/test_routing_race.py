"""Three chat_server processes on one Redis, 50 residents racing for 5 agents of capacity 3.

Agents (spread over the processes) accept every offer, greet, and close after a short random
time. Checked: nobody ever exceeds capacity (observed by agents and sampled in Redis), no
conversation is assigned twice, every resident is served and closed.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from chat_server.agents.routing_store import RoutingStore
from tests.support.agents import AgentClient, agent_client, escalation_env, fresh_prefix, make_agent

pytestmark = pytest.mark.rasa

AGENTS, CAPACITY, RESIDENTS = 5, 3, 50


class RacingAgent:
    def __init__(self, client: AgentClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.active: set[str] = set()
        self.max_active = 0
        self.accepted: list[str] = []
        self.errors: list[Any] = []
        self.tasks: set[asyncio.Task[None]] = set()
        client.on_offer = self.on_offer  # type: ignore[attr-defined]

    async def on_offer(self, offer: dict[str, Any]) -> None:
        task = asyncio.create_task(self.serve(offer["conversation_id"]))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def serve(self, cid: str) -> None:
        await asyncio.sleep(self.rng.uniform(0, 0.2))
        ack = await self.client.call("accept", {"conversation_id": cid})
        if not ack["ok"]:
            self.errors.append(ack)
            return
        self.accepted.append(cid)
        self.active.add(cid)
        self.max_active = max(self.max_active, len(self.active))
        await self.client.call("send", {"conversation_id": cid, "text": f"Hello from {self.client.username}"})
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        ack = await self.client.call("close", {"conversation_id": cid, "disposition": "resolved"})
        if not ack["ok"]:
            self.errors.append(ack)
        self.active.discard(cid)


async def test_fifty_conversations_five_agents_three_processes(server_factory, redis_server, resident,
                                                               redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = fresh_prefix()
    env = escalation_env(prefix, CHAT311_ROUTING__ACCEPT_TIMEOUT_S="20", CHAT311_ROUTING__MAX_QUEUE_WAIT_S="600")
    servers = [await server_factory(**env) for _ in range(3)]
    rng = random.Random(42)
    racers = []
    for i in range(AGENTS):
        await make_agent(redis_server.url, prefix, f"agent{i}", max_chats=CAPACITY)
        racers.append(RacingAgent(await agent_client(servers[i % 3].url, f"agent{i}"), rng))

    routing = RoutingStore(redis_client, prefix)
    overload: list[tuple[str, int]] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            for i in range(AGENTS):
                load = len(await routing.chats_of(f"agent{i}"))
                if load > CAPACITY:
                    overload.append((f"agent{i}", load))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    residents = []
    for i in range(RESIDENTS):
        client = await resident(servers[i % 3].url)
        await client.start_session()
        residents.append(client)

    async def ask(client: Any) -> None:
        ack = await client.say("/request_human")
        assert ack["ok"], ack

    started = time.monotonic()
    await asyncio.gather(*(ask(c) for c in residents))
    try:
        await asyncio.gather(*(c.wait_for("conversation_closed", timeout=180) for c in residents))
    finally:
        stop.set()
        await sampler
        for racer in racers:
            await racer.client.close()
    elapsed = time.monotonic() - started

    accepted = [cid for r in racers for cid in r.accepted]
    assert len(accepted) == RESIDENTS, f"served {len(accepted)} of {RESIDENTS}"
    assert len(set(accepted)) == RESIDENTS, "a conversation was assigned twice"
    assert all(r.max_active <= CAPACITY for r in racers), [r.max_active for r in racers]
    assert not overload, overload
    assert not [e for r in racers for e in r.errors], [e for r in racers for e in r.errors]
    for client in residents:
        joined = client.of("agent_joined")
        assert len(joined) == 1, joined
        assert client.of("queue_update"), "resident never told their place in line"
        kinds = [name for name, _ in client.events]
        # ... before an agent joined (the widget would show the place in line under "an agent joined")
        assert kinds.index("queue_update") < kinds.index("agent_joined"), kinds
        agent_msgs = [m for m in client.of("bot_uttered") if m.get("sender") == "agent"]
        assert len(agent_msgs) == 1 and agent_msgs[0]["text"] == f"Hello from {joined[0]['name'].lower()}"
    # Work was spread over all agents.
    assert all(r.accepted for r in racers), [len(r.accepted) for r in racers]
    print(f"50 conversations served in {elapsed:.1f}s")
