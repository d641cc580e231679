"""Reading status changes back from the city's upstream Open311 server, on an interval.

- Open forwarded tickets (`<prefix>outbox:tracked`, ticket id → next read time) are read back in
  batches with `GET requests.json?service_request_id=a,b,c`; with `status.upstream_updates` the
  `servicerequestupdates` extension is read too, from a cursor kept in Redis (so a restart neither
  skips nor repeats: repeats are dropped anyway by each update's change key).
- Every change goes through TicketStatusService.change with a change key derived from the upstream
  (update id, or status + updated_datetime + notes), so reading the same change twice records one.
- A failed or malformed read changes nothing and the next poll waits poll_s·2^failures (capped,
  ±20 % jitter). The outcome is kept in `<prefix>upstream:health` for /readyz (informational: an
  upstream outage does not make chat311 unready).
- One poller at a time across processes (a short Redis lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from redis.asyncio import Redis

from chat_server import redis_values as rv
from chat_server.status.changes import Source, TicketStatusService
from chat_server.status.settings import StatusConfig
from chat_server.status.upstream_read import MalformedReply, UpstreamState, parse_requests, parse_updates
from chat_server.stopping import cancel_and_wait
from chat_server.tickets.catalogue import TicketValidationError
from chat_server.tickets.outbox import tracked_key
from chat_server.tickets.settings import TicketsConfig
from chat_server.tickets.store import CLOSED, Ticket, TicketStore, made_public

log = logging.getLogger("chat311.status.poller")


class UpstreamUnavailable(Exception):
    """The upstream could not be reached or answered with an error status."""


class UpstreamDown(Exception):
    """Raised by the /readyz check while the last polls failed."""


def health_key(prefix: str) -> str:
    return f"{prefix}upstream:health"


async def upstream_health(redis: Redis, prefix: str) -> dict[str, Any]:
    """The poller's last outcome for /readyz; raises UpstreamDown while polls are failing."""
    raw = rv.text_map(await redis.hgetall(health_key(prefix)))
    failures = int(raw.get("failures", "0"))
    detail = {"failures": failures, "last_ok": float(raw["last_ok"]) if raw.get("last_ok") else None}
    if failures:
        raise UpstreamDown(f"{failures} failed polls; last error: {raw.get('last_error', '')}")
    return detail


class UpstreamPoller:
    def __init__(self, redis: Redis, prefix: str, store: TicketStore, status: TicketStatusService,
                 tickets: TicketsConfig, config: StatusConfig) -> None:
        self.redis = redis
        self.prefix = prefix
        self.store = store
        self.status = status
        self.tickets = tickets
        self.config = config
        self.base = tickets.upstream_url.rstrip("/")
        self.tracked = tracked_key(prefix)
        self.cursor = f"{prefix}upstream:updates_cursor"
        self.lock = f"{prefix}upstream:poll_lock"
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.tickets.upstream_timeout_s))
        self._task = asyncio.create_task(self._run(), name="upstream-poller")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        if self._session:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                delay = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("upstream poll step failed")
                delay = 5.0
            await asyncio.sleep(delay)

    # one round ---------------------------------------------------------------------------------
    async def poll_once(self) -> float:
        """Read what is due; returns seconds until the next round (longer after failures)."""
        interval = self.tickets.upstream_poll_s
        tick = min(interval, 5.0)
        if not await self.redis.set(self.lock, "1", nx=True, ex=max(int(self.tickets.upstream_timeout_s * 3), 10)):
            return tick
        try:
            try:
                # Updates first: they carry the finer status (in_progress, fixed …) that requests.json's
                # open/closed cannot, so the same news read by both is recorded once, with it.
                if self.config.upstream_updates:
                    await self._read_updates()
                await self._read_due()
            except (UpstreamUnavailable, MalformedReply) as exc:
                return await self._failed(exc)
            await self.redis.hset(health_key(self.prefix), mapping={"failures": 0, "last_ok": repr(time.time()),
                                                                    "last_error": ""})
            return tick
        finally:
            with contextlib.suppress(Exception):
                await self.redis.delete(self.lock)

    async def _failed(self, exc: Exception) -> float:
        key = health_key(self.prefix)
        # One transaction: a /readyz between the two writes showed the count with the last success's empty error.
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "failures", 1)
        pipe.hset(key, "last_error", f"{type(exc).__name__}: {exc}"[:300])
        failures = int((await pipe.execute())[0])
        delay: float = min(self.tickets.upstream_poll_s * 2 ** failures, self.config.upstream_backoff_max_s)
        delay *= random.uniform(0.8, 1.2)
        log.warning("upstream status poll failed; backing off", extra={
            "error": str(exc)[:200], "failures": failures, "retry_in_s": round(delay, 1)})
        return delay

    async def _get(self, path: str, params: dict[str, str]) -> tuple[str, Any]:
        assert self._session is not None
        if self.tickets.upstream_jurisdiction_id:
            params["jurisdiction_id"] = self.tickets.upstream_jurisdiction_id
        try:
            async with self._session.get(f"{self.base}/{path}", params=params) as resp:
                body = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise UpstreamUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if status != 200:
            raise UpstreamUnavailable(f"GET {path}: HTTP {status}")
        return body, status

    async def _get_json(self, path: str, params: dict[str, str]) -> Any:
        body, _ = await self._get(path, params)
        try:
            return json.loads(body)
        except ValueError:
            raise MalformedReply(f"{path}: not JSON: {body[:80]!r}") from None

    # requests.json by id -----------------------------------------------------------------------
    async def _read_due(self) -> None:
        now = time.time()
        due = rv.members(await self.redis.zrangebyscore(self.tracked, "-inf", now, start=0, num=1000))
        if not due:
            return
        tickets = await self.store.get_many(due)
        missing = set(due) - {t.id for t in tickets}
        if missing:
            await self.redis.zrem(self.tracked, *missing)
        by_upstream: dict[str, Ticket] = {}
        for ticket in tickets:
            if not ticket.upstream_id and ticket.upstream_token:
                await self._resolve_token(ticket)
            if ticket.upstream_id:
                by_upstream[ticket.upstream_id] = ticket
        ids = list(by_upstream)
        size = self.config.upstream_batch_size
        for i in range(0, len(ids), size):
            batch = ids[i:i + size]
            rows = parse_requests(await self._get_json("requests.json", {"service_request_id": ",".join(batch)}))
            for state in rows:
                if (match := by_upstream.get(state.upstream_id)) is not None:
                    await self._apply(match, state)
            next_poll = time.time() + self.tickets.upstream_poll_s
            still_open = {t.id: next_poll for t in (by_upstream[u] for u in batch) if t.status != CLOSED}
            closed = [by_upstream[u].id for u in batch if by_upstream[u].status == CLOSED]
            if still_open:
                await self.redis.zadd(self.tracked, still_open)
            if closed:
                await self.redis.zrem(self.tracked, *closed)

    async def _resolve_token(self, ticket: Ticket) -> None:
        rows = await self._get_json(f"tokens/{ticket.upstream_token}.json", {})
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) and rows[0].get("service_request_id"):
            ticket.upstream_id = str(rows[0]["service_request_id"])
            await self.store.update_fields(ticket.id, upstream_id=ticket.upstream_id)

    async def _apply(self, ticket: Ticket, state: UpstreamState) -> None:
        """One upstream state onto our ticket, once per change key. The same news read through both
        requests.json and servicerequestupdates (same status, same note) is applied once."""
        status_known = state.status in (ticket.status, ticket.sub_status)
        # our status_notes is the note made public (personal data masked), so compare like with like
        note_new = bool(state.notes) and made_public(state.notes, ticket.contact) != (ticket.status_notes or "")
        if not status_known or note_new:
            try:
                change = await self.status.change(ticket.id, state.status, state.notes if note_new else None,
                                                  Source.UPSTREAM, self.base,
                                                  change_key=f"{ticket.id}:{state.change_key}")
            except TicketValidationError as exc:
                log.warning("upstream change not applied", extra={"ticket": ticket.id, "error": exc.description})
            else:
                ticket.status, ticket.sub_status = change.ticket.status, change.ticket.sub_status
                ticket.status_notes = change.ticket.status_notes
        ticket.upstream_status, ticket.upstream_notes = ticket.status, state.notes
        await self.store.update_fields(ticket.id, upstream_status=ticket.status, upstream_notes=state.notes)

    # servicerequestupdates ---------------------------------------------------------------------
    async def _read_updates(self) -> None:
        raw = await self.redis.get(self.cursor)
        now = datetime.now(UTC).replace(microsecond=0)
        start = datetime.fromisoformat(rv.text(raw)) if raw else now - timedelta(seconds=self.tickets.upstream_poll_s)
        body, _ = await self._get("servicerequestupdates.xml", {"start_date": start.isoformat(),
                                                                "end_date": now.isoformat()})
        updates = parse_updates(body)  # malformed: nothing applied, the cursor stays
        if updates:
            tracked = rv.members(await self.redis.zrange(self.tracked, 0, -1))
            by_upstream = {t.upstream_id: t for t in await self.store.get_many(tracked) if t.upstream_id}
            for state in sorted(updates, key=lambda s: s.updated or now):
                ticket = by_upstream.get(state.upstream_id)
                if ticket is None:
                    continue
                await self._apply(ticket, state)
                if ticket.status == CLOSED:
                    await self.redis.zrem(self.tracked, ticket.id)
        # Next time from the newest update seen (inclusive: repeats are dropped by their change key);
        # with none, from a minute ago, so the window does not grow without end.
        latest = max([s.updated for s in updates if s.updated] + [start, now - timedelta(seconds=60)])
        await self.redis.set(self.cursor, latest.isoformat())
