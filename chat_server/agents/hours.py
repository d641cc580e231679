"""Staffed hours: pure logic, no I/O.

The schedule is turned into concrete open intervals in UTC (weekly windows in the local time
zone, minus holidays, plus/minus planned and emergency overrides), merged, and every question
("open now?", "when does it close?", "next opening?") is answered from those intervals. Working
in UTC instants avoids the traps of wall-clock arithmetic on DST change days: a 00:00-24:00
window is 23 hours long on spring-forward day and 25 on fall-back day, and comparisons never
depend on `fold`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chat_server.agents.settings import WEEKDAYS, HoursConfig, parse_window

Interval = tuple[datetime, datetime]  # [start, end) in UTC


@dataclass(frozen=True)
class Override:
    """Force the line open or closed from `start` (None = now/always) until `until` (aware)."""

    mode: str  # "open" | "closed"
    until: datetime
    start: datetime | None = None
    reason: str = ""
    by: str = ""


@dataclass(frozen=True)
class HoursStatus:
    open: bool
    accepting: bool  # open and not closing soon
    closes_at: datetime | None
    next_open: datetime | None
    override: str | None  # "open" / "closed" when an override decides right now


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime; pass an aware datetime")
    return value.astimezone(UTC)


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _subtract(intervals: list[Interval], cut: Interval) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        if end <= cut[0] or start >= cut[1]:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if end > cut[1]:
            out.append((cut[1], end))
    return out


class Schedule:
    """Answers staffed-hours questions for one `HoursConfig` (+ optional runtime override)."""

    HORIZON_DAYS = 15

    def __init__(self, config: HoursConfig) -> None:
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self.weekly = {day: [parse_window(w) for w in config.weekly.get(day, [])] for day in WEEKDAYS}
        self.holidays = {date.fromisoformat(d) for d in config.holidays}
        self.planned = [
            Override(o.mode, self._local(datetime.fromisoformat(o.end)), self._local(datetime.fromisoformat(o.start)),
                     o.reason)
            for o in config.overrides
        ]

    def _local(self, value: datetime) -> datetime:
        return value.replace(tzinfo=self.tz) if value.tzinfo is None else value

    def _at(self, day: date, hm: tuple[int, int]) -> datetime:
        """Local wall time on `day` as a UTC instant; 24:00 is the next midnight.

        A wall time that does not exist (spring-forward gap) maps to the instant just after the gap
        (fold=0 semantics of zoneinfo, normalised through UTC).
        """
        if hm == (24, 0):
            day, hm = day + timedelta(days=1), (0, 0)
        return datetime.combine(day, time(hm[0], hm[1]), tzinfo=self.tz).astimezone(UTC)

    def day_windows(self, day: date) -> list[Interval]:
        """The weekly windows that start on local date `day` (empty on holidays)."""
        if day in self.holidays:
            return []
        out = []
        for start, end in self.weekly[WEEKDAYS[day.weekday()]]:
            s = self._at(day, start)
            e = self._at(day + timedelta(days=1), end) if end <= start else self._at(day, end)
            out.append((s, e))
        return out

    def intervals(self, around: datetime, override: Override | None = None) -> list[Interval]:
        """Merged open intervals from two days before `around` to HORIZON_DAYS after."""
        local_day = _utc(around).astimezone(self.tz).date()
        raw: list[Interval] = []
        for offset in range(-2, self.HORIZON_DAYS + 1):
            raw.extend(self.day_windows(local_day + timedelta(days=offset)))
        merged = _merge(raw)
        far_past = _utc(around) - timedelta(days=3)
        for item in [*self.planned, *([override] if override else [])]:
            span = (_utc(item.start) if item.start else far_past, _utc(item.until))
            merged = _merge([*merged, span]) if item.mode == "open" else _subtract(merged, span)
        return merged

    def _override_now(self, now: datetime, override: Override | None) -> str | None:
        for item in [*([override] if override else []), *self.planned]:
            start = _utc(item.start) if item.start else None
            if (start is None or start <= now) and now < _utc(item.until):
                return item.mode
        return None

    def status(self, now: datetime, override: Override | None = None) -> HoursStatus:
        now = _utc(now)
        if override is not None and _utc(override.until) <= now:
            override = None
        spans = self.intervals(now, override)
        current = next(((s, e) for s, e in spans if s <= now < e), None)
        upcoming = next((s for s, _ in spans if s > now), None)
        closes_at = current[1] if current else None
        accepting = bool(current) and closes_at is not None and (
            closes_at - now > timedelta(minutes=self.config.closing_soon_min))
        return HoursStatus(
            open=current is not None, accepting=accepting, closes_at=closes_at,
            next_open=None if current else upcoming, override=self._override_now(now, override),
        )

    def is_open(self, now: datetime, override: Override | None = None) -> bool:
        return self.status(now, override).open

    def accepting_escalations(self, now: datetime, override: Override | None = None) -> bool:
        """Open and not within `closing_soon_min` of closing: a new chat could still be finished."""
        return self.status(now, override).accepting

    def next_open(self, now: datetime, override: Override | None = None) -> datetime | None:
        """When a new chat can next start: `now` while accepting, else the start of the next open interval (None if
        none within the horizon), the one after this when it closes soon: a resident told at 6:51 PM that the line
        was closing heard it "opens again today at 6:51 PM" (probe AI)."""
        status = self.status(now, override)
        if status.accepting:
            return _utc(now)
        if status.open and status.closes_at is not None:
            return self.status(status.closes_at, override).next_open
        return status.next_open

    def describe_next_open(self, now: datetime, language: str, days: Sequence[str],
                           override: Override | None = None, near: Sequence[str] = ()) -> str:
        """'Monday 7:00 AM' / 'lunes a las 7:00' in the local zone, for telling residents when to come back
        (`days`: the language's day names, Monday first, from the resident copy). `near`: the words for today
        and tomorrow, used for those days: "opens again Monday 7:00 AM", read on a Monday at 2 am, sounded a
        week away (probe V)."""
        moment = self.next_open(now, override)
        if moment is None:
            return ""
        local = moment.astimezone(self.tz)
        ahead = (local.date() - now.astimezone(self.tz).date()).days
        day = near[ahead] if 0 <= ahead < len(near) else days[local.weekday()]
        if language == "es":
            # "el lunes", but "hoy", "mañana": the copy said "vuelve a abrir el hoy" (probe AF)
            day = day if 0 <= ahead < len(near) else f"el {day}"
            article = "a la" if local.hour == 1 else "a las"
            return f"{day} {article} {local.hour}:{local.minute:02d}"
        hour = local.hour % 12 or 12
        return f"{day} {hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
