"""Configuration section `knowledge` (part of chat311.yml; env: ``CHAT311_KNOWLEDGE__<KEY>``)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class KnowledgeConfig:
    # Article files (one per article, in department folders) and the calibration file, relative to
    # the project root. Tests point `dir` at a temporary copy.
    dir: str = "training_data/knowledge"
    calibration: str = "training_data/knowledge/calibration.yml"
    # How often each process checks Redis for articles published elsewhere (the goal is live
    # everywhere within 5 s; a check is one GET).
    reload_interval_s: float = 1.0
    # Off: no model is loaded and the content page and agents' search answer "not available"
    # (a process that only relays chats, or a machine without the memory for the model).
    enabled: bool = True

    def validate(self) -> None:
        check.between(self, "reload_interval_s", 0.05, 4, "publish goal: live within 5 s")
