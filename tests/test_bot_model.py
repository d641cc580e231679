"""Model files: `make train` keeps the newest few models and never touches content-staff models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chat_server import bot_model


def test_training_prunes_old_models_but_keeps_content_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT311_MODEL_DIR", str(tmp_path))
    hashed = [tmp_path / f"chat311-{i:012x}.tar.gz" for i in range(5)]
    content = tmp_path / "chat311-content-20261101T120000.tar.gz"
    for age, path in enumerate([*hashed, content]):
        path.write_bytes(b"model")
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    just_trained = hashed[0]  # oldest mtime on purpose: the model just trained is never removed
    bot_model.prune_trained(keep=just_trained)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([hashed[0].name, hashed[2].name, hashed[3].name, hashed[4].name, content.name])


def test_knowledge_base_content_does_not_shape_the_rasa_model() -> None:
    """Articles are searched live: editing one must not change the model hash (no retraining)."""
    assert (bot_model.KNOWLEDGE_DIR / "topics.yml").exists()
    inputs = bot_model._model_inputs()
    assert any(p.parent == bot_model.TRAINING_DIR for p in inputs)
    assert not [p for p in inputs if bot_model.KNOWLEDGE_DIR in p.parents]
