"""The services one chat_server process holds, handed to every feature module's `setup()`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio
from aiohttp import web
from redis.asyncio import Redis

from chat_server.config import Config
from chat_server.conversations.bot_client import BotClient
from chat_server.conversations.emergency_first import EmergencyFirst
from chat_server.conversations.limits import RateLimiter
from chat_server.conversations.resident_ns import ResidentNamespace
from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ConversationStore
from chat_server.events import EventBus

if TYPE_CHECKING:
    from chat_server.channels.channel_base import ChannelBase
    from chat_server.knowledge.live import LiveKnowledge
    from chat_server.tickets.service import TicketService

# An informational /readyz component: it is listed with `"required": false` and never makes the process unready.
ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class AppContext:
    config: Config
    redis: Redis
    sio: socketio.AsyncServer
    bus: EventBus
    store: ConversationStore
    bot: BotClient
    limiter: RateLimiter
    conversations: ConversationService
    # "Check for an emergency, then reject": every channel refuses a resident's message through it.
    emergency_first: EmergencyFirst
    residents: ResidentNamespace
    # What a feature offers the others, set by its setup() (FEATURES in app.py runs them in order);
    # None or empty when that feature is not installed.
    knowledge: LiveKnowledge | None = None
    tickets: TicketService | None = None
    # sms, api, email: status notices go out through them
    channels: dict[str, ChannelBase] = field(default_factory=dict)
    readiness_details: dict[str, ReadinessCheck] = field(default_factory=dict)


CTX: web.AppKey[AppContext] = web.AppKey("chat311_ctx", AppContext)
