"""Who hears about a ticket's changes: the one follower store (docs/open311.md, "Following").

A follower is a conversation (web chat, SMS, API or e-mail conversation: told in that
conversation), an SMS number or an e-mail address, with the language they are told in. Each has
an unguessable token for its stop link. The resident who filed a ticket is added the first time
there is something to tell them, unless they stopped following it before.

Redis: `<prefix>ticket:<id>:followers` (hash follower key → JSON), `<prefix>ticket:<id>:unfollowed`
(set of follower keys that stopped), `<prefix>follow:token:<token>` → "<ticket id> <follower key>",
`<prefix>follow:pending:<token>` (a page follow awaiting confirmation, with a TTL).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from chat_server import redis_values as rv
from chat_server.redis_store import RedisStore
from chat_server.sanitize import plausible_token


class FollowerKind(StrEnum):
    CONVERSATION = "conversation"  # address: conversation id
    SMS = "sms"  # address: E.164 phone number
    EMAIL = "email"  # address: e-mail address


@dataclass
class Follower:
    kind: FollowerKind
    address: str
    language: str = "en"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    since: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.address}"

    @property
    def mark(self) -> str:
        """Names the follower in delivery records (who was told about a change, the tag on a
        relayed notice) without holding their phone number or e-mail address there."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:24]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "kind": str(self.kind)})

    @classmethod
    def from_json(cls, raw: bytes | str) -> Follower:
        data = json.loads(raw)
        return cls(FollowerKind(data["kind"]), data["address"], data.get("language", "en"), data["token"],
                   float(data.get("since", 0)))


class FollowerStore(RedisStore):
    def _followers(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}:followers"

    def _unfollowed(self, ticket_id: str) -> str:
        return f"{self.prefix}ticket:{ticket_id}:unfollowed"

    def _token(self, token: str) -> str:
        return f"{self.prefix}follow:token:{token}"

    def _pending(self, token: str) -> str:
        return f"{self.prefix}follow:pending:{token}"

    async def follow(self, ticket_id: str, kind: FollowerKind, address: str, language: str = "en",
                     since: float | None = None) -> Follower:
        """Start following (idempotent: following again keeps the first record and its token).
        Changes recorded after `since` (default: now) are told to this follower."""
        candidate = Follower(kind, address, language if language in ("en", "es") else "en")
        if since is not None:
            candidate.since = since
        raw = await self.redis.hget(self._followers(ticket_id), candidate.key)
        if raw is not None:
            return Follower.from_json(raw)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(self._followers(ticket_id), candidate.key, candidate.to_json())
        pipe.srem(self._unfollowed(ticket_id), candidate.key)
        pipe.set(self._token(candidate.token), f"{ticket_id} {candidate.key}")
        created, _, _ = await pipe.execute()
        if not created:  # a concurrent follow won: keep its record, drop our token
            await self.redis.delete(self._token(candidate.token))
            raw = await self.redis.hget(self._followers(ticket_id), candidate.key)
            assert raw is not None
            return Follower.from_json(raw)
        return candidate

    async def ensure(self, ticket_id: str, kind: FollowerKind, address: str, language: str,
                     since: float) -> Follower | None:
        """Follow unless this follower stopped following the ticket before (the filer's case)."""
        if await self.redis.sismember(self._unfollowed(ticket_id), f"{kind}:{address}"):
            return None
        return await self.follow(ticket_id, kind, address, language, since)

    async def followers(self, ticket_id: str) -> list[Follower]:
        rows = await self.redis.hvals(self._followers(ticket_id))
        return sorted((Follower.from_json(r) for r in rows), key=lambda f: f.since)

    async def by_token(self, token: str) -> tuple[str, Follower] | None:
        """(ticket id, follower) for a stop-link token."""
        if not plausible_token(token):
            return None
        ref = await self.redis.get(self._token(token))
        if ref is None:
            return None
        ticket_id, key = rv.text(ref).split(" ", 1)
        raw = await self.redis.hget(self._followers(ticket_id), key)
        return (ticket_id, Follower.from_json(raw)) if raw is not None else None

    async def stop(self, ticket_id: str, kind: FollowerKind, address: str) -> None:
        """No more updates for this follower, also when they were never recorded (a filer who says
        stop before the first change: `ensure` will not add them later)."""
        key = f"{kind}:{address}"
        raw = await self.redis.hget(self._followers(ticket_id), key)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self._followers(ticket_id), key)
        pipe.sadd(self._unfollowed(ticket_id), key)
        if raw is not None:
            pipe.delete(self._token(Follower.from_json(raw).token))
        await pipe.execute()

    async def followed_tickets(self) -> set[str]:
        """Every ticket someone follows or stopped following (retention: a follow can come after a purge)."""
        out: set[str] = set()
        start = len(f"{self.prefix}ticket:")
        async for key in self.redis.scan_iter(match=f"{self.prefix}ticket:*:*follow*", count=1000):
            name = rv.text(key)
            for end in (":followers", ":unfollowed"):
                if name.endswith(end):
                    out.add(name[start:-len(end)])
        return out

    async def forget(self, ticket_id: str) -> None:
        """Retention: a ticket's followers and those who stopped following are phone numbers and e-mail
        addresses; they went unpurged when its other private parts did (probe AB)."""
        followers = await self.followers(ticket_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self._followers(ticket_id), self._unfollowed(ticket_id))
        for follower in followers:
            pipe.delete(self._token(follower.token))
        await pipe.execute()

    # follow requests from the status page: confirmed by a link sent to the address ---------------
    async def request(self, ticket_id: str, kind: FollowerKind, address: str, language: str, ttl_s: int) -> str:
        token = secrets.token_urlsafe(18)
        value = json.dumps({"ticket_id": ticket_id, "kind": str(kind), "address": address, "language": language})
        await self.redis.set(self._pending(token), value, ex=ttl_s)
        return token

    async def pending(self, token: str) -> dict[str, str] | None:
        if not plausible_token(token):
            return None
        raw = await self.redis.get(self._pending(token))
        return json.loads(raw) if raw else None

    async def confirm(self, token: str) -> tuple[str, Follower] | None:
        """Turn a pending request into a follower (once: the request is consumed)."""
        if not plausible_token(token):
            return None
        raw = await self.redis.getdel(self._pending(token))
        if raw is None:
            return None
        data = json.loads(raw)
        follower = await self.follow(data["ticket_id"], FollowerKind(data["kind"]), data["address"],
                                     data["language"])
        return data["ticket_id"], follower
