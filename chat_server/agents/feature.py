"""Wires escalation into the app: hours, accounts, routing service, `/agents` namespace, console pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from chat_server.agents import console
from chat_server.agents.accounts import AccountStore
from chat_server.agents.agents_ns import AgentsNamespace
from chat_server.agents.auth import AuditLog, LoginThrottle, SessionStore
from chat_server.agents.callback import CallbackFlow
from chat_server.agents.hours import Schedule
from chat_server.agents.knowledge import KnowledgeBase
from chat_server.agents.routing_store import RoutingStore
from chat_server.agents.search import ConversationSearch
from chat_server.agents.service import NS, EscalationService
from chat_server.context import AppContext
from chat_server.conversations.delivery import ReliableRedisManager
from chat_server.stopping import cancel_and_wait

REINDEX: web.AppKey[asyncio.Task[Any]] = web.AppKey("search_reindex", asyncio.Task)
ESCALATION: web.AppKey[EscalationService] = web.AppKey("escalation", EscalationService)


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config
    prefix = config.redis.key_prefix
    accounts = AccountStore(ctx.redis, prefix)
    sessions = SessionStore(ctx.redis, prefix, config.console.session_ttl_s)
    audit = AuditLog(ctx.redis, prefix)
    tickets = ctx.tickets
    search = ConversationSearch(ctx.redis, prefix, ctx.store, tickets.store if tickets is not None else None,
                                ZoneInfo(config.hours.timezone))
    service = EscalationService(ctx.conversations, ctx.residents, tickets, config.routing, config.console,
                                Schedule(config.hours),
                                RoutingStore(ctx.redis, prefix), accounts, audit,
                                CallbackFlow(ctx.conversations, tickets), search)
    service.install()
    knowledge = KnowledgeBase(ctx.knowledge)
    ctx.sio.register_namespace(AgentsNamespace(service, sessions, accounts, knowledge,
                                               config.limits.max_message_chars))
    app[ESCALATION] = service
    if isinstance(ctx.sio.manager, ReliableRedisManager):
        # a console that missed messages in a pub/sub gap reconnects and re-fetches
        ctx.sio.manager.refetch_namespaces.add(NS)
    app[console.SESSIONS] = sessions
    app[console.ACCOUNTS] = accounts
    app[console.AUDIT] = audit
    app[console.SEARCH] = search
    app[console.THROTTLE] = LoginThrottle(ctx.redis, prefix, config.console.login_max_failures,
                                          config.console.login_window_s, config.console.login_max_failures_per_ip)
    console.setup_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await service.start()
        app[REINDEX] = search.start_reindex()  # chats taken before the search index existed
        yield
        await service.stop()
        await cancel_and_wait([app.get(REINDEX)])

    app.cleanup_ctx.append(lifecycle)
