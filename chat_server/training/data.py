"""Careful, minimal edits of the Rasa training data content staff own (training_data/).

The files are hand-formatted (comments, `examples: |` blocks), so they are edited as text — a new
example goes at the end of its intent's block — and every edit is re-parsed with PyYAML and checked
before it replaces the file (write to a temp file, rename), so a failed edit can never leave invalid
data behind.

Layout (see training_data/): `nlu_<group>_<lang>.yml` hold examples per language. Questions are one
plain `faq` intent (in `nlu_faq_<lang>.yml`); what they are answered with is a knowledge-base article
(training_data/knowledge/, edited live on the content page, docs/knowledge.md), never a Rasa label,
so content staff grow only the plain intents here.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from chat_server.redaction import holds_personal_data

LANGS = ("en", "es")
MAX_EXAMPLE = 300
# Labels that are not trainable intents (FallbackClassifier output) or not content staff's to grow.
NOT_TRAINABLE = {"nlu_fallback"}


class DataError(ValueError):
    """The edit is not possible (unknown label, duplicate ...); the message says why."""


def clean_example(text: str) -> str:
    """One line, no entity-annotation brackets, bounded length."""
    text = " ".join(str(text).split())
    text = text.replace("[", "").replace("]", "").replace("{", "").replace("}", "")
    if text.startswith(("/", "-", "#")):
        text = text.lstrip("/-# ")
    if not text:
        raise DataError("the example is empty")
    if len(text) > MAX_EXAMPLE:
        raise DataError(f"an example can be at most {MAX_EXAMPLE} characters")
    return text


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _unknown(label: str) -> str:
    if label.startswith("faq/"):
        return (f"{label} is not a label any more: questions are the one intent faq, and their answers are "
                "knowledge-base articles (edit them on the content page, /console/content)")
    return f"unknown label {label!r}: pick one of the existing labels"


class TrainingData:
    def __init__(self, root: Path, lock_dir: Path | None = None) -> None:
        self.root = root
        self.lock_path = (lock_dir or root.parent) / f".{root.name}.chat311-edit.lock"

    # reading ------------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*.yml") if p.is_file())

    def _load(self, path: Path) -> dict[str, Any]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def nlu_items(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in self.files():
            for item in self._load(path).get("nlu") or []:
                if isinstance(item, dict) and "intent" in item:
                    yield path, item

    def labels(self) -> list[str]:
        """Every intent with examples, sorted (`faq` is one of them: one intent for all questions)."""
        return sorted({str(item["intent"]) for _, item in self.nlu_items()} - NOT_TRAINABLE)

    def examples(self, label: str) -> list[str]:
        out: list[str] = []
        for _, item in self.nlu_items():
            if item["intent"] == label:
                out.extend(line[2:].strip() for line in str(item.get("examples", "")).splitlines()
                           if line.startswith("- "))
        return out

    def find_example(self, text: str) -> str | None:
        """The label that already has this example (case/space-insensitive), if any."""
        wanted = _norm(text)
        for _, item in self.nlu_items():
            for line in str(item.get("examples", "")).splitlines():
                if line.startswith("- ") and _norm(line[2:]) == wanted:
                    return str(item["intent"])
        return None

    # writing ------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One editor at a time across processes (the files are rewritten whole)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _replace(self, path: Path, text: str) -> None:
        yaml.safe_load(text)  # never write a file Rasa cannot read
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)

    def _nlu_file_for(self, label: str, language: str) -> Path:
        """The file holding `label` for `language`; else the same group's file of that language."""
        holders = [path for path, item in self.nlu_items() if item["intent"] == label]
        for path in holders:
            if path.stem.endswith(f"_{language}"):
                return path
        if not holders:
            raise DataError(_unknown(label))
        stem, _, suffix = holders[0].stem.rpartition("_")
        return self.root / f"{stem}_{language}.yml" if suffix in LANGS else holders[0]

    def add_example(self, label: str, text: str, language: str) -> Path:
        """Append `text` to `label`'s examples in the file for `language`; returns the file changed."""
        if language not in LANGS:
            raise DataError(f"language must be one of {', '.join(LANGS)}")
        if label in NOT_TRAINABLE:
            raise DataError(f"{label} is not a trainable label")
        with self._locked():
            if label not in self.labels():
                raise DataError(_unknown(label))
            if holds_personal_data(text):
                # Training files live in the repository and every model trained from them; the inbox's copy ages
                # out, this one would not (clean_example would also turn "[phone …88]" into plain words).
                raise DataError("this message holds personal data (or what was masked of it, like [name] or "
                                "[phone …88]), so it cannot become a training example: dismiss it")
            example = clean_example(text)
            existing = self.find_example(example)
            if existing is not None:
                raise DataError(f"this is already an example of {existing}")
            path = self._nlu_file_for(label, language)
            self._replace(path, self._with_example(path, label, example))
            if label not in {str(i["intent"]) for p, i in self.nlu_items() if p == path} or \
                    example not in self.examples(label):
                raise DataError("the edit could not be verified")  # pragma: no cover - defensive
        return path

    @staticmethod
    def _with_example(path: Path, label: str, example: str) -> str:
        if not path.exists():
            return f'version: "3.1"\nnlu:\n- intent: {label}\n  examples: |\n    - {example}\n'
        lines = path.read_text(encoding="utf-8").splitlines()
        header = re.compile(rf"^- intent:\s*['\"]?{re.escape(label)}['\"]?\s*$")
        start = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if start is None:
            body = "\n".join(lines).rstrip("\n")
            return f"{body}\n- intent: {label}\n  examples: |\n    - {example}\n"
        i = start + 1
        while i < len(lines) and not lines[i].strip().startswith("examples:"):
            if lines[i].startswith("- "):
                raise DataError(f"{path.name}: intent {label} has no examples block")
            i += 1
        if i >= len(lines):
            raise DataError(f"{path.name}: intent {label} has no examples block")
        end = i + 1
        last_example = i
        while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
            if lines[end].strip():
                last_example = end
            end += 1
        lines.insert(last_example + 1, f"    - {example}")
        return "\n".join(lines) + "\n"
