"""Forwarding tickets to the city's upstream Open311 endpoint through a durable outbox.

- Every new ticket is XADDed to `<prefix>outbox` in the same transaction that stores it
  (TicketStore.create), so a stored ticket is always forwarded — even if this process dies
  the next instant.
- One worker per process reads the stream through the consumer group `upstream` under a
  unique consumer name, POSTs each ticket (form-encoded, api_key) and XACKs only after the
  upstream answered with an id. Upstream down → the entry stays pending and the worker backs
  off exponentially (base·2^n, capped, with jitter); nothing is dropped however long it lasts.
- Entries left pending by a dead worker are taken over: immediately when its heartbeat key
  is gone (restart), and by XAUTOCLAIM after `upstream_claim_idle_s` in any case.
- No duplicates upstream: each POST carries `idempotency_key=<our ticket id>`, which
  chat311's own POST requests honours (a replay returns the first request), and a ticket that
  already has an upstream id is never sent again.
- Permanent rejections (400/404/422) are recorded on the ticket (upstream_state=failed) and
  moved to `<prefix>outbox:dead` for a person to look at, instead of being retried forever.
- A forwarded ticket is added to `<prefix>outbox:tracked` (ticket id → next poll time), which
  chat_server/status/poller.py reads back from the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from redis.exceptions import ResponseError

from chat_server.stopping import cancel_and_wait
from chat_server.tickets.store import Ticket

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from chat_server.tickets.service import TicketService

log = logging.getLogger("chat311.outbox")

GROUP = "upstream"
HEARTBEAT_TTL_S = 30
PERMANENT = (400, 404, 422)


def tracked_key(prefix: str) -> str:
    """Sorted set of forwarded open tickets (score: when to read them back upstream next)."""
    return f"{prefix}outbox:tracked"


class TransientError(Exception):
    pass


class PermanentError(Exception):
    pass


class Outbox:
    def __init__(self, redis: Redis, prefix: str, service: TicketService) -> None:
        self.redis = redis
        self.service = service
        self.config = service.terms.tickets
        p = prefix
        self.stream = f"{p}outbox"
        self.dead = f"{p}outbox:dead"
        self.tracked = tracked_key(p)
        self.alive_prefix = f"{p}outbox:alive:"
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.base = self.config.upstream_url.rstrip("/")
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.failures = 0

    # lifecycle ---------------------------------------------------------
    async def start(self, app: web.Application) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.upstream_timeout_s))
        self._tasks = [asyncio.create_task(self._forever(self.run_once, "worker"))]
        log.info("outbox worker started", extra={"consumer": self.consumer, "upstream": self.base})

    async def stop(self, app: web.Application) -> None:
        await cancel_and_wait(self._tasks)
        with contextlib.suppress(Exception):
            await self.redis.delete(self.alive_prefix + self.consumer)
        if self._session is not None:
            await self._session.close()

    async def _forever(self, step: Any, name: str) -> None:
        while True:
            try:
                delay = await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox %s step failed", name)
                delay = 2.0
            if delay:
                await asyncio.sleep(delay)

    # worker --------------------------------------------------------------
    async def _entries(self) -> list[tuple[str, dict[bytes, bytes]]]:
        """My own pending entries first (retries), then entries of dead workers, then new ones."""
        await self.redis.set(self.alive_prefix + self.consumer, "1", ex=HEARTBEAT_TTL_S)
        own = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: "0"}, count=50)
        rows = own[0][1] if own else []
        if rows:
            return [(i.decode(), f) for i, f in rows]
        claimed = await self._take_over()
        if claimed:
            return claimed
        new = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=50, block=2000)
        return [(i.decode(), f) for i, f in new[0][1]] if new else []

    async def _take_over(self) -> list[tuple[str, dict[bytes, bytes]]]:
        out: list[tuple[str, dict[bytes, bytes]]] = []
        for info in await self.redis.xinfo_consumers(self.stream, GROUP):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name == self.consumer:
                continue
            if int(info.get("pending", 0)) == 0:
                if int(info.get("idle", 0)) > 3600_000:
                    await self.redis.xgroup_delconsumer(self.stream, GROUP, name)
                continue
            if await self.redis.exists(self.alive_prefix + name):
                continue
            pending = await self.redis.xpending_range(self.stream, GROUP, min="-", max="+", count=100,
                                                      consumername=name)
            ids = [p["message_id"] for p in pending]
            if ids:
                rows = await self.redis.xclaim(self.stream, GROUP, self.consumer, min_idle_time=0, message_ids=ids)
                out.extend((i.decode(), f) for i, f in rows if f)
                log.info("outbox took over entries of a stopped worker", extra={"from": name, "count": len(rows)})
        if out:
            return out
        idle_ms = int(self.config.upstream_claim_idle_s * 1000)
        result = await self.redis.xautoclaim(self.stream, GROUP, self.consumer, min_idle_time=idle_ms,
                                             start_id="0-0", count=50)
        rows = result[1] if len(result) > 1 else []
        return [(i.decode(), f) for i, f in rows if f]

    async def run_once(self) -> float:
        entries = await self._entries()
        for entry_id, fields in entries:
            ticket_id = fields.get(b"ticket_id", b"").decode()
            try:
                await self.forward(ticket_id)
            except TransientError as exc:
                self.failures += 1
                delay = min(self.config.upstream_retry_base_s * 2 ** (self.failures - 1),
                            self.config.upstream_retry_max_s)
                delay *= random.uniform(0.8, 1.2)
                log.warning("upstream unavailable; will retry", extra={
                    "ticket": ticket_id, "error": str(exc)[:200], "retry_in_s": round(delay, 2),
                    "failures": self.failures})
                return delay
            except PermanentError as exc:
                log.error("upstream rejected ticket; moved to dead letters",
                          extra={"ticket": ticket_id, "error": str(exc)[:300]})
                await self.service.store.update_fields(ticket_id, upstream_state="failed",
                                                       upstream_error=str(exc)[:500])
                await self.redis.xadd(self.dead, {"ticket_id": ticket_id, "error": str(exc)[:500],
                                                  "ts": f"{time.time():.3f}"})
            self.failures = 0
            pipe = self.redis.pipeline(transaction=True)
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()
        return 0.0

    def _form(self, ticket: Ticket) -> list[tuple[str, str]]:
        form: list[tuple[str, str]] = [("api_key", self.config.upstream_api_key),
                                       ("service_code", ticket.service_code), ("idempotency_key", ticket.id)]
        if self.config.upstream_jurisdiction_id:
            form.append(("jurisdiction_id", self.config.upstream_jurisdiction_id))
        if ticket.description or ticket.transcript:  # the city's own system: it gets the private text
            form.append(("description", ticket.description or ticket.transcript or ""))
        if ticket.lat is not None and ticket.long is not None:
            form += [("lat", repr(ticket.lat)), ("long", repr(ticket.long))]
        for key, value in (("address_string", ticket.address), ("address_id", ticket.address_id),
                           ("zipcode", ticket.zipcode), ("media_url", ticket.media_url),
                           ("account_id", ticket.account_id)):
            if value:
                form.append((key, value))
        for key in ("email", "phone", "first_name", "last_name", "device_id"):
            if ticket.contact.get(key):
                form.append((key, ticket.contact[key]))
        for code, value in ticket.attributes.items():
            if isinstance(value, list):
                form += [(f"attribute[{code}][]", v) for v in value]
            else:
                form.append((f"attribute[{code}]", value))
        return form

    async def forward(self, ticket_id: str) -> None:
        ticket = await self.service.store.get(ticket_id, with_history=False)
        if ticket is None:
            raise PermanentError(f"ticket {ticket_id!r} no longer exists")
        if ticket.upstream_id:
            return  # already forwarded (e.g. a crash between storing the id and XACK)
        assert self._session is not None
        try:
            async with self._session.post(f"{self.base}/requests.json", data=self._form(ticket)) as resp:
                body = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        if status in PERMANENT:
            raise PermanentError(f"HTTP {status}: {_description(body)}")
        if status not in (200, 201):
            raise TransientError(f"HTTP {status}: {_description(body)}")
        try:
            first = json.loads(body)[0]
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise TransientError(f"unreadable upstream reply: {body[:200]!r}") from exc
        upstream_id = first.get("service_request_id")
        token = first.get("token")
        if not upstream_id and not token:
            raise TransientError("upstream reply has neither service_request_id nor token")
        await self.service.store.update_fields(
            ticket.id, upstream_id=str(upstream_id) if upstream_id else None,
            upstream_token=str(token) if token else None, upstream_state="sent", upstream_error="")
        await self.redis.zadd(self.tracked, {ticket.id: time.time() + self.config.upstream_poll_s})
        log.info("ticket forwarded upstream", extra={"ticket": ticket.id, "upstream_id": upstream_id})


def _description(body: str) -> str:
    try:
        data = json.loads(body)
        return "; ".join(str(e.get("description")) for e in data)[:300]
    except (ValueError, TypeError, AttributeError):
        return body[:200]
