"""The emergency staffed-hours override: one rule for the console, the dashboard and the CLI.

A supervisor forces the chat line open (a storm, extended hours) or closed (an outage of the
centre) for a while, or clears that. Before this module the three entry points each had their
own words, units and bounds (minutes up to 7 days, hours up to 72, no bound at all) and the
CLI's "clear" went unaudited. Now `parse_override` is the pure rule and `HoursOverrides` the one
service that applies it, records it and audits it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chat_server.field_error import FieldError

MAX_MINUTES = 72 * 60  # a longer change of hours belongs in the schedule (chat311.yml), not an override
MAX_REASON = 200
_MODES = {"open": "open", "closed": "closed", "close": "closed", "clear": None, None: None}


class OverrideError(FieldError):
    """A refused override request; `field` names what to fix."""


@dataclass(frozen=True)
class OverrideRequest:
    mode: str | None  # "open" | "closed" | None (clear)
    minutes: float = 0.0
    reason: str = ""


def parse_override(mode: object, minutes: object = None, reason: object = "", hours: object = None) -> OverrideRequest:
    """Validate and normalise a request from any entry point.

    `mode` is open, closed (or close) or clear (or None); the length is given in minutes (1 to
    4,320 — 72 hours), or in hours by older clients of the dashboard API.
    """
    if not isinstance(mode, str | None) or mode not in _MODES:
        raise OverrideError("mode", "mode must be open, closed or clear")
    normalised = _MODES[mode]
    if normalised is None:
        return OverrideRequest(None)
    if minutes is None and hours is not None:
        if not isinstance(hours, int | float) or isinstance(hours, bool):
            raise OverrideError("minutes", "give the length in minutes (1 to 4320)")
        minutes = hours * 60
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise OverrideError("minutes", f"the length must be 1 to {MAX_MINUTES} minutes (72 hours)")
    text = " ".join(str(reason or "").split())
    if len(text) > MAX_REASON:
        raise OverrideError("reason", f"at most {MAX_REASON} characters")
    return OverrideRequest(normalised, float(minutes), text)


class OverrideStore(Protocol):
    """Where the override lives (the agents' routing store)."""

    async def set_hours_override(self, mode: str | None, until_ts: float = 0, reason: str = "", by: str = "",
                                 now: float = 0) -> None: ...


class Audit(Protocol):
    async def record(self, actor: str, action: str, conversation_id: str = "", **detail: Any) -> None: ...


class HoursOverrides:
    """Applies an override request: stores it (it expires by itself) and audits who did it, clears too."""

    def __init__(self, store: OverrideStore, audit: Audit, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    async def apply(self, request: OverrideRequest, by: str) -> float:
        """Returns the time the request was applied (epoch seconds)."""
        now = self.clock()
        if request.mode is None:
            await self.store.set_hours_override(None)
        else:
            await self.store.set_hours_override(request.mode, now + request.minutes * 60, request.reason, by, now)
        await self.audit.record(by, "hours_override", mode=request.mode or "clear", minutes=request.minutes,
                                reason=request.reason)
        return now
