"""Wires escalation into the app: hours, accounts, routing service, `/agents` namespace, console pages."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from chat_server.agents import console
from chat_server.agents.accounts import AccountStore
from chat_server.agents.agents_ns import AgentsNamespace
from chat_server.agents.auth import AuditLog, LoginThrottle, SessionStore
from chat_server.agents.callback import CallbackFlow
from chat_server.agents.hours import Schedule
from chat_server.agents.knowledge import KnowledgeBase
from chat_server.agents.queue import RoutingStore
from chat_server.agents.search import ConversationSearch
from chat_server.agents.service import NS, EscalationService
from chat_server.context import AppContext


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config
    prefix = config.redis.key_prefix
    accounts = AccountStore(ctx.redis, prefix)
    sessions = SessionStore(ctx.redis, prefix, config.routing.session_ttl_s)
    audit = AuditLog(ctx.redis, prefix)
    tickets = ctx.services.get("tickets")
    search = ConversationSearch(ctx.redis, prefix, ctx.store, tickets.store if tickets is not None else None,
                                ZoneInfo(config.hours.timezone))
    service = EscalationService(ctx, Schedule(config.hours), RoutingStore(ctx.redis, prefix), accounts, audit,
                                CallbackFlow(ctx), search)
    service.install()
    knowledge = KnowledgeBase(ctx.services.get("knowledge"))
    ctx.sio.register_namespace(AgentsNamespace(service, sessions, accounts, knowledge,
                                               config.limits.max_message_chars))
    manager = ctx.services.get("delivery", {}).get("manager")
    if manager is not None:  # a console that missed messages in a pub/sub gap reconnects and re-fetches
        manager.refetch_namespaces.add(NS)
    ctx.services["routing"] = service
    app[console.SESSIONS] = sessions
    app[console.ACCOUNTS] = accounts
    app[console.AUDIT] = audit
    app[console.SEARCH] = search
    app[console.THROTTLE] = LoginThrottle(ctx.redis, prefix, config.routing.login_max_failures,
                                          config.routing.login_window_s, config.routing.login_max_failures_per_ip)
    console.setup_routes(app)

    async def start(app: web.Application) -> None:
        await service.start()

    async def stop(app: web.Application) -> None:
        await service.stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)
