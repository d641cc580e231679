"""Configuration section `metrics` (part of chat311.yml; env: ``CHAT311_METRICS__<KEY>``)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class MetricsConfig:
    # Service level: share of escalated chats an agent answered within this many seconds ...
    service_level_s: float = 30.0
    # ... and the target share the dashboard compares it with (0..1).
    service_level_target: float = 0.70
    # CSAT ratings are 1..5; this rating or better counts as "satisfied".
    csat_satisfied_min: int = 4
    # Days of hourly buckets kept in memory (the per-day chart shows this many days).
    days: int = 30
    # The dashboard polls this often; also the least interval between two reads of the stream.
    refresh_s: float = 2.0
    # Time zone of "today" and of the hourly / daily buckets; empty = hours.timezone.
    timezone: str = ""
    # Rows in "top intents" / "top fallback messages" reports.
    top_n: int = 20
    # /metrics is served to loopback callers that came through no proxy, to a request carrying
    # `Authorization: Bearer <prometheus_token>` (when set), and to a logged-in supervisor. Set
    # `public_prometheus: true` only when the port is reachable from a private network alone.
    public_prometheus: bool = False
    prometheus_token: str = ""

    def validate(self) -> None:
        check.positive(self, "service_level_s", "refresh_s")
        if not 0 < self.service_level_target <= 1:
            raise ValueError("service_level_target must be a share between 0 and 1, e.g. 0.7")
        check.between(self, "csat_satisfied_min", 1, 5, "ratings are 1..5")
        check.between(self, "days", 1, 400)
        if self.timezone:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from exc
