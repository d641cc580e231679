"""Wires incident mode into the app: service, poll loop, resident hooks and staff routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from aiohttp import web

from chat_server.agents.auth import AuditLog
from chat_server.agents.routing_store import RoutingStore
from chat_server.context import AppContext
from chat_server.incidents import http
from chat_server.incidents.notices import IncidentNotices
from chat_server.incidents.service import IncidentService
from chat_server.incidents.store import IncidentStore


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config
    prefix = config.redis.key_prefix
    store = IncidentStore(ctx.redis, prefix, config.incidents.stats_days * 86400)
    routing = RoutingStore(ctx.redis, prefix)
    service = IncidentService(store, ctx.sio, routing, AuditLog(ctx.redis, prefix), config.incidents.poll_s,
                              tz=ZoneInfo(config.hours.timezone))
    notices = IncidentNotices(service, ctx.conversations, ctx.sio, routing)
    service.went_live.append(notices.on_live)
    ctx.conversations.before_bot_turn.append(notices.before_bot_turn)
    ctx.residents.session_listeners.append(notices.on_session)
    ctx.bus.subscribe("escalation_requested", notices.on_escalation)
    ctx.bus.subscribe("queued", notices.on_queued)
    app[http.SERVICE] = service
    http.add_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await service.refresh(force=True)
        service.start()
        yield
        await service.stop()

    app.cleanup_ctx.append(lifecycle)
