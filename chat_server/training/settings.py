"""Configuration section `training` (part of chat311.yml; env: ``CHAT311_TRAINING__<KEY>``)."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server import settings_checks as check


@dataclass
class TrainingConfig:
    # Rasa training data content staff edit; relative to the project root. Tests point this at a
    # temporary copy so they never touch the repository's files.
    data_dir: str = "training_data"
    # Held-out evaluation set (CSV: text,label,lang) scored before and after every training.
    heldout: str = "tests/data/heldout_dev.csv"
    # Where "Train & test" writes new models; empty = bot/models (or $CHAT311_MODEL_DIR).
    model_dir: str = ""
    # A bot answer with a confidence below this lands in the inbox as "low confidence".
    low_confidence: float = 0.70
    # Most open inbox items kept (oldest are dropped).
    inbox_max: int = 500
    # Previously published models kept for rollback.
    keep_models: int = 5
    # Seconds a `rasa train` may run before it is stopped.
    train_timeout_s: float = 1800.0

    def validate(self) -> None:
        check.between(self, "low_confidence", 0, 1)
        check.at_least(self, 1, "inbox_max", "keep_models")
