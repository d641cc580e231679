"""Tickets (Open311 service requests) in Redis.

One hash per ticket plus a list of status-history entries; sorted-set indexes by requested
time (all, per service_code) and a set per status drive `GET requests`. Creation is one
MULTI/EXEC guarded by WATCH on the idempotency key, so a retried POST (or a bot turn processed
twice, or the outbox re-sending after a crash) yields the same ticket, never a second one —
and the outbox entry is written in that same transaction, so a ticket that exists is always
forwarded. Durability is Redis AOF (embedded Redis runs with appendonly on).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from chat_server import redis_values as rv
from chat_server.redaction import mask_names, redact
from chat_server.redis_store import RedisStore
from chat_server.sanitize import plausible_token
from chat_server.tickets.catalogue import Catalogue

OPEN, CLOSED = "open", "closed"
# Internal sub-statuses (shown to residents and agents; Open311 only sees open/closed).
SUB_STATUSES = {
    "submitted": OPEN, "acknowledged": OPEN, "in_progress": OPEN,
    "resolved": CLOSED, "duplicate": CLOSED, "cancelled": CLOSED, "referred": CLOSED,
}
FIRST_TICKET_NUMBER = 1000001
IDEMPOTENCY_TTL_S = 180 * 24 * 3600  # longer than any upstream outage we would ride out
# Hash fields only staff and keys with the read_private scope see; retention removes them.
PRIVATE_FIELDS = ("description", "transcript", "contact", "account_id")
# Retention removes these too: what the city's upstream system wrote back, unredacted ("crew spoke with the
# owner, Ana Torres, 980-…"); only its redacted public copy (the history's public notes) is kept.
UPSTREAM_FIELDS = ("upstream_notes", "upstream_error")
# What retention removes has grown (staff notes, version 2; upstream notes, version 3; typed attributes and a private
# service's photo, version 4): tickets purged by an older version are purged again.
PURGE_VERSION = "4"


def iso(ts: float | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the jurisdiction's UTC offset, whole seconds (Open311 date-time)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).replace(microsecond=0).isoformat()


@dataclass
class StatusEntry:
    ts: float
    status: str
    sub_status: str
    note: str | None = None
    by: str = "system"
    public: bool = True
    change_id: str = ""  # set by TicketStatusService; notifications are keyed by ticket + change id


@dataclass
class Ticket:
    id: str
    service_code: str
    status: str = OPEN
    sub_status: str = "submitted"
    description: str = ""  # as the filer wrote it: private (contact details may be in it)
    public_description: str | None = None  # the description redacted: what Open311 GET shows
    requested_at: float = field(default_factory=time.time)
    updated_at: float | None = None
    expected_at: float | None = None
    status_notes: str | None = None
    agency_responsible: str | None = None
    service_notice: str | None = None
    address: str | None = None  # as the filer wrote it: private ("outside Maria Lopez's house, text me at …")
    public_address: str | None = None  # the address redacted like the description: what Open311 GET shows
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    attributes: dict[str, str | list[str]] = field(default_factory=dict)
    contact: dict[str, str] = field(default_factory=dict)  # email, phone, first_name, ... (private)
    transcript: str | None = None  # what the resident said in chat (private)
    account_id: str | None = None
    conversation_id: str | None = None
    channel: str = "api"
    language: str = "en"
    source: str = "api"
    token: str = ""
    idempotency_key: str | None = None
    upstream_id: str | None = None
    upstream_token: str | None = None
    upstream_state: str | None = None  # pending | sent | failed
    upstream_error: str | None = None
    upstream_status: str | None = None  # last status / notes read back from the upstream
    upstream_notes: str | None = None
    also_reported: int = 0  # other residents who reported the same problem in chat and follow this one
    history: list[StatusEntry] = field(default_factory=list)
    # Not stored: True when create() returned an earlier ticket for a repeated idempotency key.
    replayed: bool = False

    _TRANSIENT = ("history", "replayed")
    _JSON = ("attributes", "contact")
    _FLOAT = ("requested_at", "updated_at", "expected_at", "lat", "long")
    _INT = ("also_reported",)

    def to_hash(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in self.__dict__.items():
            if key in self._TRANSIENT or value is None:
                continue
            out[key] = json.dumps(value, ensure_ascii=False) if key in self._JSON else (
                repr(value) if key in self._FLOAT else str(value))
        return out

    @classmethod
    def from_hash(cls, raw: Mapping[bytes | str, bytes | str]) -> Ticket:
        f = rv.text_map(raw)
        kwargs: dict[str, Any] = {}
        names = set(cls.__dataclass_fields__) - set(cls._TRANSIENT)
        for key, value in f.items():
            if key not in names:
                continue
            if key in cls._JSON:
                kwargs[key] = json.loads(value)
            elif key in cls._FLOAT:
                kwargs[key] = float(value)
            elif key in cls._INT:
                kwargs[key] = int(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @property
    def public_text(self) -> str:
        """The public description (tickets stored before it existed get their description redacted)."""
        return self.public_description if self.public_description is not None else redact(self.description)

    @property
    def public_place(self) -> str | None:
        """The public address (tickets stored before it existed get their address redacted)."""
        if self.public_address is not None:
            return self.public_address or None
        return redact(self.address) if self.address else None

    @property
    def last_public_note(self) -> str | None:
        for entry in reversed(self.history):
            if entry.public and entry.note:
                return entry.note
        return self.status_notes


def filer_names(contact: dict[str, str]) -> list[str]:
    """The filer's full name and each part of it ("Pedro Alvarez", "Pedro", "Alvarez")."""
    parts = [contact.get("first_name") or "", contact.get("last_name") or ""]
    full = " ".join(p for p in parts if p)
    return [full, *(w for p in parts for w in p.split() if len(w) >= 3)]


def made_public(text: str, contact: dict[str, str]) -> str:
    """Text about a ticket that anyone may read (its description, a note for the resident): phone
    numbers, e-mails and the like masked, and the filer's own name, which residents type into
    descriptions and staff into notes ("called Rob Baker back")."""
    return mask_names(redact(text), filer_names(contact))


class IdempotencyConflict(Exception):
    """An idempotency key reused for a request that differs from the one it first filed (`ticket_id`)."""

    def __init__(self, ticket_id: str) -> None:
        super().__init__(ticket_id)
        self.ticket_id = ticket_id


class TicketStore(RedisStore):
    """All Redis I/O for tickets; validation and policy live in TicketService."""

    # keys --------------------------------------------------------------
    def key(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}"

    def _history(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}:history"

    @property
    def by_date(self) -> str:
        return f"{self.prefix}tickets:by_date"

    def by_service(self, code: str) -> str:
        return f"{self.prefix}tickets:by_service:{code}"

    def by_status(self, status: str) -> str:
        return f"{self.prefix}tickets:status:{status}"

    def _geo(self, code: str) -> str:
        return f"{self.prefix}tickets:geo:{code}"

    def _recent(self, code: str) -> str:
        return f"{self.prefix}tickets:recent:{code}"

    def _address(self, code: str, address_key: str) -> str:
        return f"{self.prefix}tickets:addr:{code}:{hashlib.sha256(address_key.encode()).hexdigest()[:24]}"

    def _token(self, token: str) -> str:
        return f"{self.prefix}ticket_token:{token}"

    def _idem(self, key: str) -> str:
        return f"{self.prefix}ticket_idem:{key}"

    # create ------------------------------------------------------------
    async def next_id(self) -> str:
        key = f"{self.prefix}tickets:seq"
        await self.redis.set(key, FIRST_TICKET_NUMBER - 1, nx=True)
        return f"311-{await self.redis.incr(key)}"

    async def _replay(self, stored: Any, digest: str | None) -> Ticket | None:
        """The ticket an idempotency key was first used for, or None when it is gone. The key holds "<id>" or
        "<id> <digest of the request>"; a key reused for a different request is refused rather than answered
        with a request the client did not send (keys stored without a digest replay as before)."""
        earlier_id, _, earlier_digest = rv.text(stored).partition(" ")
        if digest and earlier_digest and digest != earlier_digest:
            raise IdempotencyConflict(earlier_id)
        existing = await self.get(earlier_id)
        if existing is not None:
            existing.replayed = True
        return existing

    async def create(self, ticket: Ticket, outbox_stream: str | None = None,
                     request_digest: str | None = None) -> tuple[Ticket, bool]:
        """Store a new ticket (id/token assigned here). Returns (ticket, created); with an
        idempotency key already used, returns the earlier ticket and created=False, or raises
        IdempotencyConflict when `request_digest` says the request differs from the first one."""
        idem = self._idem(ticket.idempotency_key) if ticket.idempotency_key else None
        if idem:  # the common replay: answer without spending a ticket number
            earlier = await self.redis.get(idem)
            existing = await self._replay(earlier, request_digest) if earlier else None
            if existing is not None:
                return existing, False
        ticket.id = await self.next_id()
        ticket.token = ticket.token or secrets.token_urlsafe(12)
        ticket.updated_at = ticket.updated_at or ticket.requested_at
        if not ticket.history:
            ticket.history = [StatusEntry(ticket.requested_at, ticket.status, ticket.sub_status,
                                          None, ticket.source)]
        if ticket.upstream_state is None and outbox_stream:
            ticket.upstream_state = "pending"
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if idem:
                        await pipe.watch(idem)
                        earlier = await pipe.get(idem)
                        if earlier is not None:
                            await pipe.unwatch()
                            existing = await self._replay(earlier, request_digest)
                            if existing is not None:
                                return existing, False
                            raise RuntimeError(f"idempotency key points at missing ticket {earlier!r}")
                    pipe.multi()
                    if idem:
                        pipe.set(idem, f"{ticket.id} {request_digest}" if request_digest else ticket.id,
                                 ex=IDEMPOTENCY_TTL_S)
                    pipe.hset(self.key(ticket.id), mapping=rv.fields(ticket.to_hash()))
                    pipe.rpush(self._history(ticket.id), *[json.dumps(e.__dict__) for e in ticket.history])
                    pipe.zadd(self.by_date, {ticket.id: ticket.requested_at})
                    pipe.zadd(self.by_service(ticket.service_code), {ticket.id: ticket.requested_at})
                    pipe.sadd(self.by_status(ticket.status), ticket.id)
                    pipe.set(self._token(ticket.token), ticket.id)
                    if outbox_stream:
                        pipe.xadd(outbox_stream, {"ticket_id": ticket.id})
                    await pipe.execute()
                    return ticket, True
                except WatchError:
                    continue

    # duplicate detection ----------------------------------------------
    async def index_location(self, ticket: Ticket, address_key: str, window_s: float) -> None:
        """Make an open ticket findable by place for `window_s`: a GEO set per service (trimmed of
        tickets older than the window here, and of closed ones in record_status) and an expiring
        key per normalised address."""
        code, cutoff = ticket.service_code, ticket.requested_at - window_s
        old = await self.redis.zrangebyscore(self._recent(code), "-inf", cutoff, start=0, num=100)
        pipe = self.redis.pipeline(transaction=True)
        if old:
            pipe.zrem(self._geo(code), *old)
            pipe.zrem(self._recent(code), *old)
        if ticket.lat is not None and ticket.long is not None:
            pipe.geoadd(self._geo(code), (ticket.long, ticket.lat, ticket.id))
            pipe.zadd(self._recent(code), {ticket.id: ticket.requested_at})
        if address_key:
            pipe.set(self._address(code, address_key), ticket.id, ex=max(1, int(window_s)))
        await pipe.execute()

    async def near(self, code: str, lat: float | None, long: float | None, address_key: str,
                   radius_m: float, limit: int = 20) -> list[Ticket]:
        """Tickets of `code` within `radius_m` (nearest first) or at the same normalised address:
        candidates only (a GEO search and one GET, O(log n)); duplicates.py decides."""
        ids: list[str] = []
        if lat is not None and long is not None:
            found = await self.redis.geosearch(self._geo(code), longitude=long, latitude=lat, radius=radius_m,
                                               unit="m", sort="ASC", count=limit)
            ids.extend(rv.text(m) for m in found if isinstance(m, bytes | str))  # members only: no WITH* options
        if address_key:
            same = await self.redis.get(self._address(code, address_key))
            if same is not None and rv.text(same) not in ids:
                ids.append(rv.text(same))
        return await self.get_many(ids)

    # read --------------------------------------------------------------
    async def get(self, ticket_id: str, with_history: bool = True) -> Ticket | None:
        if not isinstance(ticket_id, str) or not ticket_id.startswith("311-") or len(ticket_id) > 32:
            return None
        raw = await self.redis.hgetall(self.key(ticket_id))
        if not raw:
            return None
        ticket = Ticket.from_hash(raw)
        if with_history:
            ticket.history = [StatusEntry(**json.loads(e)) for e in await self.redis.lrange(
                self._history(ticket_id), 0, -1)]
        return ticket

    async def get_many(self, ids: list[str]) -> list[Ticket]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(self.key(tid))
        return [Ticket.from_hash(raw) for raw in await pipe.execute() if raw]

    async def id_for_token(self, token: str) -> str | None:
        if not plausible_token(token):
            return None
        value = await self.redis.get(self._token(token))
        return rv.text(value) if value else None

    async def query(self, start: float, end: float, service_codes: list[str] | None = None,
                    statuses: list[str] | None = None) -> list[str]:
        """Ticket ids requested in [start, end], newest first, filtered by service code and status."""
        keys = [self.by_service(c) for c in service_codes] if service_codes else [self.by_date]
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(key, start, end, withscores=True)
        scored: dict[str, float] = {}
        for rows in await pipe.execute():
            for member, score in rows:
                scored[member.decode()] = score
        ids = sorted(scored, key=lambda i: (scored[i], i), reverse=True)
        if statuses and set(statuses) != {OPEN, CLOSED} and ids:
            allowed: set[str] = set()
            for status in statuses:
                flags = await self.redis.smismember(self.by_status(status), ids)
                allowed.update(i for i, ok in zip(ids, flags, strict=True) if ok)
            ids = [i for i in ids if i in allowed]
        return ids

    # update ------------------------------------------------------------
    async def update_fields(self, ticket_id: str, **fields: Any) -> None:
        clean = {k: (json.dumps(v) if isinstance(v, dict | list) else str(v)) for k, v in fields.items()
                 if v is not None}
        if clean:
            await self.redis.hset(self.key(ticket_id), mapping=rv.fields(clean))

    async def count_also_reported(self, ticket_id: str) -> None:
        await self.redis.hincrby(self.key(ticket_id), "also_reported", 1)

    async def media_urls(self, batch_size: int = 500) -> AsyncIterator[str]:
        """The photo URL of every ticket that has one: a ticket's photo is part of its public record, so
        retention keeps the file as long as the ticket."""
        ids = rv.members(await self.redis.zrange(self.by_date, 0, -1))
        for i in range(0, len(ids), batch_size):
            pipe = self.redis.pipeline(transaction=False)
            for tid in ids[i:i + batch_size]:
                pipe.hget(self.key(tid), "media_url")
            for url in await pipe.execute():
                if url:
                    yield rv.text(url)

    async def closed_before(self, cutoff: float, batch_size: int = 500) -> dict[str, bool]:
        """Closed tickets last updated before `cutoff`: whether each one's private parts were purged by this
        version already (those purged before staff notes were are not: PURGE_VERSION)."""
        ids = sorted(rv.text(m) for m in await self.redis.smembers(self.by_status(CLOSED)))
        out: dict[str, bool] = {}
        for i in range(0, len(ids), batch_size):
            chunk = ids[i:i + batch_size]
            pipe = self.redis.pipeline(transaction=False)
            for tid in chunk:
                pipe.hmget(self.key(tid), "updated_at", "private_purged_at", "private_purge_version")
            for tid, (updated, purged, version) in zip(chunk, await pipe.execute(), strict=True):
                if updated is not None and float(updated) < cutoff:
                    out[tid] = purged is not None and rv.text(version or "1") == PURGE_VERSION
        return out

    async def forget_private(self, ticket_id: str, catalogue: Catalogue | None = None) -> None:
        """Drop a ticket's private parts for good, keeping its public record (retention): the private fields, the
        staff-only notes of its history ("caller Ana Torres, cell 980-…" stayed, probe AB), the attributes the
        resident typed (every attribute when its service is not in the `catalogue`) and, for a private service,
        the photo (never public: its file goes at the next purge). Public notes were redacted when written and
        stay."""
        ticket = await self.get(ticket_id)
        if ticket is None:
            return
        service = catalogue.get(ticket.service_code) if catalogue is not None else None
        history = [StatusEntry(**{**e.__dict__, "note": e.note if e.public else None}) for e in ticket.history]
        typed = service.free_text_codes() if service is not None else None
        attributes = {k: v for k, v in ticket.attributes.items() if typed is not None and k not in typed}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key(ticket_id), mapping={"public_description": ticket.public_text,
                                                "public_address": ticket.public_place or "",
                                                "address": ticket.public_place or "",
                                                "attributes": json.dumps(attributes),
                                                "private_purged_at": repr(time.time()),
                                                "private_purge_version": PURGE_VERSION})
        pipe.hdel(self.key(ticket_id), *PRIVATE_FIELDS, *UPSTREAM_FIELDS,
                  *(("media_url",) if service is not None and service.private else ()))
        pipe.delete(self._history(ticket_id))
        if history:
            pipe.rpush(self._history(ticket_id), *[json.dumps(e.__dict__) for e in history])
        await pipe.execute()

    def _change(self, key: str) -> str:
        return f"{self.prefix}ticket_change:{key}"

    async def latest_event_at(self, ticket_id: str) -> float | None:
        """When the newest change a sender dated happened (its own clock, e.g. a webhook's `updated_datetime`)."""
        raw = await self.redis.hget(self.key(ticket_id), "event_at")
        return float(raw) if raw else None

    async def change_digest(self, change_key: str) -> str | None:
        """What the change first recorded under `change_key` was (its sender's digest), "" when it was recorded
        without one, None when the key is new."""
        raw = await self.redis.get(self._change(change_key))
        return None if raw is None else [*rv.text(raw).split(" "), "", ""][2]

    async def record_status(self, ticket: Ticket, entry: StatusEntry, change_key: str | None = None,
                            also: Callable[[Pipeline], object] | None = None, event_at: float | None = None,
                            change_digest: str = "") -> bool:
        """Append a history entry and move the ticket's status (and status index) to it.

        With `change_key`, a key seen before records nothing and returns False (the same upstream
        change read twice); `change_digest` is kept with the key to tell a reused key (change_digest()).
        `also` adds commands to the same transaction (the notification job), so a recorded change always
        has its job and a job always has its change. `event_at`: when the sender says the change happened
        (later changes older than it are not applied)."""
        previous = ticket.status
        fields: dict[str, str] = {"status": entry.status, "sub_status": entry.sub_status}
        if event_at is not None:
            fields["event_at"] = repr(event_at)
        if entry.public or (entry.status, entry.sub_status) != (ticket.status, ticket.sub_status):
            fields["updated_at"] = repr(entry.ts)  # a staff-only note is no public update (Open311 updated_datetime)
        if entry.note and entry.public:
            fields["status_notes"] = entry.note
        guard = self._change(change_key) if change_key else None
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    if guard:
                        await pipe.watch(guard)
                        if await pipe.exists(guard):
                            await pipe.unwatch()
                            return False
                    pipe.multi()
                    if guard:
                        pipe.set(guard, f"{ticket.id} {entry.change_id} {change_digest}".rstrip(), ex=IDEMPOTENCY_TTL_S)
                    pipe.hset(self.key(ticket.id), mapping=rv.fields(fields))
                    pipe.rpush(self._history(ticket.id), json.dumps(entry.__dict__))
                    if entry.note and not entry.public:  # private again: a ticket purged before is purged again
                        pipe.hdel(self.key(ticket.id), "private_purged_at")
                    if previous != entry.status:
                        pipe.srem(self.by_status(previous), ticket.id)
                        pipe.sadd(self.by_status(entry.status), ticket.id)
                    if entry.status == CLOSED:  # a closed ticket is nobody's duplicate any more
                        pipe.zrem(self._geo(ticket.service_code), ticket.id)
                        pipe.zrem(self._recent(ticket.service_code), ticket.id)
                    if also is not None:
                        also(pipe)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        ticket.status, ticket.sub_status = entry.status, entry.sub_status
        if "updated_at" in fields:
            ticket.updated_at = entry.ts
        if "status_notes" in fields:
            ticket.status_notes = entry.note
        ticket.history.append(entry)
        return True
