"""Tickets feature module: catalogue, TicketService, Open311 API, media uploads, bot events, outbox.

Bus subscriptions:
- form_completed [label, language, data] → the label's service → DuplicateFlow (asks first when an
  open ticket already covers it) → TicketService.create_for_conversation. A report that cannot be
  filed is answered with the reason (never silence).
- status_lookup [ticket_id, language] → the ticket's status, last note and expected date.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from chat_server.context import AppContext
from chat_server.events import Event
from chat_server.metrics.access import current_user
from chat_server.texts import text
from chat_server.tickets.apikeys import ApiKeyStore
from chat_server.tickets.catalogue import load_catalogue
from chat_server.tickets.duplicate_flow import DuplicateFlow
from chat_server.tickets.media import MediaHandler
from chat_server.tickets.open311 import Open311API
from chat_server.tickets.outbox import Outbox
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
        outbox = Outbox(ctx.redis, ctx.config.redis.key_prefix, service)
        service.outbox_stream = outbox.stream
        app.on_startup.append(outbox.start)
        app.on_cleanup.append(outbox.stop)

    Open311API(service, ApiKeyStore(ctx.redis, ctx.config.redis.key_prefix), signed_in_staff, ctx.limiter).routes(app)
    MediaHandler(ctx.config, ctx.redis, ctx.limiter, ctx.store, ctx.config.resolve_path(config.media_dir)).routes(app)

    duplicate_flow = DuplicateFlow(service)
    ctx.conversations.turn_handlers.append(duplicate_flow.handle)

    async def on_form_completed(event: Event) -> None:
        await handle_form_completed(ctx, duplicate_flow, event)

    async def on_status_lookup(event: Event) -> None:
        await handle_status_lookup(ctx, service, event)

    ctx.bus.subscribe("form_completed", on_form_completed)
    ctx.bus.subscribe("status_lookup", on_status_lookup)


async def signed_in_staff(request: web.Request) -> bool:
    """Staff who take or supervise chats may see what residents told us (console session cookie)."""
    _, account = await current_user(request)
    return account is not None and bool(account.has_role("agent"))


async def handle_form_completed(ctx: AppContext, flow: DuplicateFlow, event: Event) -> None:
    conv = await ctx.store.get(event.conversation_id)
    if conv is None:
        log.error("form_completed for an unknown conversation", extra={"conv": event.conversation_id})
        return
    language = str(event.data.get("language") or conv.language)
    label = str(event.data.get("label") or "")
    raw = event.data.get("data")
    data: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    data.setdefault("language", language)
    svc = flow.tickets.catalogue.by_label(label)
    if svc is None:
        log.error("form_completed with a label no service maps to", extra={"conv": conv.id, "label": label})
        await ctx.conversations.say(conv, "bot", text("ticket_failed", language), language)
        return
    try:
        await flow.file_or_ask(conv, svc, data, language)
    except Exception:
        log.exception("ticket creation failed", extra={"conv": conv.id, "label": label})
        await ctx.conversations.say(conv, "bot", text("ticket_failed", language), language)


async def handle_status_lookup(ctx: AppContext, service: TicketService, event: Event) -> None:
    conv = await ctx.store.get(event.conversation_id)
    if conv is None:
        return
    language = str(event.data.get("language") or conv.language)
    ticket_id = str(event.data.get("ticket_id") or "").strip()[:40]
    try:
        ticket = await service.get(ticket_id)
    except Exception:
        log.exception("status lookup failed", extra={"conv": conv.id})
        await ctx.conversations.say(conv, "bot", text("ticket_failed", language), language)
        return
    if ticket is None:
        await ctx.conversations.say(conv, "bot", text("status_unknown", language, ticket_id=ticket_id or "?"), language)
        return
    await ctx.conversations.say(conv, "bot", service.status_text(ticket, language), language)
