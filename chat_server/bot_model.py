"""Which trained model belongs to the current training data, and training it when stale.

A model's file name carries a content hash of everything that shapes it (training_data/*.yml,
bot/config.yml, bot/domain.yml), so "is the model current?" is a file-exists check and a
second `make run` with nothing changed skips training entirely.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from chat_server.config import PROJECT_ROOT

BOT_DIR = PROJECT_ROOT / "bot"
TRAINING_DIR = PROJECT_ROOT / "training_data"
# The knowledge base's articles (chat_server/knowledge/) live under training_data/ for content staff, but
# Rasa never reads them: editing an article must neither retrain nor change the model's name.
KNOWLEDGE_DIR = TRAINING_DIR / "knowledge"
BOT_PYTHON = BOT_DIR / ".venv" / "bin" / "python"
RASA_BIN = BOT_DIR / ".venv" / "bin" / "rasa"
MODEL_PREFIX = "chat311-"
HASHED_MODEL = re.compile(r"^chat311-[0-9a-f]{12}\.tar\.gz$")  # `make train` models, not content-* ones
KEEP_MODELS = 3


def training_files(data_dir: Path | None = None) -> list[Path]:
    """The Rasa training data: every YAML file under `data_dir` (training_data/) except the knowledge base."""
    data_dir = data_dir or TRAINING_DIR
    knowledge = data_dir / KNOWLEDGE_DIR.relative_to(TRAINING_DIR)
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml"}
                  and not p.is_relative_to(knowledge))


def _model_inputs() -> list[Path]:
    files = [BOT_DIR / "config.yml", BOT_DIR / "domain.yml", *training_files()]
    return [f for f in files if f.exists()]


def training_hash() -> str:
    digest = hashlib.sha256()
    for path in _model_inputs():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def model_dir() -> Path:
    return Path(os.environ.get("CHAT311_MODEL_DIR", BOT_DIR / "models"))


def current_model_path() -> Path:
    return model_dir() / f"{MODEL_PREFIX}{training_hash()}.tar.gz"


def latest_model() -> Path | None:
    models = sorted(model_dir().glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def rasa_env() -> dict[str, str]:
    """Environment for every Rasa process: no telemetry (no network here), quiet TensorFlow, and INFO logs
    whatever `LOG_LEVEL` the shell has: at DEBUG, Rasa logs every message and tracker, contact slots included."""
    return {
        "LOG_LEVEL": "INFO",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "MPLCONFIGDIR": str(PROJECT_ROOT / "var" / "mpl"),
        "PYTHONWARNINGS": "ignore",
        "LOG_LEVEL_LIBRARIES": "ERROR",
    }


def train(force: bool = False, out: Path | None = None) -> Path:
    """Train the model for the current data unless it already exists; returns its path."""
    target = current_model_path() if out is None else out
    if target.exists() and not force:
        print(f"chat311: model {target.name} is current; not retraining", flush=True)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(RASA_BIN), "train",
        "--config", str(BOT_DIR / "config.yml"),
        "--domain", str(BOT_DIR / "domain.yml"),
        "--data", *(str(p) for p in training_files()),
        "--out", str(target.parent),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]
    print(f"chat311: training {target.name} …", flush=True)
    log_path = PROJECT_ROOT / "var" / "log" / "train.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        result = subprocess.run(cmd, cwd=BOT_DIR, env={**os.environ, **rasa_env()}, stdout=log, stderr=log)
    if result.returncode != 0 or not target.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        sys.stderr.write(tail)
        raise SystemExit(f"chat311: training failed (exit {result.returncode}); full log: {log_path}")
    print(f"chat311: trained {target.name}", flush=True)
    if out is None:
        prune_trained(keep=target)
    return target


def prune_trained(keep: Path) -> None:
    """Each training-data change adds a ~90 MB model; keep the newest few (a running server or a
    rollback may still use the previous ones). Content-staff models are pruned by training/jobs.py."""
    prune((p for p in model_dir().glob(f"{MODEL_PREFIX}*.tar.gz") if HASHED_MODEL.match(p.name)),
          newest=KEEP_MODELS, keep={keep.name})


def prune(models: Iterable[Path], newest: int, keep: set[str]) -> None:
    """Delete all but the `newest` models (by mtime), never one whose file name is in `keep`."""
    ordered = sorted(models, key=lambda p: p.stat().st_mtime, reverse=True)
    for old in ordered[newest:]:
        if old.name not in keep:
            with contextlib.suppress(OSError):  # best effort: a file in use or gone stays/goes as it is
                old.unlink()
