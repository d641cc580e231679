"""Search of past conversations and tickets for the console: by ticket id, phone, e-mail, day and agent.

Who sees what: an agent finds the conversations they handled (accepted or were transferred) and
the tickets filed from those conversations; a supervisor (or admin) finds every one. Within that,
nothing is redacted: the agent served this resident and may see their contact details again.

Conversations are found through a small index written when an agent takes a chat (conversation
ids and times only, no personal data): `<prefix>search:handled` (all) and
`<prefix>search:agent:<username>`. Chats taken before the index existed (or while it was lost) are
added once when the server starts: `reindex()` walks the stored conversations in bounded batches,
indexes every one an agent holds, and then sets `<prefix>search:indexed` so later starts skip it
(running it twice changes nothing). Entries whose conversation was purged by retention are dropped
when a search meets them. Tickets are found by id, or among those requested on the day(s) searched.
Phone and e-mail match the contact the bot collected in the chat, the number an SMS conversation
came from (its channel session's address), and the contact on the ticket; a ticket filed from a
conversation the search found by phone or e-mail is found with it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from chat_server import redis_values as rv
from chat_server.agents.accounts import Account
from chat_server.agents.ticket_form import bot_slots, given
from chat_server.conversations.store import Conversation, ConversationStore
from chat_server.refusal import Refusal
from chat_server.tickets.store import Ticket, TicketStore

log = logging.getLogger("chat311.search")
DEFAULT_DAYS = 30  # no day given: the last 30 days
MAX_RESULTS = 50
REINDEX_BATCH = 500  # conversations read per Redis round trip when the index is rebuilt
_TICKET_ID = re.compile(r"^311-\d{1,12}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_USERNAME = re.compile(r"^[a-z0-9_.-]{1,40}$")


class SearchError(Refusal, ValueError):
    """A refused search: `code` is forbidden (role) or malformed (input); `message` says what to fix."""


@dataclass(frozen=True)
class SearchQuery:
    ticket_id: str = ""
    phone: str = ""  # digits only, the last 10 (a US number with or without +1)
    email: str = ""  # lower case
    day: date | None = None
    agent: str = ""

    @property
    def empty(self) -> bool:
        return not (self.ticket_id or self.phone or self.email or self.day or self.agent)


def phone_key(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[-10:]


def parse_query(params: dict[str, str]) -> SearchQuery:
    """Validate the search fields (pure): a clear message for each bad one."""
    ticket_id = params.get("ticket", "").strip().upper()
    if ticket_id and not _TICKET_ID.match(ticket_id):
        raise SearchError("malformed", "a ticket number looks like 311-1000001")
    phone = phone_key(params.get("phone", ""))
    if params.get("phone", "").strip() and len(phone) < 7:
        raise SearchError("malformed", "give at least 7 digits of the phone number")
    email = params.get("email", "").strip().lower()
    if email and not _EMAIL.match(email):
        raise SearchError("malformed", "give a whole e-mail address, like name@example.org")
    day = None
    if params.get("date", "").strip():
        try:
            day = date.fromisoformat(params["date"].strip())
        except ValueError as exc:
            raise SearchError("malformed", "the date must look like 2026-12-04") from exc
    agent = params.get("agent", "").strip().lower()
    if agent and not _USERNAME.match(agent):
        raise SearchError("malformed", "the agent is a username (letters, digits, . _ -)")
    query = SearchQuery(ticket_id, phone, email, day, agent)
    if query.empty:
        raise SearchError("malformed", "give a ticket number, phone, e-mail, date or agent")
    return query


def _contact_matches(query: SearchQuery, phones: list[str], email: str | None) -> bool:
    if query.phone and not any(phone_key(p) == query.phone for p in phones):
        return False
    return not (query.email and (not email or email.strip().lower() != query.email))


class ConversationSearch:
    """The one search service (the console's HTTP API uses it; a CLI could too)."""

    def __init__(self, redis: Redis, prefix: str, conversations: ConversationStore, tickets: TicketStore | None,
                 tz: ZoneInfo) -> None:
        self.redis = redis
        self.prefix = prefix
        self.conversations = conversations
        self.tickets = tickets
        self.tz = tz
        self._complete = asyncio.Event()  # set once reindex() has run (or found nothing to do)
        self._complete.set()

    def _handled(self, username: str = "") -> str:
        return f"{self.prefix}search:agent:{username}" if username else f"{self.prefix}search:handled"

    @property
    def _indexed(self) -> str:
        return f"{self.prefix}search:indexed"

    def start_reindex(self) -> asyncio.Task[int]:
        """Rebuild the index in the background; searches meanwhile wait for it rather than miss chats."""
        self._complete.clear()

        async def run() -> int:
            try:
                return await self.reindex()
            except Exception:  # searches still work on what the index holds
                log.exception("search index rebuild failed")
                return 0
            finally:
                self._complete.set()

        return asyncio.create_task(run())

    async def reindex(self, force: bool = False) -> int:
        """Index every stored conversation an agent holds (once: `search:indexed` marks it done).

        Only what the live index holds is written (conversation id, the time it was taken, the agent's
        username), never contact details. Returns how many conversations were indexed."""
        if not force and await self.redis.exists(self._indexed):
            return 0
        cids = sorted(await self.conversations.conversation_keys())
        indexed = 0
        for at in range(0, len(cids), REINDEX_BATCH):
            batch = cids[at:at + REINDEX_BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for cid in batch:
                pipe.hmget(self.conversations.conversation_key(cid), "agent", "assigned_at", "created_at")
            rows = await pipe.execute()
            write = self.redis.pipeline(transaction=False)
            for cid, (agent, assigned_at, created_at) in zip(batch, rows, strict=True):
                username = rv.text(agent) if agent else ""
                if not username:
                    continue
                ts = float(rv.text(assigned_at or created_at or "0"))
                write.zadd(self._handled(), {cid: ts})
                write.zadd(self._handled(username), {cid: ts})
                indexed += 1
            await write.execute()
        await self.redis.set(self._indexed, "1")
        log.info("search index rebuilt", extra={"conversations": len(cids), "indexed": indexed})
        return indexed

    async def record_handled(self, cid: str, username: str, ts: float) -> None:
        """An agent took this chat (accept or transfer): it becomes findable by them and supervisors."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self._handled(), {cid: ts})
        pipe.zadd(self._handled(username), {cid: ts})
        await pipe.execute()

    def _window(self, query: SearchQuery, now: float) -> tuple[float, float]:
        if query.day is None:
            return now - DEFAULT_DAYS * 86400, now
        start = datetime.combine(query.day, time.min, self.tz)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    async def search(self, account: Account, query: SearchQuery, now: float) -> dict[str, Any]:
        await self._complete.wait()
        supervisor = account.has_role("supervisor")
        if not supervisor and query.agent and query.agent != account.username:
            raise SearchError("forbidden", "agents can search only their own conversations")
        if not supervisor and not account.takes_chats:
            raise SearchError("forbidden", "only agents and supervisors can search conversations")
        scope = query.agent or ("" if supervisor else account.username)
        mine = set() if supervisor else await self._cids(self._handled(account.username), 0, now)
        start, end = self._window(query, now)
        conversations = await self._conversations(query, scope, start, end, now)
        by_contact = {c["conversation_id"] for c in conversations} if query.phone or query.email else set()
        tickets = await self._tickets(query, start, end, None if supervisor else mine, by_contact)
        return {"conversations": conversations, "tickets": tickets,
                "scope": "all" if supervisor else "own"}

    async def _cids(self, key: str, start: float, end: float) -> set[str]:
        return {c.decode() if isinstance(c, bytes) else str(c)
                for c in await self.redis.zrangebyscore(key, start, end)}

    async def _conversations(self, query: SearchQuery, scope: str, start: float, end: float,
                             now: float) -> list[dict[str, Any]]:
        key = self._handled(scope)
        if query.ticket_id:  # any time: the ticket says which conversation
            ticket = await self.tickets.get(query.ticket_id, with_history=False) if self.tickets else None
            cid = ticket.conversation_id if ticket else None
            rows = [(cid, 0.0)] if cid and await self.redis.zscore(key, cid) is not None else []
        else:
            raw = await self.redis.zrevrangebyscore(key, end, start, withscores=True)
            rows = rv.scored_members(raw)
        out = []
        for cid, _ in rows:
            conv = await self.conversations.get(cid)
            if conv is None:  # purged by retention: forget it
                await self.redis.zrem(self._handled(), cid)
                await self.redis.zrem(key, cid)
                continue
            phones, email = await self._conv_contact(conv)
            if not _contact_matches(query, phones, email):
                continue
            if query.ticket_id and conv.get("ticket_id") != query.ticket_id:
                ticket = await self.tickets.get(query.ticket_id, with_history=False) if self.tickets else None
                if ticket is None or ticket.conversation_id != conv.id:
                    continue
            out.append(self._conv_view(conv, phones[0] if phones else None, email))
            if len(out) >= MAX_RESULTS:
                break
        return out

    async def _conv_contact(self, conv: Conversation) -> tuple[list[str], str | None]:
        """The phone numbers (collected in the chat; the number an SMS chat came from) and the e-mail."""
        slots = bot_slots(conv.get("slots"))
        phones = [str(p) for p in (slots.get("phone"), conv.get("phone")) if given(p)]
        if conv.channel == "sms":  # the channel keeps the number on the resident's session
            address = await self.conversations.session_field(conv.session, "address")
            if address:
                phones.append(address)
        email = next((e for e in (slots.get("email"), conv.get("email")) if given(e)), None)
        return phones, (str(email) if email else None)

    @staticmethod
    def _conv_view(conv: Conversation, phone: str | None, email: str | None) -> dict[str, Any]:
        return {"conversation_id": conv.id, "state": conv.state, "language": conv.language,
                "channel": conv.channel, "label": conv.get("form_label") or conv.get("label") or None,
                "agent": conv.get("agent") or None, "agent_name": conv.get("agent_name") or None,
                "assigned_at": float(conv.get("assigned_at") or 0) or None,
                "queued_at": float(conv.get("queued_at") or 0) or None,
                "ticket_id": conv.get("ticket_id") or None, "phone": phone, "email": email}

    async def _tickets(self, query: SearchQuery, start: float, end: float, allowed_convs: set[str] | None,
                       by_contact: set[str]) -> list[dict[str, Any]]:
        """Tickets in the window (or by id) the account may see; `by_contact`: conversations already
        matched by phone or e-mail, whose tickets match even if filed without that contact."""
        if self.tickets is None:
            return []
        if query.ticket_id:
            found = await self.tickets.get(query.ticket_id, with_history=False)
            candidates = [found] if found else []
        else:
            ids = (await self.tickets.query(start, end))[:500]
            candidates = await self.tickets.get_many(ids)
        out = []
        for ticket in candidates:
            if allowed_convs is not None and ticket.conversation_id not in allowed_convs:
                continue
            if query.agent and not await self._handled_by(ticket, query.agent):
                continue
            phone = ticket.contact.get("phone")
            if (ticket.conversation_id not in by_contact
                    and not _contact_matches(query, [phone] if phone else [], ticket.contact.get("email"))):
                continue
            out.append(self._ticket_view(ticket))
            if len(out) >= MAX_RESULTS:
                break
        return out

    async def _handled_by(self, ticket: Ticket, username: str) -> bool:
        cid = ticket.conversation_id
        return cid is not None and await self.redis.zscore(self._handled(username), cid) is not None

    @staticmethod
    def _ticket_view(ticket: Ticket) -> dict[str, Any]:
        return {"ticket_id": ticket.id, "service_code": ticket.service_code, "status": ticket.status,
                "requested_at": ticket.requested_at, "address": ticket.address,
                "conversation_id": ticket.conversation_id, "phone": ticket.contact.get("phone"),
                "email": ticket.contact.get("email"), "description": ticket.description}
