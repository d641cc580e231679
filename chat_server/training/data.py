"""Careful, minimal edits of the Rasa training data content staff own (training_data/).

The files are hand-formatted (comments, `examples: |` blocks, folded FAQ answers), so they are
edited as text — a new example goes at the end of its intent's block, a new FAQ is appended in
the same layout the bot engineer uses (bot/README.md, "Adding an FAQ") — and every edit is
re-parsed with PyYAML and checked before it replaces the file (write to a temp file, rename),
so a failed edit can never leave invalid data behind.

Layout (see training_data/): `nlu_<group>_<lang>.yml` hold examples per language; FAQ questions
live in `nlu_faq_<lang>.yml` as `faq/<key>` and answers in `faq_responses.yml` as
`utter_faq/<key>` (English default + Spanish variation conditioned on the `language` slot).
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

FAQ_KEY = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
LANGS = ("en", "es")
MAX_EXAMPLE = 300
MAX_ANSWER = 3000
RESPONSES_FILE = "faq_responses.yml"
# Labels that are not trainable intents (FallbackClassifier output) or not content staff's to grow.
NOT_TRAINABLE = {"nlu_fallback"}


class DataError(ValueError):
    """The edit is not possible (unknown label, duplicate, bad key ...); the message says why."""


@dataclass
class Located:
    path: Path
    label: str


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


def _block(text: str, indent: int, width: int = 110) -> list[str]:
    """A folded (`>-`) scalar body: paragraphs wrapped at `width`, blank line between paragraphs."""
    pad = " " * indent
    out: list[str] = []
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    for i, para in enumerate(paragraphs):
        if i:
            out.append("")
        words = " ".join(para.split())
        out.extend(pad + line for line in textwrap.wrap(words, width=width, break_long_words=False,
                                                        break_on_hyphens=False))
    return out


def _folded(text: str) -> str:
    """What YAML reads back from `_block` (for verification)."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(paragraphs)


class TrainingData:
    def __init__(self, root: Path, lock_dir: Path | None = None) -> None:
        self.root = root
        self.lock_path = (lock_dir or root.parent) / f".{root.name}.chat311-edit.lock"

    # reading ------------------------------------------------------------------
    def files(self) -> list[Path]:
        return sorted(p for p in self.root.glob("*.yml") if p.is_file())

    def _load(self, path: Path) -> dict:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def nlu_items(self) -> Iterator[tuple[Path, dict]]:
        for path in self.files():
            for item in self._load(path).get("nlu") or []:
                if isinstance(item, dict) and "intent" in item:
                    yield path, item

    def labels(self) -> list[str]:
        """Every label with examples (intents and faq/<key>), sorted, FAQ keys last."""
        found = {str(item["intent"]) for _, item in self.nlu_items()} - NOT_TRAINABLE
        return sorted(found, key=lambda s: (s.startswith("faq/"), s))

    def examples(self, label: str) -> list[str]:
        out = []
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

    def faq_keys(self) -> list[str]:
        path = self.root / RESPONSES_FILE
        responses = (self._load(path).get("responses") or {}) if path.exists() else {}
        return sorted(k.removeprefix("utter_faq/") for k in responses if k.startswith("utter_faq/"))

    def faq_answer(self, key: str, language: str = "en") -> str | None:
        path = self.root / RESPONSES_FILE
        variations = ((self._load(path).get("responses") or {}) if path.exists() else {}).get(f"utter_faq/{key}")
        for variation in variations or []:
            conditions = variation.get("condition") or []
            is_lang = any(c.get("name") == "language" and c.get("value") == language for c in conditions)
            if (language == "en" and not conditions) or is_lang:
                return str(variation.get("text", ""))
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
        """The file holding `label` for `language`; else the group file of that language."""
        holders = [path for path, item in self.nlu_items() if item["intent"] == label]
        for path in holders:
            if path.stem.endswith(f"_{language}"):
                return path
        group = "faq" if label.startswith("faq/") else None
        if group is None and holders:
            stem, _, suffix = holders[0].stem.rpartition("_")
            return self.root / f"{stem}_{language}.yml" if suffix in LANGS else holders[0]
        if group is None:
            raise DataError(f"unknown label {label!r}: pick an existing label or create a new FAQ")
        return self.root / f"nlu_{group}_{language}.yml"

    def add_example(self, label: str, text: str, language: str) -> Path:
        """Append `text` to `label`'s examples in the file for `language`; returns the file changed."""
        if language not in LANGS:
            raise DataError(f"language must be one of {', '.join(LANGS)}")
        if label in NOT_TRAINABLE:
            raise DataError(f"{label} is not a trainable label")
        example = clean_example(text)
        with self._locked():
            if label not in self.labels() and not label.startswith("faq/"):
                raise DataError(f"unknown label {label!r}: pick an existing label or create a new FAQ")
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

    def add_faq(self, key: str, answer_en: str, answer_es: str, examples: list[tuple[str, str]]) -> list[Path]:
        """A new FAQ: answers (en + es) in faq_responses.yml and question examples per language."""
        if not FAQ_KEY.match(key):
            raise DataError("key: 2-40 lowercase letters, digits or _, starting with a letter (e.g. food_trucks)")
        answers = {"en": answer_en.strip(), "es": answer_es.strip()}
        for lang, answer in answers.items():
            if not answer:
                raise DataError(f"the {lang} answer is empty")
            if len(answer) > MAX_ANSWER:
                raise DataError(f"the {lang} answer can be at most {MAX_ANSWER} characters")
        cleaned = [(clean_example(text), lang) for text, lang in examples]
        if not cleaned:
            raise DataError("give at least one example question")
        if any(lang not in LANGS for _, lang in cleaned):
            raise DataError(f"example languages must be one of {', '.join(LANGS)}")
        label = f"faq/{key}"
        changed: list[Path] = []
        with self._locked():
            if key in self.faq_keys() or label in self.labels():
                raise DataError(f"the FAQ {key} exists already; label the message with faq/{key} instead")
            seen: set[str] = set()
            for text, _ in cleaned:
                other = self.find_example(text)
                if other is not None:
                    raise DataError(f"{text!r} is already an example of {other}")
                if _norm(text) in seen:
                    raise DataError(f"{text!r} is given twice")
                seen.add(_norm(text))
            path = self.root / RESPONSES_FILE
            self._replace(path, self._with_response(path, key, answers))
            if self.faq_answer(key, "en") != _folded(answers["en"]) or \
                    self.faq_answer(key, "es") != _folded(answers["es"]):
                raise DataError("the answer could not be written faithfully")  # pragma: no cover
            changed.append(path)
            for lang in LANGS:
                lang_examples = [t for t, lg in cleaned if lg == lang]
                if not lang_examples:
                    continue
                nlu = self._nlu_file_for(label, lang)
                text = nlu.read_text(encoding="utf-8").rstrip("\n") + "\n" if nlu.exists() else \
                    'version: "3.1"\nnlu:\n'
                text += f"- intent: {label}\n  examples: |\n" + "".join(f"    - {t}\n" for t in lang_examples)
                self._replace(nlu, text)
                changed.append(nlu)
        return changed

    @staticmethod
    def _with_response(path: Path, key: str, answers: dict[str, str]) -> str:
        base = path.read_text(encoding="utf-8").rstrip("\n") + "\n" if path.exists() else \
            'version: "3.1"\nresponses:\n'
        lines = [f"  utter_faq/{key}:", "  - text: >-", *_block(answers["en"], 6),
                 "  - condition:", "    - type: slot", "      name: language", "      value: es",
                 "    text: >-", *_block(answers["es"], 6)]
        return base + "\n".join(lines) + "\n"
