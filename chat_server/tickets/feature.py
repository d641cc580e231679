"""Tickets feature module (wiring only): catalogue, TicketService, Open311 API, media uploads, the
upstream outbox, and the bot's form_completed / status_lookup events (tickets/bot_events.py)."""

from __future__ import annotations

import logging
from functools import partial

from aiohttp import web

from chat_server.app_hooks import run_with_app
from chat_server.context import AppContext
from chat_server.metrics.access import current_user
from chat_server.tickets import bot_events
from chat_server.tickets.apikeys import ApiKeyStore
from chat_server.tickets.catalogue import load_catalogue
from chat_server.tickets.duplicate_flow import DuplicateFlow
from chat_server.tickets.late_photo import LatePhoto
from chat_server.tickets.media import MediaFiles, MediaHandler
from chat_server.tickets.open311 import Open311API
from chat_server.tickets.outbox import UpstreamOutbox
from chat_server.tickets.service import TicketService, TicketTerms
from chat_server.tickets.store import TicketStore

log = logging.getLogger("chat311.tickets")


def setup(app: web.Application, ctx: AppContext) -> None:
    config = ctx.config.tickets
    catalogue = load_catalogue(ctx.config.resolve_path(config.catalogue))  # bad catalogue: startup fails here
    store = TicketStore(ctx.redis, ctx.config.redis.key_prefix)
    service = TicketService(store, catalogue, ctx.bus, TicketTerms.from_config(ctx.config), ctx.conversations)
    ctx.tickets = service

    if config.upstream_url:
        outbox = UpstreamOutbox(ctx.redis, ctx.config.redis.key_prefix, store, config)
        service.outbox_stream = outbox.stream
        run_with_app(app, outbox)

    Open311API(service, ApiKeyStore(ctx.redis, ctx.config.redis.key_prefix), signed_in_staff, ctx.limiter).routes(app)
    media = MediaFiles(ctx.config, ctx.redis, ctx.config.resolve_path(config.media_dir))
    MediaHandler(ctx.config, ctx.limiter, ctx.store, media).routes(app)

    duplicate_flow = DuplicateFlow(service)
    ctx.conversations.turn_handlers.append(duplicate_flow.handle)
    LatePhoto(ctx.conversations, service).register()

    ctx.bus.subscribe("form_completed", partial(bot_events.on_form_completed, duplicate_flow))
    ctx.bus.subscribe("status_lookup", partial(bot_events.on_status_lookup, service))


async def signed_in_staff(request: web.Request) -> bool:
    """Staff who take or supervise chats may see what residents told us (console session cookie)."""
    _, account = await current_user(request)
    return account is not None and bool(account.has_role("agent"))
