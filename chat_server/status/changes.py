"""`TicketStatusService`: the one way a ticket's status changes — staff (console, CLI), the
upstream Open311 poller and the signed webhook all call `change()`.

One path means one set of rules: the ticket must exist, the status must be Open311's open/closed
or one of our documented sub-statuses, the change lands in the ticket's timeline (its Redis
history list) together with its notification job in one transaction, a change key already seen
(the same upstream update read twice) changes nothing, and exactly one `ticket_status` event is
published per recorded change.

Event: ticket_status [ticket_id, status, sub_status, previous_status, by, source, change_id] (previous_status
lets the supervisor reports tell a closing from a note on a closed ticket).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio.client import Pipeline

from chat_server.events import EventBus
from chat_server.tickets.catalogue import TicketValidationError
from chat_server.tickets.service import _long as free_text
from chat_server.tickets.store import CLOSED, OPEN, SUB_STATUSES, StatusEntry, Ticket, TicketStore, made_public

STATUSES = (OPEN, CLOSED, *SUB_STATUSES)


class Source(StrEnum):
    STAFF = "staff"  # agent console
    CLI = "cli"
    UPSTREAM = "upstream"
    WEBHOOK = "webhook"


@dataclass
class Change:
    ticket: Ticket
    entry: StatusEntry
    applied: bool  # False: a repeat of a change already recorded, or nothing to change


# The same status and note again within this long is a repeat, not news.
REPEAT_WINDOW_S = 3600.0


def resolve_status(current: str, current_sub: str, requested: str) -> tuple[str, str]:
    """(status, sub_status) for a requested value: a sub-status names its Open311 status; a bare
    open/closed keeps the current sub-status when it already fits."""
    if requested in SUB_STATUSES:
        return SUB_STATUSES[requested], requested
    if requested == OPEN:
        return OPEN, current_sub if current == OPEN else "acknowledged"
    if requested == CLOSED:
        return CLOSED, current_sub if current == CLOSED else "resolved"
    raise TicketValidationError(400, f"unknown status {requested[:40]!r}; use one of {', '.join(STATUSES)}",
                                "status")


def notify_stream(prefix: str) -> str:
    """The Redis Stream of notification jobs (read by chat_server/status/notify.py)."""
    return f"{prefix}outbox:status"


def notification_job(ticket_id: str, change_id: str) -> dict[str, str]:
    """The outbox job telling residents about one change (idempotency key: ticket + change id)."""
    return {"key": ticket_id, "ticket_id": ticket_id, "change_id": change_id}


class TicketStatusService:
    def __init__(self, store: TicketStore, bus: EventBus, notify_stream: str) -> None:
        self.store = store
        self.bus = bus
        self.notify_stream = notify_stream

    async def change(self, ticket_id: str, status: str | None, note: str | None, source: Source, actor: str, *,
                     change_key: str | None = None, occurred_at: float | None = None,
                     change_digest: str = "") -> Change:
        """Record a status change or a note for the resident (no `status`: the ticket keeps its own) and
        queue its notifications. The note is public (status page, Open311 status_notes, the notices), so
        personal data in it is masked as in descriptions. Raises TicketValidationError (404 unknown ticket,
        400 bad status or note) before anything is stored.

        Not applied, and nobody told: nothing to change; the same status and note as the latest change within
        REPEAT_WINDOW_S (a double click, a retried request: residents were told twice, probe AB); and, with
        `occurred_at` (when the sender says it happened), a change older than one already applied (a late
        "in progress" reopened a resolved request and told the resident so).

        `change_digest` (what the sender sent under `change_key`): the key reused for a different change is
        refused (409), since answering "not applied" would lose that change without a word."""
        ticket = await self.store.get(str(ticket_id or "").strip().upper())
        if ticket is None:
            raise TicketValidationError(404, f"service request {str(ticket_id)[:40]!r} not found", "ticket_id")
        if change_key and change_digest and await self.store.change_digest(change_key) not in (None, "",
                                                                                               change_digest):
            raise TicketValidationError(409, "change_id was already used for a different change; send each change "
                                             "with its own change_id", "change_id")
        main, sub = resolve_status(ticket.status, ticket.sub_status,
                                   str(status or "").strip().lower() or ticket.sub_status)
        text = made_public(free_text(note, "note"), ticket.contact) or None
        now = time.time()
        entry = StatusEntry(now, main, sub, text, f"{source}:{actor}"[:120], change_id=secrets.token_hex(8))
        same_status = (main, sub) == (ticket.status, ticket.sub_status)
        last = ticket.history[-1] if ticket.history else None
        repeat = (same_status and last is not None and last.note == text and now - last.ts < REPEAT_WINDOW_S
                  and (last.status, last.sub_status) == (main, sub))
        if (same_status and not text) or repeat:
            return Change(ticket, entry, applied=False)
        if occurred_at is not None and occurred_at < (await self.store.latest_event_at(ticket.id) or 0.0):
            return Change(ticket, entry, applied=False)
        job = json.dumps(notification_job(ticket.id, entry.change_id))
        previous = ticket.status

        def enqueue(pipe: Pipeline) -> None:
            pipe.xadd(self.notify_stream, {"job": job}, maxlen=200_000, approximate=True)

        applied = await self.store.record_status(ticket, entry, change_key=change_key, also=enqueue,
                                                 event_at=occurred_at, change_digest=change_digest)
        if applied:
            await self.bus.publish("ticket_status", ticket.conversation_id or "", ticket_id=ticket.id, status=main,
                                   sub_status=sub, previous_status=previous, by=entry.by, source=str(source),
                                   change_id=entry.change_id)
        return Change(ticket, entry, applied)
