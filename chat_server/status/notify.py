"""Telling residents about status changes, through the durable outbox.

TicketStatusService writes one job per change to `<prefix>outbox:status` in the transaction that
records the change; the worker here (channels/outbox.py: consumer group, retries with backoff,
take-over of a dead process's jobs) fans it out to the filer and every follower:

- a conversation (web chat, or an SMS / e-mail / API conversation): a system message appended to
  that conversation — live on an open web session, replayed on the next visit, and sent on by the
  conversation's channel (Twilio SMS, e-mail, the app's signed webhook), each through its own outbox;
- an SMS number: a Twilio text; an e-mail address: an e-mail with a List-Unsubscribe link.

Once per change and follower: what was handed on is marked in `<prefix>status:notified:<ticket>:
<change>`, so a retried or taken-over job skips it. (A process killed between handing a message on
and marking it sends that one again: at least once, like every outbox.)

Event: status_notification [ticket_id, change_id, channel (follower kind), via (the resident's channel:
web, sms, email, api), outcome: sent|failed|skipped]. When the outbox gives up on a job, every follower
it had not reached yet gets one `failed` event (the supervisor's notifications report counts them).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ConversationStore
from chat_server.events import EventBus
from chat_server.status.followers import Follower, FollowerKind, FollowerStore
from chat_server.texts import text
from chat_server.tickets.service import TicketService, status_words
from chat_server.tickets.store import StatusEntry, Ticket

log = logging.getLogger("chat311.status.notify")

NOTIFIED_TTL_S = 180 * 24 * 3600


def notice_text(ticket: Ticket, entry: StatusEntry, service: str, status_url: str, language: str) -> str:
    note = text("status_notice_note", language, note=entry.note) if entry.note and entry.public else ""
    return text("status_notice", language, ticket_id=ticket.id, service=service,
                status=status_words(entry.status, entry.sub_status, language), note=note, status_url=status_url)


def filer_of(ticket: Ticket) -> tuple[FollowerKind, str] | None:
    """Who filed the ticket and how to reach them: their conversation, else their e-mail (Open311)."""
    if ticket.conversation_id:
        return FollowerKind.CONVERSATION, ticket.conversation_id
    if ticket.contact.get("email"):
        return FollowerKind.EMAIL, ticket.contact["email"]
    return None


class StatusNotifier:
    def __init__(self, redis: Redis, prefix: str, tickets: TicketService, followers: FollowerStore,
                 conversations: ConversationService, store: ConversationStore, channels: dict[str, Any],
                 bus: EventBus, public_url: str) -> None:
        self.redis = redis
        self.p = prefix
        self.tickets = tickets
        self.followers = followers
        self.conversations = conversations
        self.store = store
        self.channels = channels
        self.bus = bus
        self.public_url = public_url.rstrip("/")

    def stop_url(self, follower: Follower) -> str:
        return f"{self.public_url}/status/unfollow/{follower.token}"

    def _done_key(self, ticket_id: str, change_id: str) -> str:
        """Hash follower key → outcome: who was already told about this change."""
        return f"{self.p}status:notified:{ticket_id}:{change_id}"

    async def handle(self, job: dict[str, Any]) -> None:
        """One change → every follower, once each (outbox handler; an exception means retry)."""
        ticket = await self.tickets.get(str(job.get("ticket_id", "")))
        change_id = str(job.get("change_id", ""))
        entry = next((e for e in ticket.history if e.change_id == change_id), None) if ticket else None
        if ticket is None or entry is None:
            log.warning("notification for an unknown change dropped", extra={"ticket": job.get("ticket_id")})
            return
        filer = filer_of(ticket)
        if filer is not None:
            await self.followers.ensure(ticket.id, *filer, ticket.language, since=ticket.requested_at)
        done_key = self._done_key(ticket.id, change_id)
        for follower in await self.followers.followers(ticket.id):
            if follower.since > entry.ts or await self.redis.hexists(done_key, follower.key):
                continue
            outcome, via = await self._send(ticket, entry, follower)
            await self._record(ticket.id, change_id, follower, outcome, via)

    async def _record(self, ticket_id: str, change_id: str, follower: Follower, outcome: str, via: str,
                      **extra: Any) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self._done_key(ticket_id, change_id), follower.key, outcome)
        pipe.expire(self._done_key(ticket_id, change_id), NOTIFIED_TTL_S)
        await pipe.execute()
        await self.bus.publish("status_notification", "", ticket_id=ticket_id, change_id=change_id,
                               channel=str(follower.kind), via=via, outcome=outcome, **extra)

    async def _via(self, follower: Follower) -> str:
        """The channel a follower is reached on: their conversation's channel, or sms / email."""
        if follower.kind != FollowerKind.CONVERSATION:
            return str(follower.kind)
        try:
            conv = await self.store.get(follower.address)
        except Exception:  # counting the failure matters more than naming its channel
            return "unknown"
        return conv.channel if conv is not None else "web"

    async def failed(self, job: dict[str, Any], reason: str) -> None:
        """The outbox gave up on a job (after its retries): each follower not reached yet is one failed
        notification, counted per channel in the supervisor's report."""
        ticket_id, change_id = str(job.get("ticket_id", "")), str(job.get("change_id", ""))
        try:
            ticket = await self.tickets.get(ticket_id)
            entry = next((e for e in ticket.history if e.change_id == change_id), None) if ticket else None
            done = await self.redis.hkeys(self._done_key(ticket_id, change_id))
            followers = await self.followers.followers(ticket_id) if entry is not None else []
        except Exception:  # Redis trouble is likely why the job failed: still count one failure
            log.exception("reading the followers of a failed notification job failed")
            entry, done, followers = None, [], []
        reached = {k.decode() if isinstance(k, bytes) else str(k) for k in done}
        missed = [f for f in followers if entry is not None and f.since <= entry.ts and f.key not in reached]
        for follower in missed:
            await self._record(ticket_id, change_id, follower, "failed", await self._via(follower),
                               error=reason[:200])
        if not missed:
            await self.bus.publish("status_notification", "", ticket_id=ticket_id, change_id=change_id,
                                   channel="unknown", via="unknown", outcome="failed", error=reason[:200])

    async def _send(self, ticket: Ticket, entry: StatusEntry, follower: Follower) -> tuple[str, str]:
        """(outcome, via) for one follower."""
        language = follower.language
        url = self.tickets.status_url(ticket.id)
        body = notice_text(ticket, entry, self.tickets.service_name(ticket, language), url, language)
        stop = text("status_notice_stop", language, stop_url=self.stop_url(follower))
        if follower.kind == FollowerKind.CONVERSATION:
            conv = await self.store.get(follower.address)
            if conv is None:  # removed by retention
                return "skipped", "web"
            await self.conversations.say(conv, "system", f"{body}\n{stop}", language, custom={
                "event": "ticket_status", "ticket_id": ticket.id, "status": entry.status,
                "sub_status": entry.sub_status, "status_url": url})
            return "sent", conv.channel
        if follower.kind == FollowerKind.SMS:
            sms = self.channels.get("sms")
            if sms is None or await sms.opted_out(follower.address):
                return "skipped", "sms"
            await sms.queue_text(f"ticket:{ticket.id}", f"status:{entry.change_id}", follower.address,
                                 f"{body}\n{stop}")
            return "sent", "sms"
        email = self.channels.get("email")
        if email is None:
            return "skipped", "email"
        await email.queue_notice(follower.address, text("status_notice_subject", language, ticket_id=ticket.id),
                                 f"{body}\n\n{stop}", f"status-{ticket.id}-{entry.change_id}",
                                 unsubscribe=self.stop_url(follower))
        return "sent", "email"
