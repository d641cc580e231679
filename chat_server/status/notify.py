"""Telling residents about status changes, through the durable outbox.

TicketStatusService writes one job per change to `<prefix>outbox:status` in the transaction that
records the change; the worker here (stream_outbox.py: consumer group, retries with backoff,
take-over of a dead process's jobs) fans it out to the filer and every follower:

- a conversation (web chat, or an SMS / e-mail / API conversation): a system message appended to
  that conversation — live on an open web session, replayed on the next visit, and sent on by the
  conversation's channel (Twilio SMS, e-mail, the app's signed webhook), each through its own outbox;
- an SMS number: a Twilio text; an e-mail address: an e-mail with a List-Unsubscribe link.

Once per change and follower: what was handed on is marked in `<prefix>status:notified:<ticket>:
<change>`, so a retried or taken-over job skips it. (A process killed between handing a message on
and marking it sends that one again: at least once, like every outbox.)

A notice is counted when its fate is known, not when it is queued. A web chat message is sent once
it is stored (the open chat shows it, the next visit replays it). A notice relayed by a channel (an
SMS, an e-mail, an app's webhook — for an SMS / e-mail follower or a conversation on those channels)
is `queued` when handed on, with a tag (`notice`: ticket, change, follower, via) that rides on the
channel's outbox job; the channel reports the tag's outcome (channels/channel_base.ChannelBase.
notice_outcome → `relayed`): `sent` when the provider took it, `failed` when its outbox gave up,
`skipped` when there was nobody to send it to, `undelivered` when Twilio later reported a text it
took as lost. The mark moves only forward (none/queued → sent|failed|skipped, sent → undelivered),
in one Lua step, so a resent job or a repeated callback is counted once.

Event: status_notification [ticket_id, change_id, channel (follower kind), via (the resident's channel:
web, sms, email, api), outcome: queued|sent|failed|skipped|undelivered, error?]. When the status outbox
gives up on a job, every follower it had not reached yet gets one `failed` event (the supervisor's
notifications report counts sent, failed and skipped; chat_server/metrics/delivery.py).
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from chat_server import redis_values
from chat_server.conversations.service import ConversationService
from chat_server.conversations.store import ConversationStore
from chat_server.events import EventBus
from chat_server.status.followers import Follower, FollowerKind, FollowerStore
from chat_server.status.reach import FollowerReach, Place, filer_of
from chat_server.texts import sentence, text
from chat_server.tickets.service import TicketService, status_words
from chat_server.tickets.store import StatusEntry, Ticket

log = logging.getLogger("chat311.status.notify")

NOTIFIED_TTL_S = 180 * 24 * 3600

# Which mark each outcome may replace ("" = not marked yet): outcomes only move forward, once.
_MAY_REPLACE: dict[str, tuple[str, ...]] = {
    "queued": ("",), "sent": ("", "queued"), "failed": ("", "queued"), "skipped": ("", "queued"),
    "undelivered": ("sent",),
}
_SETTLE_LUA = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
for i = 4, #ARGV do
  if current == ARGV[i] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1
  end
end
return 0
"""


def notice_text(ticket: Ticket, entry: StatusEntry, service: str, status_url: str, language: str) -> str:
    said = sentence(entry.note or "")  # the link follows: "Patched today. Details: …"
    note = text("status_notice_note", language, note=said) if said and entry.public else ""
    return text("status_notice", language, ticket_id=ticket.id, service=service,
                status=status_words(entry.status, entry.sub_status, language), note=note, status_url=status_url)


class StatusNotifier:
    def __init__(self, redis: Redis, prefix: str, tickets: TicketService, followers: FollowerStore,
                 reach: FollowerReach, conversations: ConversationService, store: ConversationStore,
                 channels: dict[str, Any], bus: EventBus, public_url: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.tickets = tickets
        self.followers = followers
        self.reach = reach
        self.conversations = conversations
        self.store = store
        self.channels = channels
        self.bus = bus
        self.public_url = public_url.rstrip("/")

    def stop_url(self, follower: Follower) -> str:
        return f"{self.public_url}/status/unfollow/{follower.token}"

    def _done_key(self, ticket_id: str, change_id: str) -> str:
        """Hash follower mark → outcome: who was already told about this change."""
        return f"{self.prefix}status:notified:{ticket_id}:{change_id}"

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
        told: set[Place] = set()  # once per place: a conversation by SMS and a page follow by that number are one
        # a conversation first: it is where the resident talks to us, and its notice can be answered there
        for follower in sorted(await self.followers.followers(ticket.id),
                               key=lambda f: f.kind != FollowerKind.CONVERSATION):
            if follower.since > entry.ts:
                continue
            place = await self.reach.place(follower.kind, follower.address)
            if place in told:
                continue
            told.add(place)
            if await self.redis.hexists(done_key, follower.mark):
                continue
            outcome, via = await self._send(ticket, entry, follower)
            await self._record(ticket.id, change_id, follower, outcome, via)

    async def _record(self, ticket_id: str, change_id: str, follower: Follower, outcome: str, via: str,
                      **extra: Any) -> None:
        await self._settle(ticket_id, change_id, follower.mark, str(follower.kind), via, outcome, **extra)

    async def _settle(self, ticket_id: str, change_id: str, follower_mark: str, channel: str, via: str,
                      outcome: str, **extra: Any) -> None:
        """Mark the follower's outcome if it moves forward, and publish it then. `queued` is published
        even when the channel already settled the notice (its outbox may be faster than this mark)."""
        moved = await self.redis.eval(_SETTLE_LUA, 1, self._done_key(ticket_id, change_id), follower_mark, outcome,
                                      NOTIFIED_TTL_S, *_MAY_REPLACE.get(outcome, ("", "queued")))
        if moved or outcome == "queued":
            await self.bus.publish("status_notification", "", ticket_id=ticket_id, change_id=change_id,
                                   channel=channel, via=via, outcome=outcome, **extra)

    async def relayed(self, notice: dict[str, Any], outcome: str, error: str = "") -> None:
        """A channel's word on a notice it was handed (ChannelBase.notice_hooks): sent, failed,
        skipped or undelivered, counted once per follower and change."""
        ticket_id, change_id = str(notice.get("ticket_id") or ""), str(notice.get("change_id") or "")
        follower_mark = str(notice.get("follower") or "")
        if not (ticket_id and change_id and follower_mark):
            log.warning("notice outcome without its tag dropped", extra={"outcome": outcome})
            return
        extra = {"error": error[:200]} if error else {}
        await self._settle(ticket_id, change_id, follower_mark, str(notice.get("channel") or "unknown"),
                           str(notice.get("via") or "unknown"), outcome, **extra)

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
        reached = {redis_values.text(k) for k in done}
        missed = [f for f in followers if entry is not None and f.since <= entry.ts and f.mark not in reached]
        for follower in missed:
            await self._record(ticket_id, change_id, follower, "failed", await self._via(follower),
                               error=reason[:200])
        if not missed:
            await self.bus.publish("status_notification", "", ticket_id=ticket_id, change_id=change_id,
                                   channel="unknown", via="unknown", outcome="failed", error=reason[:200])

    async def _send(self, ticket: Ticket, entry: StatusEntry, follower: Follower) -> tuple[str, str]:
        """(outcome, via) for one follower: `queued` when a channel relays it and reports its outcome later."""
        language = follower.language
        url = self.tickets.status_url_for(ticket, language)
        body = notice_text(ticket, entry, self.tickets.service_name(ticket, language), url, language)
        stop = text("status_notice_stop", language, stop_url=self.stop_url(follower))

        def tag(via: str) -> dict[str, str]:
            return {"ticket_id": ticket.id, "change_id": entry.change_id, "follower": follower.mark,
                    "channel": str(follower.kind), "via": via}

        if follower.kind == FollowerKind.CONVERSATION:
            conv = await self.store.get(follower.address)
            if conv is None:  # removed by retention
                return "skipped", "web"
            relayed = conv.channel != "web" and conv.channel in self.channels
            extra = {"notice": tag(conv.channel)} if relayed else {}
            await self.conversations.say(conv, "system", f"{body}\n{stop}", language, custom={
                "event": "ticket_status", "ticket_id": ticket.id, "status": entry.status,
                "sub_status": entry.sub_status, "status_url": url}, **extra)
            if conv.channel == "web":
                return "sent", "web"
            return ("queued" if relayed else "skipped"), conv.channel
        if follower.kind == FollowerKind.SMS:
            sms = self.channels.get("sms")
            if sms is None or await sms.opted_out(follower.address):
                return "skipped", "sms"
            await sms.queue_text(f"ticket:{ticket.id}", f"status:{entry.change_id}", follower.address,
                                 f"{body}\n{stop}", notice=tag("sms"))
            return "queued", "sms"
        email = self.channels.get("email")
        if email is None:
            return "skipped", "email"
        await email.queue_notice(follower.address, text("status_notice_subject", language, ticket_id=ticket.id),
                                 f"{body}\n\n{stop}", f"status-{ticket.id}-{entry.change_id}",
                                 unsubscribe=self.stop_url(follower), notice=tag("email"))
        return "queued", "email"
