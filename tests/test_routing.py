"""Routing rules (pure) and the Redis/Lua routing store that applies them atomically."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest

from chat_server.agents.routing import (
    AgentState,
    QueuedConversation,
    anyone_staffed,
    average_handle_s,
    department_for,
    estimate_wait_s,
    pick_agent,
    plan_assignments,
    positions,
)
from chat_server.agents.routing_store import RoutingStore

DEPTS = {"report_pothole": "streets", "faq/utility_bill": "water", "report_*": "field"}


def agent(name: str, load: int = 0, cap: int = 3, langs: tuple[str, ...] = ("en",), depts: tuple[str, ...] = ("*",),
          idle: float = 0.0, status: str = "online", connected: bool = True) -> AgentState:
    return AgentState(name, status, connected, load, cap, list(langs), list(depts), idle)


def test_department_for_label() -> None:
    assert department_for("report_pothole", DEPTS) == "streets"
    assert department_for("report_graffiti", DEPTS) == "field"  # prefix rule
    assert department_for("faq/utility_bill", DEPTS) == "water"
    assert department_for("greet", DEPTS) == "general"
    assert department_for(None, DEPTS) == "general"


def test_pick_most_free_capacity_then_longest_idle() -> None:
    conv = QueuedConversation("c1", "en", "general", 1.0)
    a, b, c = agent("a", load=1), agent("b", load=0, idle=50), agent("c", load=0, idle=10)
    assert pick_agent(conv, [a, b, c]).username == "c"  # b and c equally free; c idle longer
    assert pick_agent(conv, [a]).username == "a"
    assert pick_agent(conv, [agent("full", load=3)]) is None
    assert pick_agent(conv, [agent("away", status="away")]) is None
    assert pick_agent(conv, [agent("gone", connected=False)]) is None
    declined = QueuedConversation("c1", "en", "general", 1.0, frozenset({"c"}))
    assert pick_agent(declined, [b, c]).username == "b"


def test_skills_language_and_department() -> None:
    es = QueuedConversation("c", "es", "general", 1.0)
    assert pick_agent(es, [agent("en_only")]) is None
    assert pick_agent(es, [agent("bilingual", langs=("en", "es"))]).username == "bilingual"
    water = QueuedConversation("w", "en", "water", 1.0)
    assert pick_agent(water, [agent("streets", depts=("streets",))]) is None
    assert pick_agent(water, [agent("water", depts=("water",))]).username == "water"
    assert pick_agent(water, [agent("all", depts=("*",))]).username == "all"
    assert anyone_staffed([agent("busy", load=3)], "en", "water")  # busy still counts as staffed
    assert not anyone_staffed([agent("away", status="away")], "en", "general")


def test_positions_and_estimates() -> None:
    queue = [QueuedConversation("a", "en", "general", 3.0), QueuedConversation("b", "es", "general", 1.0),
             QueuedConversation("c", "en", "general", 2.0), QueuedConversation("d", "en", "water", 0.5)]
    assert positions(queue) == {"d": 1, "b": 1, "c": 1, "a": 2}
    agents = [agent("x", load=3, cap=3), agent("y", load=2, cap=2)]
    assert estimate_wait_s(1, agents, "en", "general", 300) == 300
    assert estimate_wait_s(6, agents, "en", "general", 300) == 600
    assert estimate_wait_s(1, [agent("free", load=0)], "en", "general", 300) == 0
    assert average_handle_s([], 240) == 240
    assert average_handle_s([100, 200, 300, 10_000], 240) == 200  # forgotten chat ignored


def test_plan_longest_waiting_first() -> None:
    queue = [QueuedConversation(f"c{i}", "en", "general", float(i)) for i in range(5)]
    plan = plan_assignments(queue, [agent("a", cap=2), agent("b", cap=1, idle=5)], 100.0)
    assert [cid for cid, _ in plan] == ["c0", "c1", "c2"]
    assert sorted(u for _, u in plan) == ["a", "a", "b"]


# ---------------- Redis + Lua ----------------

@pytest.fixture
async def routing(redis_client):  # type: ignore[no-untyped-def]
    store = RoutingStore(redis_client, f"t{uuid.uuid4().hex[:8]}:")
    yield store
    keys = [k async for k in redis_client.scan_iter(match=f"{store.prefix}*")]
    if keys:
        await redis_client.delete(*keys)


async def _add_agent(store: RoutingStore, a: AgentState, now: float) -> None:
    await store.agent_connected(a.username, a.username.title(), a.capacity, list(a.languages),
                                list(a.departments), f"sid-{a.username}", now)
    await store.redis.hset(f"{store.routing_keys}a:{a.username}", mapping={"idle_since": str(a.idle_since),
                                                                "status": a.status})


async def queued(store: RoutingStore) -> set[str]:
    return {entry.conversation_id for entry in await store.queue()}


async def test_queue_lists_every_entry_oldest_first(routing: RoutingStore) -> None:
    now = time.time()
    assert await routing.queue() == []
    await routing.enqueue("c2", "es", "water", now - 5)
    await routing.enqueue("c1", "en", "general", now - 10)
    await routing.enqueue("c3", "en", "streets", now - 1)
    await _add_agent(routing, agent("ann", cap=1), now)
    assert await routing.dispatch(now, now - 30, now + 30) == [("c1", "ann")]
    assert await routing.decline("c1", "ann", mark_away=False)
    await routing.set_position("c3", 3)
    entries = await routing.queue()
    assert [(e.conversation_id, e.language, e.department, e.declined, e.position) for e in entries] == [
        ("c1", "en", "general", frozenset({"ann"}), 0), ("c2", "es", "water", frozenset(), 0),
        ("c3", "en", "streets", frozenset(), 3)]
    assert [e.since for e in entries] == pytest.approx([now - 10, now - 5, now - 1])


async def test_lua_dispatch_matches_the_python_rules(routing: RoutingStore) -> None:
    rng = random.Random(7)
    now = time.time()
    for round_no in range(25):
        prefix_keys = [k async for k in routing.redis.scan_iter(match=f"{routing.prefix}*")]
        if prefix_keys:
            await routing.redis.delete(*prefix_keys)
        agents = [agent(f"a{round_no}x{i}", cap=rng.randint(0, 3), langs=rng.choice([("en",), ("es",), ("en", "es")]),
                        depts=rng.choice([("*",), ("water",), ("streets", "water")]), idle=float(rng.randint(1, 9)),
                        status=rng.choice(["online", "online", "away"]))
                  for i in range(rng.randint(1, 5))]
        for a in agents:
            await _add_agent(routing, a, now)
        queue = [QueuedConversation(f"q{round_no}x{i}", rng.choice(["en", "es"]),
                                    rng.choice(["general", "water", "streets"]), now - 100 + i)
                 for i in range(rng.randint(0, 10))]
        for q in queue:
            await routing.enqueue(q.conversation_id, q.language, q.department, q.since)
        expected = plan_assignments(queue, agents, now)
        got = await routing.dispatch(now, now - 30, now + 30)
        assert got == expected, (agents, queue)


async def test_offer_accept_expire_decline_release(routing: RoutingStore) -> None:
    now = time.time()
    await _add_agent(routing, agent("ann", cap=1), now)
    await _add_agent(routing, agent("bob", cap=1, idle=now + 1), now)
    await routing.enqueue("c1", "en", "general", now - 10)
    await routing.enqueue("c2", "en", "general", now - 5)
    offers = dict(await routing.dispatch(now, now - 30, now + 1))
    assert offers == {"c1": "ann", "c2": "bob"}
    assert not await routing.accept("c1", "bob")  # not bob's offer
    assert await routing.accept("c1", "ann")
    assert not await routing.accept("c1", "ann")  # only once
    # bob lets c2's offer expire: it goes back to the queue, bob goes away, ann is full.
    assert await routing.expired_offers(now + 2) == ["c2"]
    assert await routing.decline("c2", "bob", mark_away=True)
    assert await routing.status("bob") == "away"
    assert "c2" in await queued(routing)
    assert await routing.dispatch(now + 2, now - 30, now + 30) == []
    # ann's chat closes: she gets c2.
    assert await routing.release("c1", now + 3) == "ann"
    assert await routing.dispatch(now + 3, now - 30, now + 30) == [("c2", "ann")]
    # ann declines: bob (away) can't take it, ann has declined it: nobody.
    assert await routing.decline("c2", "ann", mark_away=False)
    assert await routing.dispatch(now + 4, now - 30, now + 30) == []
    await routing.set_status("bob", "online")
    assert await routing.dispatch(now + 5, now - 30, now + 30) == [("c2", "bob")]


async def test_transfer_and_requeue(routing: RoutingStore) -> None:
    now = time.time()
    await _add_agent(routing, agent("ann", cap=1), now)
    await _add_agent(routing, agent("bob", cap=1), now)
    await routing.enqueue("c1", "en", "general", now - 10)
    [(cid, first)] = await routing.dispatch(now, now - 30, now + 30)
    other = "bob" if first == "ann" else "ann"
    assert await routing.accept(cid, first)
    assert await routing.transfer(cid, other, first, now - 30) == 0  # not other's chat
    assert await routing.transfer(cid, first, other, now - 30) == 1
    assert await routing.owner(cid) == other
    assert await routing.chats_of(first) == [] and await routing.chats_of(other) == [cid]
    assert await routing.requeue(cid, other, True, now + 1)
    [entry] = await routing.queue()
    # It keeps its place in line, but its wait restarts: the time with an agent was not waiting.
    assert entry.conversation_id == cid
    assert (entry.since, entry.waiting_since) == (pytest.approx(now - 10), pytest.approx(now + 1))
    # other declined by transferring to the queue: back to `first`.
    assert await routing.dispatch(now, now - 30, now + 30) == [(cid, first)]


async def test_reap_after_grace(routing: RoutingStore) -> None:
    now = time.time()
    await _add_agent(routing, agent("ann", cap=2), now)
    await routing.enqueue("c1", "en", "general", now - 10)
    await routing.enqueue("c2", "en", "general", now - 5)
    assert len(await routing.dispatch(now, now - 30, now + 30)) == 2
    assert await routing.accept("c1", "ann")
    assert await routing.reap("ann", now, now - 30, 5) is None  # connected
    assert await routing.socket_gone("ann", "sid-ann", now) == 0
    assert await routing.reap("ann", now + 1, now - 30, 5) is None  # within grace
    reaped = await routing.reap("ann", now + 6, now - 30, 5)
    assert sorted(reaped or []) == [("c1", "assigned"), ("c2", "offered")]
    waits = {e.conversation_id: e.waiting_since for e in await routing.queue()}
    # c1 had an agent until now: it waits from now; c2 was only offered: still waiting since it queued.
    assert waits == {"c1": pytest.approx(now + 6), "c2": pytest.approx(now - 5)}
    assert await routing.status("ann") == "offline"
    assert await routing.reap("ann", now + 7, now - 30, 5) is None  # once only
    # Reconnecting brings her back online.
    await routing.agent_connected("ann", "Ann", 2, ["en"], ["*"], "sid2", now + 8)
    assert await routing.status("ann") == "online"


async def test_stale_socket_of_a_killed_process_is_reaped(routing: RoutingStore) -> None:
    now = time.time()
    await _add_agent(routing, agent("ann"), now - 100)  # socket last seen 100 s ago
    assert await routing.reap("ann", now, now - 30, 2) is None  # marks gone
    assert await routing.reap("ann", now + 3, now - 30, 2) == []


async def test_concurrent_dispatchers_never_double_assign(routing: RoutingStore) -> None:
    now = time.time()
    for i in range(5):
        await _add_agent(routing, agent(f"agent{i}", cap=3), now)
    for i in range(50):
        await routing.enqueue(f"c{i}", "en", "general", now - 100 + i)
    results = await asyncio.gather(*(routing.dispatch(now, now - 30, now + 30) for _ in range(10)))
    pairs = [p for r in results for p in r]
    assert len(pairs) == 15
    assert len({cid for cid, _ in pairs}) == 15
    assert sorted(cid for cid, _ in pairs) == sorted(f"c{i}" for i in range(15))
    for i in range(5):
        assert len(await routing.chats_of(f"agent{i}")) == 3


async def test_hours_override_roundtrip(routing: RoutingStore) -> None:
    now = time.time()
    assert await routing.hours_override() is None
    await routing.set_hours_override("closed", now + 600, "storm", "sup", now)
    override = await routing.hours_override()
    assert override is not None and override.mode == "closed" and override.reason == "storm"
    await routing.set_hours_override(None)
    assert await routing.hours_override() is None
