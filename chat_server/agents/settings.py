"""Configuration sections for staffed hours, routing and the agent console (part of chat311.yml).

`hours` says when people staff the line; `routing` says how escalated conversations reach them
(queue limits, offer timeouts, department map); `console` is what agents work with once signed in
(sign-in throttling, session lifetime, dispositions, canned responses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chat_server import settings_checks as check

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(value: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """'07:00-19:00' → ((7, 0), (19, 0)); '24:00' is allowed as an end only.

    Lives with the config format it parses: `HoursConfig.validate` and `hours.Schedule` both need
    it, and keeping it here lets hours.py import settings without settings importing hours back.
    """
    match = _WINDOW.match(value)
    if not match:
        raise ValueError(f"window {value!r} must look like 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (0 <= h1 <= 23 and 0 <= m1 <= 59 and (0 <= h2 <= 23 or (h2 == 24 and m2 == 0)) and 0 <= m2 <= 59):
        raise ValueError(f"window {value!r} has an invalid time")
    if (h1, m1) == (h2, m2):
        raise ValueError(f"window {value!r} is empty")
    return (h1, m1), (h2, m2)


@dataclass
class HoursOverride:
    """A planned exception from config: open or closed between two local times (storm weekend)."""

    mode: str  # "open" | "closed"
    start: str  # local ISO datetime, e.g. "2025-01-18T08:00"
    end: str
    reason: str = ""

    def validate(self) -> None:
        if self.mode not in ("open", "closed"):
            raise ValueError(f"mode must be 'open' or 'closed', got {self.mode!r}")


@dataclass
class HoursConfig:
    timezone: str = "America/New_York"
    # weekday (mon..sun) -> list of "HH:MM-HH:MM" windows; "24:00" ends at midnight, an end
    # before the start runs past midnight.
    weekly: dict[str, list[str]] = field(default_factory=lambda: {
        d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
    holidays: list[str] = field(default_factory=list)  # ISO dates, closed all day
    overrides: list[HoursOverride] = field(default_factory=list)
    # No new escalations this many minutes before the line closes.
    closing_soon_min: int = 10

    def validate(self) -> None:
        for day, windows in self.weekly.items():
            if day not in WEEKDAYS:
                raise ValueError(f"weekly: unknown day {day!r}; use {', '.join(WEEKDAYS)}")
            for window in windows:
                parse_window(window)
        import datetime as _dt
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from exc
        for day in self.holidays:
            try:
                _dt.date.fromisoformat(day)
            except ValueError as exc:
                raise ValueError(f"holidays: {day!r} is not an ISO date (YYYY-MM-DD)") from exc
        for item in self.overrides:
            for value in (item.start, item.end):
                try:
                    _dt.datetime.fromisoformat(value)
                except ValueError as exc:
                    raise ValueError(f"overrides: {value!r} is not an ISO datetime") from exc


@dataclass
class CannedResponse:
    key: str
    en: str
    es: str = ""


@dataclass
class RoutingConfig:
    """Agent assignment only: who is offered which escalated chat, when, and for how long."""

    # An agent offered a chat must accept within this many seconds, else the next agent gets it.
    accept_timeout_s: float = 30.0
    # An agent who let an offer time out is warned and set away this many seconds later unless they
    # answer "Stay available" (no new offers meanwhile). 0: away at once. 20 s: WCAG 2.2.1's least time to
    # extend a limit with a simple action.
    missed_offer_warning_s: float = 20.0
    # Queued residents' position and estimated wait are recomputed this often (and told when they change).
    queue_refresh_s: float = 15.0
    # A resident queued longer than this is offered a ticket instead.
    max_queue_wait_s: float = 600.0
    # A waiting web resident whose every tab has been closed this long has left: the chat is closed
    # ("resident_left") instead of being offered to an agent who would find nobody there.
    resident_gone_s: float = 180.0
    # A disconnected agent's chats go back to the queue after this grace period.
    reconnect_grace_s: float = 60.0
    # Each process refreshes its agents' sockets this often; a socket unseen for 3x is gone.
    heartbeat_s: float = 10.0
    # Dispatcher tick (offers, timeouts, reaping) in every process.
    tick_s: float = 0.5
    # Handle time assumed before any chat has been closed (for estimated waits).
    default_handle_s: float = 300.0
    # Bot label (exact, or prefix ending in "*") -> department; unmatched labels -> "general".
    departments: dict[str, str] = field(default_factory=lambda: {
        "report_pothole": "streets", "report_streetlight": "streets", "report_fallen_tree": "streets",
        "report_abandoned_vehicle": "streets", "report_graffiti": "streets",
        "report_missed_pickup": "solid_waste", "report_illegal_dumping": "solid_waste",
        "faq/trash_schedule": "solid_waste", "report_water_leak": "water", "faq/utility_bill": "water",
        "faq/flooding": "water",
    })

    def validate(self) -> None:
        check.positive(self, "accept_timeout_s", "max_queue_wait_s", "heartbeat_s", "tick_s", "queue_refresh_s",
                       "resident_gone_s")
        check.not_negative(self, "missed_offer_warning_s", "reconnect_grace_s")


@dataclass
class ConsoleConfig:
    """The agent console: sign-in, session lifetime and what agents pick from while chatting.

    These keys used to sit under `routing:`; that old form still loads (config.py `MOVED_KEYS`).
    """

    # Codes an agent picks from when closing a chat (supervision reports count them).
    dispositions: list[str] = field(default_factory=lambda: [
        "resolved", "info_provided", "ticket_created", "transferred_phone", "no_response", "abusive", "other"])
    # Replies an agent inserts with one click, en/es by the conversation's language.
    canned_responses: list[CannedResponse] = field(default_factory=list)
    # Session cookie lifetime and failed-login throttling: per IP + username, and per IP across
    # usernames (generous: a library or a call centre shares one address).
    session_ttl_s: int = 12 * 3600
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_window_s: int = 900

    def validate(self) -> None:
        check.at_least(self, 1, "login_max_failures")
        if self.login_max_failures_per_ip < self.login_max_failures:
            raise ValueError("login_max_failures_per_ip must be >= login_max_failures")
        if not self.dispositions:
            raise ValueError("dispositions must list at least one code")
