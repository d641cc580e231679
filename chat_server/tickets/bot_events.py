"""What the tickets feature does with the bot's events (subscribed in tickets/feature.py).

- form_completed [label, language, data] → the label's service → DuplicateFlow (asks first when an
  open ticket already covers it) → TicketService.create_for_conversation. A report that cannot be
  filed is answered with the reason (never silence).
- status_lookup [ticket_id, language] → the ticket's status, last note and expected date.
"""

from __future__ import annotations

import logging
from typing import Any

from chat_server.events import Event
from chat_server.texts import text
from chat_server.tickets.duplicate_flow import DuplicateFlow
from chat_server.tickets.service import TicketService

log = logging.getLogger("chat311.tickets")


async def on_form_completed(flow: DuplicateFlow, event: Event) -> None:
    chats = flow.chats
    conv = await chats.store.get(event.conversation_id)
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
        await chats.say(conv, "bot", text("ticket_failed", language), language)
        return
    try:
        await flow.file_or_ask(conv, svc, data, language)
    except Exception:
        log.exception("ticket creation failed", extra={"conv": conv.id, "label": label})
        await chats.say(conv, "bot", text("ticket_failed", language), language)


async def on_status_lookup(service: TicketService, event: Event) -> None:
    chats = service.chats
    conv = await chats.store.get(event.conversation_id)
    if conv is None:
        return
    language = str(event.data.get("language") or conv.language)
    ticket_id = str(event.data.get("ticket_id") or "").strip()[:40]
    try:
        ticket = await service.get(ticket_id)
    except Exception:
        log.exception("status lookup failed", extra={"conv": conv.id})
        await chats.say(conv, "bot", text("ticket_failed", language), language)
        return
    if ticket is None:
        await chats.say(conv, "bot", text("status_unknown", language, ticket_id=ticket_id or "?"), language)
        return
    await chats.say(conv, "bot", service.status_text(ticket, language), language)
    # "when will it be fixed?" next is about this request (the bot gets it as metadata `ticket_id`): it asked
    # for the number again (probe N)
    await chats.store.update(conv.id, asked_ticket=ticket.id)
