"""Routing decisions: pure functions, no I/O.

The same rules run in two places: here (Python, for "is anybody able to take this?" checks,
queue positions and wait estimates) and inside the Lua assignment script in `routing_store.py` (atomic
across processes). Keep the two in step; tests exercise both.

Rules:
- A conversation needs an agent with its language skill, and its department (derived from the
  bot's label) unless the agent takes every department ("*") or the conversation has none.
- Eligible = online (not away), connected, skills match, below capacity, has not declined it.
- Longest-waiting conversation first; it goes to the eligible agent with the most free capacity,
  ties broken by who has been idle longest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ANY_DEPARTMENT = "*"
GENERAL = "general"


@dataclass
class AgentState:
    username: str
    status: str  # online | away | offline
    connected: bool
    load: int
    capacity: int
    languages: Sequence[str]
    departments: Sequence[str]
    idle_since: float = 0.0

    @property
    def free(self) -> int:
        return self.capacity - self.load


@dataclass
class QueuedConversation:
    conversation_id: str
    language: str
    department: str
    since: float
    declined: frozenset[str] = field(default_factory=frozenset)
    urgent: bool = False  # an emergency was reported: ahead of every chat that is not urgent


def department_for(label: str | None, mapping: Mapping[str, str]) -> str:
    """Department for a bot label: exact key, then the longest matching `prefix*` key, else general."""
    if not label:
        return GENERAL
    if label in mapping:
        return mapping[label]
    best = ""
    for key in mapping:
        if key.endswith("*") and label.startswith(key[:-1]) and len(key) > len(best):
            best = key
    return mapping[best] if best else GENERAL


def skills_match(agent: AgentState, language: str, department: str) -> bool:
    if language not in agent.languages:
        return False
    if department in ("", GENERAL) or ANY_DEPARTMENT in agent.departments:
        return True
    return department in agent.departments


def available(agent: AgentState) -> bool:
    """Can take a new chat right now (not counting skills)."""
    return agent.status == "online" and agent.connected and agent.load < agent.capacity


def anyone_staffed(agents: Iterable[AgentState], language: str, department: str) -> bool:
    """Is at least one online agent able to serve this conversation (even if busy right now)?"""
    return any(a.status == "online" and a.connected and skills_match(a, language, department) for a in agents)


def pick_agent(conv: QueuedConversation, agents: Iterable[AgentState]) -> AgentState | None:
    """The eligible agent with the most free capacity; ties: longest idle (smallest idle_since)."""
    best: AgentState | None = None
    for agent in agents:
        if not available(agent) or agent.username in conv.declined:
            continue
        if not skills_match(agent, conv.language, conv.department):
            continue
        # Most free capacity, then longest idle, then username (so every process decides alike).
        if best is None or (-agent.free, agent.idle_since, agent.username) < (-best.free, best.idle_since,
                                                                              best.username):
            best = agent
    return best


def plan_assignments(queue: Sequence[QueuedConversation], agents: Sequence[AgentState],
                     now: float) -> list[tuple[str, str]]:
    """Every assignment one dispatch round makes, longest-waiting first (reference for the Lua script).

    An offer resets the agent's idle clock to `now`, so chats spread across equally free agents.
    """
    pool = [AgentState(a.username, a.status, a.connected, a.load, a.capacity, a.languages, a.departments,
                       a.idle_since) for a in agents]
    out = []
    for conv in sorted(queue, key=lambda c: (not c.urgent, c.since)):
        agent = pick_agent(conv, pool)
        if agent is not None:
            agent.load += 1
            agent.idle_since = now
            out.append((conv.conversation_id, agent.username))
    return out


def positions(queue: Sequence[QueuedConversation]) -> dict[str, int]:
    """1-based place in line among conversations waiting for the same skills (language + department)."""
    counts: dict[tuple[str, str], int] = {}
    out = {}
    for conv in sorted(queue, key=lambda c: (not c.urgent, c.since)):
        key = (conv.language, conv.department)
        counts[key] = counts.get(key, 0) + 1
        out[conv.conversation_id] = counts[key]
    return out


def estimate_wait_s(position: int, agents: Iterable[AgentState], language: str, department: str,
                    avg_handle_s: float, declined: Iterable[str] = ()) -> int:
    """People ahead ÷ seats that can serve them × average handle time, rounded up to 10 s.

    A free seat right now means position 1 waits ~0 s; otherwise each "round" of seats frees up
    about once per average handle time. Agents who declined this conversation are no seat for it
    (counting them told a resident "less than a minute" for minutes on end).
    """
    skip = set(declined)
    staffed = [a for a in agents if a.status == "online" and a.connected and a.username not in skip
               and skills_match(a, language, department)]
    seats = sum(max(a.capacity, 0) for a in staffed)
    free = sum(max(a.free, 0) for a in staffed)
    if position <= free:
        return 0
    if seats <= 0:
        return int(math.ceil(position * avg_handle_s / 10.0) * 10)
    rounds = math.ceil((position - free) / seats)
    return int(math.ceil(rounds * avg_handle_s / 10.0) * 10)


def told_minutes(wait_s: int) -> int:
    """The wait in the unit the resident reads it: 0 = "less than a minute", else whole minutes. A new
    queue_update goes out when this (or the position) changes, not for every 10 s of estimate."""
    return 0 if wait_s < 60 else round(wait_s / 60)


def average_handle_s(recent: Sequence[float], default: float) -> float:
    """Mean of recent handle times, ignoring outliers beyond 4x the median (a forgotten open chat)."""
    values = sorted(v for v in recent if v > 0)
    if not values:
        return default
    median = values[len(values) // 2]
    kept = [v for v in values if v <= 4 * median] or values
    return sum(kept) / len(kept)
