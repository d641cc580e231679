"""Forwarding tickets to the city's upstream Open311 endpoint through the durable stream outbox.

- Every new ticket is XADDed to `<prefix>outbox` (`{"ticket_id": ...}`) in the same transaction
  that stores it (TicketStore.create), so a stored ticket is always forwarded — even if this
  process dies the next instant.
- The generic stream outbox (chat_server/stream_outbox.py) reads that stream through the consumer
  group `upstream`, one job at a time in filing order, and acknowledges an entry only after the
  upstream answered with an id. Upstream down → the job is retried with exponential backoff
  (base·2^n, capped, with jitter) for as long as it takes; nothing is dropped. Jobs of a dead
  worker are taken over (heartbeat `<prefix>outbox:alive:<consumer>`, and after
  `upstream_claim_idle_s` in any case).
- Here: POSTing one ticket (form-encoded, api_key). No duplicates upstream: each POST carries
  `idempotency_key=<our ticket id>`, which chat311's own POST requests honours (a replay returns
  the first request), and a ticket that already has an upstream id is never sent again.
- Permanent rejections (400/404/422) are recorded on the ticket (upstream_state=failed) and
  moved to `<prefix>outbox:dead` for a person to look at, instead of being retried forever.
- A forwarded ticket is added to `<prefix>outbox:tracked` (ticket id → next poll time), which
  chat_server/status/poller.py reads back from the upstream.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp
from redis.asyncio import Redis

from chat_server.stream_outbox import GiveUp, Outbox, Retry, RetryPolicy
from chat_server.tickets.settings import TicketsConfig
from chat_server.tickets.store import Ticket, TicketStore

log = logging.getLogger("chat311.outbox")

GROUP = "upstream"
PERMANENT = (400, 404, 422)


def tracked_key(prefix: str) -> str:
    """Sorted set of forwarded open tickets (score: when to read them back upstream next)."""
    return f"{prefix}outbox:tracked"


def dead_letters_key(prefix: str) -> str:
    """Stream of tickets the upstream system refused for good, with its reason, for a person to look at."""
    return f"{prefix}outbox:dead"


class UpstreamOutbox:
    """The upstream forwarding worker: the stream outbox with the Open311 POST as its sender."""

    def __init__(self, redis: Redis, prefix: str, store: TicketStore, config: TicketsConfig) -> None:
        self.redis = redis
        self.store = store
        self.config = config
        self.dead = dead_letters_key(prefix)
        self.tracked = tracked_key(prefix)
        self.base = config.upstream_url.rstrip("/")
        policy = RetryPolicy(max_attempts=None, base_s=config.upstream_retry_base_s,
                             max_s=config.upstream_retry_max_s, jitter=0.2)
        self.outbox = Outbox(redis, f"{prefix}outbox", self.deliver, policy, config.upstream_claim_idle_s,
                             on_failure=self.dead_letter, key_field=None, group=GROUP)
        self.stream = self.outbox.stream  # where TicketStore.create writes new tickets' jobs
        self._session: aiohttp.ClientSession | None = None

    # lifecycle (app_hooks.run_with_app) ---------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.upstream_timeout_s))
        await self.outbox.start()
        log.info("outbox worker started", extra={"consumer": self.outbox.consumer, "upstream": self.base})

    async def stop(self) -> None:
        await self.outbox.stop()
        if self._session is not None:
            await self._session.close()

    # the outbox's sender and failure hook -------------------------------------------------
    async def deliver(self, job: dict[str, Any]) -> None:
        ticket_id = str(job.get("ticket_id", ""))
        try:
            await self.forward(ticket_id)
        except Retry as exc:
            log.warning("upstream unavailable; will retry", extra={"ticket": ticket_id, "error": str(exc)[:200]})
            raise

    async def dead_letter(self, job: dict[str, Any], reason: str) -> None:
        ticket_id = str(job.get("ticket_id", ""))
        log.error("upstream rejected ticket; moved to dead letters", extra={"ticket": ticket_id, "error": reason[:300]})
        if await self.store.get(ticket_id, with_history=False) is not None:
            await self.store.update_fields(ticket_id, upstream_state="failed", upstream_error=reason[:500])
        await self.redis.xadd(self.dead, {"ticket_id": ticket_id, "error": reason[:500], "ts": f"{time.time():.3f}"})

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
        for code, answer in ticket.attributes.items():
            if isinstance(answer, list):
                form += [(f"attribute[{code}][]", v) for v in answer]
            else:
                form.append((f"attribute[{code}]", answer))
        return form

    async def forward(self, ticket_id: str) -> None:
        ticket = await self.store.get(ticket_id, with_history=False)
        if ticket is None:
            raise GiveUp(f"ticket {ticket_id!r} no longer exists")
        if ticket.upstream_id:
            return  # already forwarded (e.g. a crash between storing the id and XACK)
        assert self._session is not None
        try:
            async with self._session.post(f"{self.base}/requests.json", data=self._form(ticket)) as resp:
                body = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Retry(f"{type(exc).__name__}: {exc}") from exc
        if status in PERMANENT:
            raise GiveUp(f"HTTP {status}: {_description(body)}")
        if status not in (200, 201):
            raise Retry(f"HTTP {status}: {_description(body)}")
        try:
            first = json.loads(body)[0]
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            raise Retry(f"unreadable upstream reply: {body[:200]!r}") from exc
        upstream_id = first.get("service_request_id")
        token = first.get("token")
        if not upstream_id and not token:
            raise Retry("upstream reply has neither service_request_id nor token")
        await self.store.update_fields(
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
