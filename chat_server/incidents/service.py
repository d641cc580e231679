"""The incident service: post, end and serve notices; one object shared by HTTP, Socket.IO and the
conversation core.

Each process keeps the live incidents in memory (the bot path asks "does this message match?"
on every resident turn, so it must not cost a Redis round trip) and refreshes them when the
store's generation moves or a scheduled start or end passes. Changes reach this process's own
residents as the Socket.IO `incident` event; every process does the same for its own sockets,
so nobody gets it twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chat_server.agents.override import MAX_MINUTES
from chat_server.incidents.model import (
    Incident,
    IncidentError,
    current,
    next_change,
    revise,
    valid_id,
    validate,
)
from chat_server.incidents.store import IncidentStore
from chat_server.periodic import repeat
from chat_server.stopping import cancel_and_wait

log = logging.getLogger("chat311.incidents")


_STATE_ORDER = {"live": 0, "scheduled": 1, "ended": 2}


class Emitter(Protocol):
    """The Socket.IO server's emit (python-socketio AsyncServer)."""

    async def emit(self, event: str, data: Any = None, *, to: str | None = None, namespace: str | None = None,
                   ignore_queue: bool = False) -> None: ...


class HoursOverride(Protocol):
    """The staffed-hours override (agents' routing store): an incident may keep the line open longer."""

    async def set_hours_override(self, mode: str | None, until_ts: float = 0, reason: str = "", by: str = "",
                                 now: float = 0) -> None: ...

    async def hours_override(self) -> Any: ...


class Audit(Protocol):
    async def record(self, actor: str, action: str, conversation_id: str = "", **detail: Any) -> None: ...


def incident_payload(incident: Incident | None, language: str) -> dict[str, Any] | None:
    """The `incident` event: the notice in `language`, plus both translations for clients that switch."""
    if incident is None:
        return None
    return {**incident.public(language),
            "translations": {lang: {"title": incident.title[lang], "message": incident.message[lang]}
                             for lang in ("en", "es")}}


_UTC = ZoneInfo("UTC")


class IncidentService:
    def __init__(self, store: IncidentStore, emitter: Emitter, hours: HoursOverride, audit: Audit,
                 poll_s: float = 1.0, clock: Callable[[], float] = time.time, tz: ZoneInfo = _UTC) -> None:
        self.store = store
        self.tz = tz  # the line's hours: times staff read are in it (an override's end was said in UTC, probe Y)
        self.emitter = emitter
        self.hours = hours
        self.audit = audit
        self.poll_s = poll_s
        self.clock = clock
        self._known: list[Incident] = []
        self._generation = -1
        self._banner_id: tuple[str, float] | None = None
        self._wake_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._live_ids: set[str] = set()
        # Told of each incident this process sees go live (also those live when it starts); the listener
        # decides, through `store.claim`, what is done once across processes.
        self.went_live: list[Callable[[Incident], Awaitable[None]]] = []

    # staff actions ----------------------------------------------------------
    # One at a time across processes (store.lock): two staff posting the same phrase at once each found no
    # overlap and both were stored; two pressing End at once both ended it.
    async def post(self, data: object, by: str, may_extend_hours: bool = True) -> Incident:
        async with self.store.lock():
            now = self.clock()
            incident = validate(data, now, await self.store.ending_after(now), by)
            if incident.extend_hours:
                await self._check_extension(incident, now, may_extend_hours)
            await self.store.save(incident)
            if incident.extend_hours:
                await self.hours.set_hours_override("open", incident.ends_at, self._override_reason(incident), by,
                                                    now)
        await self.audit.record(by, "incident_posted", incident_id=incident.id, title=incident.title["en"],
                                starts_at=incident.starts_at, ends_at=incident.ends_at)
        await self.refresh(force=True)
        return incident

    async def _check_extension(self, incident: Incident, now: float, allowed: bool) -> None:
        """Keeping the line open is an hours override: a supervisor's, within an override's limit, and never
        over one a supervisor set (a "closed" for an evacuation was silently reopened, and ending the
        incident then cleared an "open" it had shortened)."""
        if not allowed:
            raise IncidentError("extend_hours", "only a supervisor can keep the agent line open longer")
        if incident.starts_at > now + 60:
            raise IncidentError("extend_hours", "extended hours start when posted; post this incident when it "
                                                "begins, or leave the hours unchanged")
        if incident.ends_at - now > MAX_MINUTES * 60:
            raise IncidentError("extend_hours", f"the line can be kept open at most {MAX_MINUTES // 60} hours "
                                                "(an hours override's limit); end the incident sooner or leave "
                                                "the hours unchanged")
        override = await self.hours.hours_override()
        if override is not None:
            until = override.until.astimezone(self.tz)
            raise IncidentError("extend_hours", f"the hours already have an override ({override.mode} until "
                                                f"{until:%Y-%m-%d %H:%M %Z}, by {override.by or 'staff'}): "
                                                "change it on the dashboard, or post without extending the hours")

    @asynccontextmanager
    async def _stored(self, incident_id: object) -> AsyncIterator[Incident]:
        """The stored incident, while this process alone may change the notices."""
        if not valid_id(incident_id):
            raise IncidentError("id", "no such incident")
        async with self.store.lock():
            incident = await self.store.get(incident_id)
            if incident is None:
                raise IncidentError("id", "no such incident")
            yield incident

    async def revise(self, incident_id: object, data: object, by: str, may_extend_hours: bool = True) -> Incident:
        """Correct a posted notice in place (its text, phrases, link or end): a notice that was wrong or whose
        estimate moved had to be ended and posted again, losing its figures and showing residents two."""
        async with self._stored(incident_id) as incident:
            now = self.clock()
            revised = revise(incident, data, now, await self.store.ending_after(now), by)
            moves_hours = incident.extend_hours and revised.ends_at != incident.ends_at
            if moves_hours:
                self._check_moved_hours(revised, now, may_extend_hours)
            await self.store.save(revised)
            override = await self.hours.hours_override()
            if moves_hours and self._owns(override, incident):  # a supervisor's later override is theirs
                await self.hours.set_hours_override("open", revised.ends_at, self._override_reason(revised), by, now)
        changed = sorted(name for name in ("title", "message", "url", "phrases", "starts_at", "ends_at")
                         if getattr(revised, name) != getattr(incident, name))
        await self.audit.record(by, "incident_updated", incident_id=incident.id, changed=",".join(changed),
                                ends_at=revised.ends_at)
        await self.refresh(force=True)
        return revised

    @staticmethod
    def _check_moved_hours(revised: Incident, now: float, allowed: bool) -> None:
        """Moving the end of a notice that keeps the line open moves the line's hours: a supervisor's decision,
        within an override's limit."""
        if not allowed:
            raise IncidentError("ends_at", "this notice keeps the agent line open: only a supervisor can change "
                                           "when it ends")
        if revised.ends_at - now > MAX_MINUTES * 60:
            raise IncidentError("ends_at", f"the line can be kept open at most {MAX_MINUTES // 60} hours "
                                           "(an hours override's limit)")

    async def end(self, incident_id: object, by: str) -> Incident:
        async with self._stored(incident_id) as incident:
            now = self.clock()
            if incident.effective_end <= now:
                raise IncidentError("id", "this incident has already ended")
            ended = replace(incident, ended_at=now, ended_by=by)
            await self.store.save(ended)
            override = await self.hours.hours_override()
            if incident.extend_hours and self._owns(override, incident):
                await self.hours.set_hours_override(None)
        await self.audit.record(by, "incident_ended", incident_id=incident.id)
        await self.refresh(force=True)
        return ended

    @staticmethod
    def _override_reason(incident: Incident) -> str:
        return f"incident {incident.id}: {incident.title['en']}"[:200]

    @staticmethod
    def _owns(override: Any, incident: Incident) -> bool:
        """The override is the one this incident set (by id: its title may have been corrected since)."""
        return override is not None and str(override.reason).startswith(f"incident {incident.id}:")

    async def overview(self) -> list[dict[str, Any]]:
        """Recent incidents (last 30 days) with their figures for the staff page: live ones first, then scheduled,
        then ended, each newest first (a notice scheduled for 2999 and ended at once sorted above the live one)."""
        now = self.clock()
        banner = self.banner()
        shown = banner.id if banner else None  # only the newest live notice is the web banner
        out = []
        for incident in await self.store.recent(now - 30 * 86400):
            ended = incident.ended_at is not None or incident.effective_end <= now  # a scheduled one ended early too
            state = "ended" if ended else "live" if incident.active(now) else "scheduled"
            out.append({**incident.to_dict(), "state": state, "banner": incident.id == shown,
                        **await self.store.stats(incident.id)})
        return sorted(out, key=lambda i: (_STATE_ORDER[i["state"]], -i["starts_at"]))

    # what residents and the bot see ---------------------------------------------
    def live(self) -> list[Incident]:
        return current(self._known, self.clock())

    def banner(self) -> Incident | None:
        live = self.live()
        return live[0] if live else None

    def matching(self, text: str) -> Incident | None:
        return next((i for i in self.live() if i.matches(text)), None)

    async def noticed(self, incident: Incident, conversation_id: str) -> None:
        await self.store.count_noticed(incident.id, conversation_id)

    async def escalated(self, conversation_id: str) -> None:
        for incident_id in await self.store.incidents_of(conversation_id):
            await self.store.count_escalated(incident_id, conversation_id)

    # keeping every process current --------------------------------------------
    async def refresh(self, force: bool = False) -> None:
        now = self.clock()
        generation = await self.store.generation()
        due = self._wake_at is not None and now >= self._wake_at
        if force or generation != self._generation or due:
            self._generation = generation
            self._known = await self.store.ending_after(now)
            self._wake_at = next_change(self._known, now)
        banner = self.banner()
        banner_id = (banner.id, banner.updated_at) if banner else None  # a corrected notice is announced again
        if banner_id != self._banner_id:
            self._banner_id = banner_id
            await self._announce(banner)
        live = self.live()
        fresh = [i for i in live if i.id not in self._live_ids]
        self._live_ids = {i.id for i in live}
        for incident in fresh:
            for listener in self.went_live:
                await listener(incident)

    async def _announce(self, banner: Incident | None) -> None:
        # Only this process's own sockets: every process announces to its own, so nobody gets it twice.
        # Each client picks its language from `translations`; `title`/`message` default to English.
        await self.emitter.emit("incident", incident_payload(banner, "en"), namespace="/", ignore_queue=True)

    def start(self) -> None:
        # Redis away for a moment: keep serving what we know, try again.
        self._task = asyncio.create_task(
            repeat(self.refresh, self.poll_s, log, "incident refresh failed", at_once=True))

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
