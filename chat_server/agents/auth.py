"""Console sessions, CSRF tokens, login throttling and the audit log (all in Redis).

The session cookie holds a random token; Redis stores only its SHA-256, so a leaked Redis dump
does not hand out live sessions. Each session carries its own CSRF token for forms (logout)
and console API calls; the login form, which has no session yet, uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from chat_server.redis_values import stream_entries, text, text_map

SESSION_COOKIE = "c311_agent"
LOGIN_CSRF_COOKIE = "c311_login_csrf"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass
class AgentSession:
    token_hash: str
    username: str
    csrf: str
    created_at: float


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, token_hash: str) -> str:
        return f"{self.prefix}agent_session:{token_hash}"

    async def create(self, username: str) -> tuple[str, AgentSession]:
        token = secrets.token_urlsafe(32)
        session = AgentSession(_digest(token), username, secrets.token_urlsafe(24), time.time())
        key = self._key(session.token_hash)
        await self.redis.hset(key, mapping={"username": username, "csrf": session.csrf,
                                            "created_at": f"{session.created_at:.3f}"})
        await self.redis.expire(key, self.ttl_s)
        await self.redis.sadd(f"{self.prefix}agent_sessions:{username}", session.token_hash)
        return token, session

    async def get(self, token: str | None) -> AgentSession | None:
        if not token or len(token) > 100:
            return None
        token_hash = _digest(token)
        raw = await self.redis.hgetall(self._key(token_hash))
        if not raw:
            return None
        f = text_map(raw)
        return AgentSession(token_hash, f["username"], f["csrf"], float(f.get("created_at", "0")))

    async def delete(self, session: AgentSession) -> None:
        await self.redis.delete(self._key(session.token_hash))
        await self.redis.srem(f"{self.prefix}agent_sessions:{session.username}", session.token_hash)

    async def delete_all(self, username: str) -> None:
        """Log a user out everywhere (disabled account, changed password)."""
        key = f"{self.prefix}agent_sessions:{username}"
        hashes = [text(h) for h in await self.redis.smembers(key)]
        if hashes:
            await self.redis.delete(*(self._key(h) for h in hashes))
        await self.redis.delete(key)


# Reserve one sign-in attempt against both counters, or refuse, in one step: a burst of parallel
# guesses cannot all pass a check that runs before any of them is counted.
# KEYS: pair counter (IP + username), IP counter. ARGV: pair limit, IP limit, window seconds.
_RESERVE = """
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
local ip = tonumber(redis.call('GET', KEYS[2]) or '0')
if pair >= tonumber(ARGV[1]) or ip >= tonumber(ARGV[2]) then return 0 end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 1
"""
# A success gives back only its own reservation: failures raced in beside it stay counted.
_RELEASE = """
for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1
"""


class LoginThrottle:
    """Failed sign-ins per (IP, username) and per IP across usernames, counted in a fixed window.

    Every attempt reserves a slot before the password is checked; a failure keeps it, a success
    returns it. So parallel guesses are counted before any is verified, and a right password
    sent among them cannot wipe the count.
    """

    def __init__(self, redis: Redis, prefix: str, max_failures: int, window_s: int,
                 max_failures_per_ip: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_failures = max_failures
        self.max_failures_per_ip = max_failures_per_ip
        self.window_s = window_s
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    def _keys(self, ip: str, username: str) -> list[str]:
        return [f"{self.prefix}login_fail:{ip}|{username.lower()[:64]}", f"{self.prefix}login_fail_ip:{ip}"]

    async def reserve(self, ip: str, username: str) -> bool:
        """True if this attempt may check a password (and is now counted), False if throttled."""
        allowed = await self._reserve(keys=self._keys(ip, username),
                                      args=[self.max_failures, self.max_failures_per_ip, self.window_s])
        return bool(int(allowed))

    async def succeeded(self, ip: str, username: str) -> None:
        await self._release(keys=self._keys(ip, username))


class AuditLog:
    """Who did what, append-only (Redis Stream `<prefix>audit`)."""

    MAXLEN = 1_000_000

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.stream = f"{prefix}audit"

    async def record(self, actor: str, action: str, conversation_id: str = "", **detail: Any) -> None:
        await self.redis.xadd(self.stream, {
            "ts": f"{time.time():.3f}", "actor": actor, "action": action, "conv": conversation_id,
            "detail": json.dumps(detail, ensure_ascii=False, default=str),
        }, maxlen=self.MAXLEN, approximate=True)

    async def recent(self, count: int = 100) -> list[dict[str, Any]]:
        rows = stream_entries(await self.redis.xrevrange(self.stream, count=count))
        out = []
        for mid, raw in rows:
            f = text_map(raw)
            out.append({"id": text(mid), "ts": float(f["ts"]), "actor": f["actor"], "action": f["action"],
                        "conversation_id": f.get("conv", ""), "detail": json.loads(f.get("detail", "{}"))})
        return out


def parse_cookie_header(header: str, name: str) -> str | None:
    """One cookie's value from a raw Cookie header (Socket.IO connect has no aiohttp helpers)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
