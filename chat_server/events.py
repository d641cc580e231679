"""The internal event interface between the conversation core and feature modules.

The conversation core publishes facts ("escalation requested", "form completed", "resident
message while queued", ...); routing, tickets, metrics and channels subscribe. Every event
is also appended to one Redis Stream (`<prefix>events`) so metrics can be recomputed from
history and other processes can follow along; that copy has contact fields masked and free text
redacted (chat_server/redaction.py), and `chat311 purge` trims it to `retention.events_days`.
Handlers run in the publishing process; a failing handler is logged and never breaks the
resident's turn.

Event kinds (data keys in brackets):
- conversation_created [channel, language]
- resident_message [message_id, text, state, language]
- bot_answered [label, confidence, language]
- fallback [text (redacted), confidence]
- escalation_requested [reason, label, language]
- form_completed [label, language, data]
- status_lookup [ticket_id, language]
- emergency [language, source: bot|guard|meaning|unreachable (an SMS number that opted out: no reply can be sent)]
- bot_unavailable [error]
- conversation_closed [reason, disposition?]
- csat [rating, comment]
- kb_feedback [article_id, helpful (bool), question (redacted), language] — "Was this helpful?"
- kb_menu_rejected [question (redacted), language] — "None of these" on a menu of articles
Feature modules add their own kinds (queued, assigned, ticketed, ...) and document them.
Metrics (docs/supervision.md) count these kinds and the agents/tickets kinds queued, requeued,
assigned [agent], transferred [from, to], abandoned, ticketed, ticket_created; the training inbox
reads fallback and bot_answered (confidence; optional text, redacted).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from chat_server import redis_values as rv
from chat_server.redaction import redact_data
from chat_server.redis_batch import PipelineBatcher

log = logging.getLogger("chat311.events")


@dataclass
class Event:
    kind: str
    conversation_id: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


Handler = Callable[[Event], Awaitable[None]]


class EventBus:
    STREAM_MAXLEN = 2_000_000

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.stream = f"{prefix}events"
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._writes = PipelineBatcher.shared(redis)  # every resident message publishes: share round trips

    def subscribe(self, kind: str, handler: Handler) -> None:
        self._handlers[kind].append(handler)

    def has_subscribers(self, kind: str) -> bool:
        return bool(self._handlers.get(kind))

    async def publish(self, kind: str, conversation_id: str, **data: Any) -> Event:
        event = Event(kind, conversation_id, data)
        # Handlers get the data as published; the stream (kept for months) only a redacted copy.
        fields = {"kind": kind, "conv": conversation_id, "ts": f"{event.ts:.3f}",
                  "data": json.dumps(redact_data(data), default=str)}
        await self._writes.execute(
            lambda pipe: pipe.xadd(self.stream, rv.fields(fields), maxlen=self.STREAM_MAXLEN, approximate=True))
        for handler in list(self._handlers.get(kind, ())):
            try:
                await handler(event)
            except Exception:
                log.exception("event handler failed", extra={"kind": kind, "conv": conversation_id})
        return event
