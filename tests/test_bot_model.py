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


def test_knowledge_articles_are_not_rasa_training_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Content staff edit articles live: that must never retrain Rasa or rename the model."""
    training = tmp_path / "training_data"
    (training / "knowledge" / "water").mkdir(parents=True)
    (training / "nlu_en.yml").write_text("version: '3.1'\nnlu: []\n")
    article = training / "knowledge" / "water" / "water-bill.yml"
    article.write_text("id: water-bill\n")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "config.yml").write_text("recipe: default.v1\n")
    monkeypatch.setattr(bot_model, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(bot_model, "BOT_DIR", tmp_path / "bot")
    monkeypatch.setattr(bot_model, "TRAINING_DIR", training)
    monkeypatch.setattr(bot_model, "KNOWLEDGE_DIR", training / "knowledge")
    assert bot_model.training_files() == [training / "nlu_en.yml"]
    before = bot_model.training_hash()
    article.write_text("id: water-bill\ntopic: utility_bill\n")
    assert bot_model.training_hash() == before
    (training / "nlu_en.yml").write_text("version: '3.1'\nnlu: [{intent: greet, examples: '- hi'}]\n")
    assert bot_model.training_hash() != before
