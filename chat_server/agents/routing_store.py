"""Routing state in Redis: the queue, offers, agents' loads and sockets, with Lua for atomicity.

The Redis side of agent assignment; the pure decisions (who gets what, waits) are `routing.py`.

Every chat_server process runs the same dispatcher; the Lua scripts make each step (assign,
accept, expire an offer, reap a vanished agent, transfer, release) one atomic operation, so
two processes can never hand the same conversation out twice or push an agent over capacity.
All keys share the `{rt}` hash tag so the scripts also run on Redis Cluster.

Keys (P = <prefix>{rt}:):
  P queue                 zset  cid → its turn: waiting since (epoch s; kept on requeue, so it keeps its place),
                                less URGENT_AHEAD_S for a chat whose resident reported an emergency
  P q:<cid>               hash  lang, dept, since, back (when an agent who had it gave it back: its wait
                                restarts there, its place does not), pos, eta (position and wait last told),
                                urgent ("1": an emergency was reported; goes ahead of every other chat)
                                (until the conversation leaves routing)
  P q:<cid>:declined      set   agents who declined / let the offer expire
  P offers                zset  cid → offer deadline
  P offer:<cid>           str   agent offered the conversation
  P assigned:<cid>        str   agent who has the conversation
  P agents                set   usernames known to routing
  P a:<user>              hash  name, status (online|missed|away|offline), cap, langs ",en,es,", depts ",*,",
                                idle_since, gone_at, away_at (a missed offer: set away then unless they stay)
  P a:<user>:chats        set   offered + assigned conversations (its size is the agent's load)
  P a:<user>:socks        zset  socket id → last seen (each process refreshes its own sockets)
  P handle                list  recent handle times (s)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from chat_server.agents.hours import Override
from chat_server.agents.routing import AgentState, QueuedConversation
from chat_server.redis_store import RedisStore
from chat_server.redis_values import members, scored_members, text, text_map

# An urgent chat's turn comes before that of every chat that is not (a year is longer than any wait).
URGENT_AHEAD_S = 365 * 86400

_COMMON = """
local P = ARGV[1]
-- the queue score of a conversation: since, or far earlier when urgent (nil: not in routing)
local function turn(cid)
  local q = redis.call('HMGET', P..'q:'..cid, 'since', 'urgent')
  if not q[1] then return nil end
  if q[2] == '1' then return tonumber(q[1]) - """ + str(URGENT_AHEAD_S) + """ end
  return q[1]
end
local function fresh(u, cut)
  return redis.call('ZCOUNT', P..'a:'..u..':socks', cut, '+inf') > 0
end
"""

# ARGV: P, now, socket_cut, offer_deadline, max_assignments → {cid, user, cid, user, ...}
DISPATCH = _COMMON + """
local now = tonumber(ARGV[2]); local cut = tonumber(ARGV[3]); local deadline = ARGV[4]; local max_n = tonumber(ARGV[5])
local agents = {}
for _, u in ipairs(redis.call('SMEMBERS', P..'agents')) do
  local a = redis.call('HMGET', P..'a:'..u, 'status', 'cap', 'langs', 'depts', 'idle_since', 'gone_at')
  if a[1] == 'online' and (tonumber(a[6]) or 0) == 0 and fresh(u, cut) then
    local load = redis.call('SCARD', P..'a:'..u..':chats')
    local cap = tonumber(a[2]) or 0
    if load < cap then
      table.insert(agents, {u = u, load = load, cap = cap, langs = a[3] or '', depts = a[4] or '',
                            idle = tonumber(a[5]) or 0})
    end
  end
end
local out = {}
if #agents == 0 then return out end
for _, cid in ipairs(redis.call('ZRANGE', P..'queue', 0, -1)) do
  if #out >= 2 * max_n then break end
  local q = redis.call('HMGET', P..'q:'..cid, 'lang', 'dept')
  local lang = q[1] or 'en'
  local dept = q[2] or ''
  local best = nil
  for _, a in ipairs(agents) do
    if a.load < a.cap and string.find(a.langs, ','..lang..',', 1, true)
       and (dept == '' or dept == 'general' or string.find(a.depts, ',*,', 1, true)
            or string.find(a.depts, ','..dept..',', 1, true))
       and redis.call('SISMEMBER', P..'q:'..cid..':declined', a.u) == 0 then
      local free, bfree = a.cap - a.load, 0
      if best then bfree = best.cap - best.load end
      if best == nil or free > bfree or (free == bfree and (a.idle < best.idle
         or (a.idle == best.idle and a.u < best.u))) then best = a end
    end
  end
  if best then
    redis.call('ZREM', P..'queue', cid)
    redis.call('SET', P..'offer:'..cid, best.u)
    redis.call('ZADD', P..'offers', deadline, cid)
    redis.call('SADD', P..'a:'..best.u..':chats', cid)
    redis.call('HSET', P..'a:'..best.u, 'idle_since', now)
    best.load = best.load + 1
    best.idle = now
    table.insert(out, cid)
    table.insert(out, best.u)
  end
end
return out
"""

# ARGV: P, cid, user → 1 if the offer was this agent's and is now an assignment
ACCEPT = _COMMON + """
local cid = ARGV[2]; local u = ARGV[3]
if redis.call('GET', P..'offer:'..cid) ~= u then return 0 end
redis.call('DEL', P..'offer:'..cid)
redis.call('ZREM', P..'offers', cid)
redis.call('SET', P..'assigned:'..cid, u)
return 1
"""

# ARGV: P, cid, user, timed_out ('1'/'0') → 1 if the offer was withdrawn and the conversation requeued
DECLINE = _COMMON + """
local cid = ARGV[2]; local u = ARGV[3]
if redis.call('GET', P..'offer:'..cid) ~= u then return 0 end
redis.call('DEL', P..'offer:'..cid)
redis.call('ZREM', P..'offers', cid)
redis.call('SREM', P..'a:'..u..':chats', cid)
-- A missed offer stops new offers at once and warns the agent ("missed"); they become "away" at
-- ARGV[5] unless they say they are still here (ARGV[5] '0': away at once). An explicit decline means
-- "not me".
if ARGV[4] == '1' then
  if ARGV[5] == '0' then redis.call('HSET', P..'a:'..u, 'status', 'away')
  elseif redis.call('HGET', P..'a:'..u, 'status') == 'online' then
    redis.call('HSET', P..'a:'..u, 'status', 'missed', 'away_at', ARGV[5])
  end
else redis.call('SADD', P..'q:'..cid..':declined', u) end
local score = turn(cid)
if score then redis.call('ZADD', P..'queue', score, cid) end
return 1
"""

# ARGV: P, cid → 1 if the conversation is in routing (queued, offered or assigned) and now urgent; a queued
# one moves ahead of every chat that is not urgent, an offered or assigned one keeps that turn if it comes back
URGENT = _COMMON + """
local cid = ARGV[2]
if redis.call('EXISTS', P..'q:'..cid) == 0 then return 0 end
redis.call('HSET', P..'q:'..cid, 'urgent', '1')
if redis.call('ZSCORE', P..'queue', cid) then redis.call('ZADD', P..'queue', turn(cid), cid) end
return 1
"""

# ARGV: P, user, now → 1 if the agent was warned after a missed offer, did not answer, and is now away
AWAY_IF_MISSED = _COMMON + """
local key = P..'a:'..ARGV[2]
local a = redis.call('HMGET', key, 'status', 'away_at')
if a[1] ~= 'missed' or (tonumber(a[2]) or 0) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', key, 'status', 'away')
return 1
"""

# ARGV: P, now → {cid, user, ...} offers past their deadline
EXPIRED = _COMMON + """
return redis.call('ZRANGEBYSCORE', P..'offers', '-inf', ARGV[2])
"""

# ARGV: P, cid → owner ('' if none); removes the conversation from routing entirely
RELEASE = _COMMON + """
local cid = ARGV[2]
local owner = redis.call('GET', P..'assigned:'..cid) or redis.call('GET', P..'offer:'..cid) or ''
if owner ~= '' then redis.call('SREM', P..'a:'..owner..':chats', cid) end
redis.call('DEL', P..'assigned:'..cid, P..'offer:'..cid, P..'q:'..cid, P..'q:'..cid..':declined')
redis.call('ZREM', P..'offers', cid)
redis.call('ZREM', P..'queue', cid)
if owner ~= '' then redis.call('HSET', P..'a:'..owner, 'idle_since', ARGV[3]) end
return owner
"""

# ARGV: P, cid, from_user, decline ('1' = don't offer back to from_user) → 1 if requeued
REQUEUE = _COMMON + """
local cid = ARGV[2]; local u = ARGV[3]
if redis.call('GET', P..'assigned:'..cid) ~= u then return 0 end
redis.call('DEL', P..'assigned:'..cid)
redis.call('SREM', P..'a:'..u..':chats', cid)
if ARGV[4] == '1' then redis.call('SADD', P..'q:'..cid..':declined', u) end
local since = redis.call('HGET', P..'q:'..cid, 'since') or ARGV[5]
redis.call('HSET', P..'q:'..cid, 'since', since, 'back', ARGV[5], 'pos', 0)
redis.call('ZADD', P..'queue', turn(cid), cid)
return 1
"""

# ARGV: P, cid, from_user, to_user, socket_cut → 1 moved, 0 not yours, -1 target cannot take it
TRANSFER = _COMMON + """
local cid = ARGV[2]; local u = ARGV[3]; local to = ARGV[4]; local cut = tonumber(ARGV[5])
if redis.call('GET', P..'assigned:'..cid) ~= u then return 0 end
local a = redis.call('HMGET', P..'a:'..to, 'status', 'cap', 'gone_at')
if a[1] ~= 'online' or (tonumber(a[3]) or 0) ~= 0 or not fresh(to, cut) then return -1 end
if redis.call('SCARD', P..'a:'..to..':chats') >= (tonumber(a[2]) or 0) then return -1 end
redis.call('SREM', P..'a:'..u..':chats', cid)
redis.call('SADD', P..'a:'..to..':chats', cid)
redis.call('SET', P..'assigned:'..cid, to)
return 1
"""

# ARGV: P, user, now, socket_cut, grace → {} (still here / in grace) or {'gone', cid...} (chats to requeue)
REAP = _COMMON + """
local u = ARGV[2]; local now = tonumber(ARGV[3]); local cut = tonumber(ARGV[4]); local grace = tonumber(ARGV[5])
local key = P..'a:'..u
redis.call('ZREMRANGEBYSCORE', key..':socks', '-inf', '(' .. cut)
if redis.call('ZCARD', key..':socks') > 0 then return {} end
local status = redis.call('HGET', key, 'status')
if status == 'offline' or not status then return {} end
local gone = tonumber(redis.call('HGET', key, 'gone_at') or '0') or 0
if gone == 0 then gone = now; redis.call('HSET', key, 'gone_at', now) end
if now - gone < grace then return {} end
redis.call('HSET', key, 'status', 'offline')
local out = {'gone'}
for _, cid in ipairs(redis.call('SMEMBERS', key..':chats')) do
  local kind = 'assigned'
  if redis.call('GET', P..'offer:'..cid) == u then
    kind = 'offered'
    redis.call('DEL', P..'offer:'..cid)
    redis.call('ZREM', P..'offers', cid)
  else
    redis.call('DEL', P..'assigned:'..cid)
    if redis.call('EXISTS', P..'q:'..cid) == 1 then redis.call('HSET', P..'q:'..cid, 'back', now) end
  end
  local score = turn(cid)
  if score then redis.call('ZADD', P..'queue', score, cid) end
  table.insert(out, cid)
  table.insert(out, kind)
end
redis.call('DEL', key..':chats')
return out
"""


@dataclass
class QueueEntry(QueuedConversation):
    position: int = 0
    offered_to: str = ""  # waiting on this agent's answer to an offer (out of the queue meanwhile)
    back: float = 0.0  # when an agent who had it gave it back (0: never served)
    eta: int = 0  # the wait last told to the resident, in whole minutes (0: "less than a minute")

    @property
    def waiting_since(self) -> float:
        """Since when the resident has waited without an agent: a requeued chat keeps its place (`since`), but
        the time it spent with an agent is not waiting (probe S saw "Waiting 9 min" for a chat served for 8)."""
        return self.back or self.since


class RoutingStore(RedisStore):
    HANDLE_SAMPLES = 50

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix)
        self.routing_keys = f"{prefix}{{rt}}:"
        self._scripts = {name: redis.register_script(src) for name, src in (
            ("dispatch", DISPATCH), ("urgent", URGENT), ("accept", ACCEPT), ("decline", DECLINE),
            ("expired", EXPIRED), ("release", RELEASE), ("requeue", REQUEUE), ("transfer", TRANSFER), ("reap", REAP),
            ("away_if_missed", AWAY_IF_MISSED))}

    async def _run(self, name: str, *args: Any) -> Any:
        return await self._scripts[name](keys=[f"{self.routing_keys}queue"], args=[self.routing_keys, *args])

    # agents -------------------------------------------------------------------
    async def agent_connected(self, username: str, name: str, capacity: int, languages: list[str],
                              departments: list[str], sid: str, now: float) -> None:
        key = f"{self.routing_keys}a:{username}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"name": name, "cap": str(capacity), "langs": "," + ",".join(languages) + ",",
                                "depts": "," + ",".join(departments) + ",", "gone_at": "0"})
        pipe.hsetnx(key, "idle_since", f"{now:.3f}")
        pipe.zadd(f"{key}:socks", {sid: now})
        pipe.sadd(f"{self.routing_keys}agents", username)
        await pipe.execute()
        status = await self.redis.hget(key, "status")
        if status is None or status == b"offline":
            await self.redis.hset(key, "status", "online")

    async def touch(self, sockets: dict[str, list[str]], now: float) -> None:
        """Refresh this process's live sockets (username → socket ids)."""
        if not sockets:
            return
        pipe = self.redis.pipeline(transaction=False)
        for username, sids in sockets.items():
            pipe.zadd(f"{self.routing_keys}a:{username}:socks", dict.fromkeys(sids, now))
        await pipe.execute()

    async def socket_gone(self, username: str, sid: str, now: float) -> int:
        """Forget one socket; the agent's grace period starts when its last socket is gone."""
        key = f"{self.routing_keys}a:{username}"
        await self.redis.zrem(f"{key}:socks", sid)
        left = int(await self.redis.zcard(f"{key}:socks"))
        if left == 0:
            await self.redis.hset(key, "gone_at", f"{now:.3f}")
        return left

    async def set_status(self, username: str, status: str) -> None:
        await self.redis.hset(f"{self.routing_keys}a:{username}", "status", status)

    async def status(self, username: str) -> str:
        value = await self.redis.hget(f"{self.routing_keys}a:{username}", "status")
        return text(value) if value else "offline"

    async def agent_names(self) -> list[str]:
        return sorted(text(u) for u in await self.redis.smembers(f"{self.routing_keys}agents"))

    async def agents(self, socket_cut: float) -> list[AgentState]:
        out = []
        for username in await self.agent_names():
            key = f"{self.routing_keys}a:{username}"
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(key)
            pipe.scard(f"{key}:chats")
            pipe.zcount(f"{key}:socks", socket_cut, "+inf")
            raw, load, socks = await pipe.execute()
            f = text_map(raw)
            out.append(AgentState(
                username, f.get("status", "offline"), int(socks) > 0 and float(f.get("gone_at", "0") or 0) == 0,
                int(load), int(f.get("cap", "0") or 0), [x for x in f.get("langs", "").split(",") if x],
                [x for x in f.get("depts", "").split(",") if x], float(f.get("idle_since", "0") or 0)))
        return out

    async def agent_name(self, username: str) -> str:
        value = await self.redis.hget(f"{self.routing_keys}a:{username}", "name")
        return text(value) if value else username

    async def chats_of(self, username: str) -> list[str]:
        return sorted(text(c) for c in await self.redis.smembers(f"{self.routing_keys}a:{username}:chats"))

    # conversations ------------------------------------------------------------
    async def enqueue(self, cid: str, language: str, department: str, since: float, told_position: int = 0,
                      told_eta: int = 0) -> None:
        """`told_*`: the place in line and wait (set_position's units) the resident was told on joining."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(f"{self.routing_keys}q:{cid}", mapping={"lang": language, "dept": department, "since": f"{since:.6f}",
                                                "pos": str(told_position), "eta": str(told_eta)})
        pipe.zadd(f"{self.routing_keys}queue", {cid: since})
        await pipe.execute()

    async def queue(self) -> list[QueueEntry]:
        """Every queued conversation, oldest first: two round trips however long the queue (the
        dispatcher reads it every tick in every process)."""
        rows = scored_members(await self.redis.zrange(f"{self.routing_keys}queue", 0, -1, withscores=True))
        if not rows:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cid, _ in rows:
            pipe.hgetall(f"{self.routing_keys}q:{cid}")
            pipe.smembers(f"{self.routing_keys}q:{cid}:declined")
        replies = await pipe.execute()
        out = []
        for (cid, score), raw, declined in zip(rows, replies[::2], replies[1::2], strict=True):
            f = text_map(raw)
            out.append(QueueEntry(cid, f.get("lang", "en"), f.get("dept", ""), float(f.get("since") or score),
                                  frozenset(text(d) for d in declined), f.get("urgent") == "1",
                                  int(f.get("pos", "0") or 0), back=float(f.get("back") or 0),
                                  eta=int(f.get("eta", "0") or 0)))
        return out

    async def waiting(self) -> list[QueueEntry]:
        """Every conversation waiting for an agent: the queue, and the chats offered to an agent who has not
        answered yet (out of the queue meanwhile, but the resident is still waiting: the dashboard showed
        nobody waiting for the whole offer window)."""
        offered = members(await self.redis.zrange(f"{self.routing_keys}offers", 0, -1))
        out = await self.queue()
        if not offered:
            return out
        pipe = self.redis.pipeline(transaction=False)
        for cid in offered:
            pipe.hgetall(f"{self.routing_keys}q:{cid}")
            pipe.get(f"{self.routing_keys}offer:{cid}")
        replies = await pipe.execute()
        for cid, raw, agent in zip(offered, replies[::2], replies[1::2], strict=True):
            f = text_map(raw)
            if not f or not agent:
                continue  # accepted or withdrawn meanwhile
            out.append(QueueEntry(cid, f.get("lang", "en"), f.get("dept", ""), float(f.get("since") or 0),
                                  urgent=f.get("urgent") == "1", offered_to=text(agent),
                                  back=float(f.get("back") or 0), eta=int(f.get("eta", "0") or 0)))
        return out

    async def undecline(self, cid: str, username: str) -> None:
        """The agent wants this chat after all (they sent it back to the queue, or let its offer pass)."""
        await self.redis.srem(f"{self.routing_keys}q:{cid}:declined", username)

    async def mark_urgent(self, cid: str) -> bool:
        """An emergency was reported in this chat: it goes ahead of every chat that is not urgent. False if
        the conversation is not in routing (with the bot, or closed)."""
        return bool(await self._run("urgent", cid))

    async def set_position(self, cid: str, position: int, eta: int | None = None) -> bool:
        """Remember the position (and wait, in the words' unit) last told to the resident; False if
        both are unchanged (nothing new to say). `eta` None leaves the told wait as it was."""
        key = f"{self.routing_keys}q:{cid}"
        old_pos, old_eta = await self.redis.hmget(key, "pos", "eta")
        same_eta = eta is None or (old_eta is not None and int(old_eta) == eta)
        if old_pos is not None and int(old_pos) == position and same_eta:
            return False
        await self.redis.hset(key, mapping={"pos": str(position), **({"eta": str(eta)} if eta is not None else {})})
        return True

    async def mark_ticket_offered(self, cid: str) -> bool:
        """True exactly once per conversation (first process to get here tells the resident)."""
        return bool(await self.redis.hsetnx(f"{self.routing_keys}q:{cid}:flags", "ticket_offered", "1"))

    async def dispatch(self, now: float, socket_cut: float, offer_deadline: float,
                       max_assignments: int = 100) -> list[tuple[str, str]]:
        flat = [text(x) for x in await self._run("dispatch", f"{now:.3f}", f"{socket_cut:.3f}",
                                               f"{offer_deadline:.3f}", max_assignments)]
        return list(zip(flat[::2], flat[1::2], strict=True))

    async def offered_to(self, cid: str) -> str | None:
        value = await self.redis.get(f"{self.routing_keys}offer:{cid}")
        return text(value) if value else None

    async def owner(self, cid: str) -> str | None:
        value = await self.redis.get(f"{self.routing_keys}assigned:{cid}")
        return text(value) if value else None

    async def accept(self, cid: str, username: str) -> bool:
        return bool(await self._run("accept", cid, username))

    async def decline(self, cid: str, username: str, mark_away: bool = False, away_at: float = 0) -> bool:
        """Withdraw an offer; back in the queue. mark_away=False: the agent said "not me" (never offered
        it again). mark_away=True: the offer timed out; the agent gets no new offers and is away from
        `away_at` (0: at once) unless they say they are still here."""
        return bool(await self._run("decline", cid, username, "1" if mark_away else "0",
                                    f"{away_at:.3f}" if away_at else "0"))

    async def offer_deadline(self, cid: str) -> float | None:
        score = await self.redis.zscore(f"{self.routing_keys}offers", cid)
        return float(score) if score is not None else None


    async def away_in(self, username: str, now: float) -> float:
        """Seconds until a warned agent ("missed") becomes away; 0 if not warned."""
        status, away_at = await self.redis.hmget(f"{self.routing_keys}a:{username}", "status", "away_at")
        if status != b"missed" or away_at is None:
            return 0.0
        return max(0.0, float(away_at) - now)

    async def away_if_missed(self, username: str, now: float) -> bool:
        return bool(await self._run("away_if_missed", username, f"{now:.3f}"))

    async def expired_offers(self, now: float) -> list[str]:
        return [text(c) for c in await self._run("expired", f"{now:.3f}")]

    async def release(self, cid: str, now: float) -> str | None:
        owner = text(await self._run("release", cid, f"{now:.3f}"))
        await self.redis.delete(f"{self.routing_keys}q:{cid}:flags")
        return owner or None

    async def requeue(self, cid: str, username: str, decline: bool, now: float) -> bool:
        return bool(await self._run("requeue", cid, username, "1" if decline else "0", f"{now:.6f}"))

    async def transfer(self, cid: str, username: str, to: str, socket_cut: float) -> int:
        return int(await self._run("transfer", cid, username, to, f"{socket_cut:.3f}"))

    async def reap(self, username: str, now: float, socket_cut: float, grace_s: float) -> list[tuple[str, str]] | None:
        """None while the agent is here or within grace; else the (cid, offered|assigned) chats requeued."""
        flat = [text(x) for x in await self._run("reap", username, f"{now:.3f}", f"{socket_cut:.3f}", f"{grace_s:.3f}")]
        if not flat:
            return None
        rest = flat[1:]
        return list(zip(rest[::2], rest[1::2], strict=True))

    # handle times and hours override ------------------------------------------
    async def record_handle(self, seconds: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(f"{self.routing_keys}handle", f"{seconds:.1f}")
        pipe.ltrim(f"{self.routing_keys}handle", 0, self.HANDLE_SAMPLES - 1)
        await pipe.execute()

    async def recent_handles(self) -> list[float]:
        return [float(v) for v in await self.redis.lrange(f"{self.routing_keys}handle", 0, -1)]

    @property
    def _override_key(self) -> str:
        return f"{self.prefix}hours:override"

    async def hours_override(self) -> Override | None:
        from datetime import UTC, datetime

        raw = await self.redis.get(self._override_key)
        if not raw:
            return None
        data = json.loads(raw)
        until = datetime.fromtimestamp(float(data["until"]), UTC)
        return Override(data["mode"], until, None, data.get("reason", ""), data.get("by", ""))

    async def set_hours_override(self, mode: str | None, until_ts: float = 0, reason: str = "", by: str = "",
                                 now: float = 0) -> None:
        """Force the line open/closed until `until_ts` (epoch s); mode None clears the override."""
        if mode is None:
            await self.redis.delete(self._override_key)
            return
        if mode not in ("open", "closed"):
            raise ValueError("mode must be open or closed")
        ttl = max(1, int(until_ts - now) + 1) if now else None
        await self.redis.set(self._override_key, json.dumps(
            {"mode": mode, "until": until_ts, "reason": reason, "by": by}), ex=ttl)
