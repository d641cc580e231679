"""Configuration section `incidents` (part of chat311.yml; env: ``CHAT311_INCIDENTS__<KEY>``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IncidentsConfig:
    # How often each chat_server process checks for a posted, ended, started or expired notice.
    poll_s: float = 1.0
    # Days the per-incident figures (chats that got the notice, chats that still needed an agent) are kept.
    stats_days: int = 90

    def validate(self) -> None:
        if not 0.1 <= self.poll_s <= 5:
            raise ValueError("poll_s must be between 0.1 and 5 (a posted notice must be live within 5 s)")
        if self.stats_days < 1:
            raise ValueError("stats_days must be at least 1")
