"""Configuration section for tickets and the Open311 API (part of chat311.yml)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TicketsConfig:
    jurisdiction_id: str = "charlottenc.gov"
    # Service catalogue file (YAML); relative to the project root.
    catalogue: str = "chat_server/tickets/catalogue.yml"
