"""The dashboard's live lists: who is signed in (status, chats, time in status) and who is waiting.

Read straight from the agents module's routing state (the queue, presence, each agent's chats)
and the conversation store, so the lists are as fresh as the routing itself, in every process.

Routing keeps no "status changed at" time, so this module remembers when it first saw each
agent in their current state (one Redis hash, `<prefix>metrics:agent_since`): time in status is
measured from that moment. It is exact to one dashboard poll while a dashboard is open; for an
agent whose state changed while nobody watched, it starts at the next look.

Supervisors see topics in words (label_names.yml for intents, the department otherwise) and never
the residents' words or contact details: the lists carry no chat text.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from chat_server import redis_values as rv
from chat_server.conversations.store import ConversationStore
from chat_server.training.label_names import load_label_names, readable

# A conversation's label when the resident asked for a person: says nothing about the topic.
NO_TOPIC = ("", "request_human", "nlu_fallback")


@dataclass
class LiveChat:
    """One chat an agent has (offered or assigned)."""

    conversation_id: str
    state: str  # queued (offered) | assigned
    language: str
    topic: str
    for_s: float  # since assigned (or since queued while offered)
    urgent: bool = False  # the resident reported an emergency (told to call 911)


@dataclass
class LiveAgent:
    username: str
    name: str
    status: str  # online | away | offline (not connected counts as offline)
    busy: bool
    capacity: int
    in_status_s: float
    chats: list[LiveChat] = field(default_factory=list)


@dataclass
class WaitingChat:
    conversation_id: str
    wait_s: float
    language: str
    topic: str
    position: int
    urgent: bool = False  # the resident reported an emergency: first in line, listed first
    offered_to: str = ""  # the agent name an offer of it waits on (still waiting: not in the queue meanwhile)
    resident_away: bool = False  # every tab of the resident's is closed: they may not be there (as the console says)


def topic_words(label: str, department: str, names: dict[str, str]) -> str:
    """What the chat is about, in words: the intent's readable name, a KB topic, else the department."""
    if label.startswith("faq/"):
        return "Question: " + label[4:].replace("_", " ")
    if label not in NO_TOPIC:
        return readable(label, names)
    if department and department != "general":
        return "Department: " + department.replace("_", " ")
    return "General (asked for a person)"


def agent_state_key(status: str, connected: bool) -> str:
    return status if connected and status != "offline" else "offline"


class LiveLists:
    """Builds the two lists; one instance per process, shared by every dashboard request."""

    def __init__(self, redis: Redis, prefix: str, conversations: ConversationStore, routing: Any,
                 heartbeat_s: float) -> None:
        self.redis = redis
        self.conversations = conversations
        self.heartbeat_s = heartbeat_s
        self.routing = routing
        self.names = load_label_names()
        self.since_key = f"{prefix}metrics:agent_since"

    def _topic(self, fields: dict[str, str]) -> str:
        label = fields.get("form_label") or fields.get("label") or ""
        return topic_words(label, fields.get("department", ""), self.names)

    async def _in_status(self, states: dict[str, str], now: float) -> dict[str, float]:
        """Seconds each agent has been in its current state (remembered in Redis, see the docstring)."""
        raw = await self.redis.hgetall(self.since_key)
        seen = rv.text_map(raw)
        out: dict[str, float] = {}
        changed: dict[str, str] = {}
        for username, state in states.items():
            prev_state, _, since = seen.get(username, "").partition("|")
            if prev_state == state and since:
                out[username] = max(0.0, now - float(since))
            else:
                changed[username] = f"{state}|{now:.3f}"
                out[username] = 0.0
        if changed:
            await self.redis.hset(self.since_key, mapping=rv.fields(changed))
        return out

    async def agents(self, now: float) -> list[LiveAgent]:
        routing_agents = await self.routing.agents(now - 3 * self.heartbeat_s)
        states = {a.username: agent_state_key(a.status, a.connected) for a in routing_agents}
        in_status = await self._in_status(states, now)
        out = []
        for a in routing_agents:
            chats = []
            for cid in await self.routing.chats_of(a.username):
                conv = await self.conversations.get(cid)
                if conv is None:
                    continue
                start = float(conv.get("assigned_at") or conv.get("queued_at") or conv.created_at)
                chats.append(LiveChat(cid, conv.state, conv.language, self._topic(conv.fields),
                                      round(max(0.0, now - start), 1), bool(conv.get("urgent_at"))))
            out.append(LiveAgent(a.username, await self.routing.agent_name(a.username), states[a.username],
                                 a.load > 0, a.capacity, round(in_status[a.username], 1), chats))
        order = {"online": 0, "away": 1, "offline": 2}
        out.sort(key=lambda x: (order.get(x.status, 3), x.name.lower()))
        return out

    async def waiting(self, now: float) -> list[WaitingChat]:
        out = []
        for entry in await self.routing.waiting():
            conv = await self.conversations.get(entry.conversation_id)
            fields = conv.fields if conv is not None else {}
            offered_to = await self.routing.agent_name(entry.offered_to) if entry.offered_to else ""
            out.append(WaitingChat(entry.conversation_id, round(max(0.0, now - entry.waiting_since), 1), entry.language,
                                   self._topic({"department": entry.department, **fields}), entry.position,
                                   entry.urgent, offered_to, bool(fields.get("resident_gone_at"))))
        out.sort(key=lambda w: (not w.urgent, -w.wait_s))
        return out

    async def snapshot(self, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        return {"agents": [asdict(a) for a in await self.agents(now)],
                "waiting": [asdict(w) for w in await self.waiting(now)]}
