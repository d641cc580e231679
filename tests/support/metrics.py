"""A scripted day of chat events with known figures, and a way to put events on the event stream.

`scripted_day` is the fixture the metrics maths, the supervisor API and the reports are checked
against (its docstring lists the figures it must give).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from chat_server.metrics.compute import LogEvent

TZ = ZoneInfo("America/New_York")


def at(day: date, hour: int, minute: int = 0, second: float = 0) -> float:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).timestamp() + second


def scripted_day(day: date) -> list[LogEvent]:
    """20 chats; 11 ask for a person, 10 get queued: 7 answered ≤30 s, 2 later, 1 abandons.

    Known answers: containment 10/20, escalation 11/20, service level 7/10, ASA 252/9 = 28 s,
    abandonment 1/10, AHT 3240/9 = 360 s, CSAT avg 3.8 and 3/5 satisfied, 4 tickets.
    """
    ev: list[LogEvent] = []

    def add(kind: str, conv: str, ts: float, **data: Any) -> None:
        ev.append(LogEvent(kind, conv, ts, data))

    channels = ["web"] * 14 + ["sms"] * 4 + ["api"] * 2
    languages = ["en"] * 15 + ["es"] * 5
    convs = [f"c{i:02d}" for i in range(20)]
    for i, cid in enumerate(convs):
        start = at(day, 9 + i % 8, 5)  # hours 9..16
        add("conversation_created", cid, start, channel=channels[i], language=languages[i])
        add("resident_message", cid, start + 1, message_id="1-0", state="bot", language=languages[i])
    labels = ["faq/trash_schedule"] * 6 + ["faq/utility_bill"] * 4 + ["greet"] * 5 + ["report_pothole"] * 3
    for i, label in enumerate(labels):
        add("bot_answered", convs[i], at(day, 9 + i % 8, 6), label=label, confidence=0.9, language="en")
    add("fallback", "c18", at(day, 10, 7), text="can I rent a goat", confidence=0.2)
    add("fallback", "c19", at(day, 11, 7), text="can i rent a goat", confidence=0.3)
    add("fallback", "c17", at(day, 12, 7), text="call me at 704-555-1234", confidence=0.1)

    # Escalations: c00..c10 ask for a person; c10 is out of hours and gets a ticket instead.
    waits = [5, 10, 15, 20, 25, 30, 12, 45, 90]
    handles = [120, 180, 240, 300, 360, 420, 480, 540, 600]
    for i in range(11):
        cid = convs[i]
        t0 = at(day, 9 + i % 8, 10)
        add("escalation_requested", cid, t0, reason="request_human", label="request_human", language="en")
        if i == 10:
            add("ticketed", cid, t0 + 5, ticket_id="311-1000010", service_code="general", source="bot")
            add("ticket_created", cid, t0 + 5, ticket_id="311-1000010", service_code="general")
            continue
        add("queued", cid, t0 + 1, department="general", language="en")
        if i == 9:
            add("abandoned", cid, t0 + 61, wait_s=60)
            add("conversation_closed", cid, t0 + 62, reason="resident_left")
            continue
        agent = "alice" if i < 5 else "bob"
        add("assigned", cid, t0 + 1 + waits[i], agent=agent)
        add("first_agent_response", cid, t0 + 3 + waits[i], agent=agent)
        if i == 2:
            add("transferred", cid, t0 + 60, from_agent="alice", to_agent="bob")
        add("conversation_closed", cid, t0 + 1 + waits[i] + handles[i], reason="agent", disposition="resolved")
    for cid, rating in (("c00", 5), ("c01", 4), ("c02", 3), ("c05", 5), ("c06", 2)):
        add("csat", cid, at(day, 17, 0), rating=rating, comment="")
    # Two bot forms filed tickets, and one API ticket without a conversation.
    add("ticketed", "c15", at(day, 14, 20), ticket_id="311-1000011", service_code="pothole", source="bot")
    add("ticket_created", "c15", at(day, 14, 20), ticket_id="311-1000011", service_code="pothole")
    add("ticketed", "c16", at(day, 15, 20), ticket_id="311-1000012", service_code="streetlight", source="bot")
    add("ticket_created", "", at(day, 15, 30), ticket_id="311-1000013", service_code="graffiti", source="api")
    return ev


async def xadd_all(redis: Any, stream: str, events: list[LogEvent], at_event_time: bool = False) -> None:
    """Append events; `at_event_time` gives each the stream id of its own ts (as if logged back then)."""
    for i, e in enumerate(sorted(events, key=lambda e: e.ts) if at_event_time else events):
        await redis.xadd(stream, {"kind": e.kind, "conv": e.conv, "ts": f"{e.ts:.3f}", "data": json.dumps(e.data)},
                         id=f"{int(e.ts * 1000)}-{i}" if at_event_time else "*")
