"""Configuration sections for staffed hours and routing (part of chat311.yml)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HoursConfig:
    timezone: str = "America/New_York"
    # weekday (mon..sun) -> list of "HH:MM-HH:MM" windows
    weekly: dict[str, list[str]] = field(default_factory=lambda: {
        d: ["07:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")})
    holidays: list[str] = field(default_factory=list)  # ISO dates
    closing_soon_min: int = 10


@dataclass
class RoutingConfig:
    accept_timeout_s: float = 30.0
    max_queue_wait_s: float = 600.0
    reconnect_grace_s: float = 60.0
