"""Configuration section `incidents` (part of chat311.yml; env: ``CHAT311_INCIDENTS__<KEY>``)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class IncidentsConfig:
    # How often each chat_server process checks for a posted, ended, started or expired notice.
    poll_s: float = 1.0
    # Days the per-incident figures (chats that got the notice, chats that still needed an agent) are kept.
    stats_days: int = 90

    def validate(self) -> None:
        check.between(self, "poll_s", 0.1, 5, "a posted notice must be live within 5 s")
        check.at_least(self, 1, "stats_days")
