"""The services one chat_server process holds, handed to every feature module's `setup()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    # Feature modules publish their service objects here (e.g. "tickets", "routing").
    services: dict[str, Any] = field(default_factory=dict)


CTX: web.AppKey[AppContext] = web.AppKey("chat311_ctx", AppContext)
