"""Knowledge search for agents: the bot's FAQ answers (training_data/, `utter_faq/<key>`) plus
articles from config, searched by simple accent-insensitive word matching.

Content staff edit the FAQ answers in one place (training_data) and agents find the same
wording the bot gives, so residents hear one consistent answer. Files are re-read when they
change, so an edited answer shows up without a restart.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chat_server.agents.settings import Article

log = logging.getLogger("chat311.knowledge")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "to", "of", "and", "or", "is", "my", "i", "how", "do", "what", "in", "on", "for",
         "el", "la", "los", "las", "de", "del", "y", "o", "en", "mi", "como", "que", "un", "una", "es", "por"}


def _norm(value: str) -> str:
    value = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in value if not unicodedata.combining(c))


def _words(value: str) -> list[str]:
    return [w for w in _WORD.findall(_norm(value)) if w not in _STOP]


@dataclass
class Entry:
    key: str
    title: str
    body: str
    language: str
    source: str
    url: str = ""


def faq_entries(training_dir: Path) -> list[Entry]:
    """Every `utter_faq/<key>` response variation; a `language` slot condition gives its language."""
    out: list[Entry] = []
    for path in sorted(training_dir.rglob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            log.warning("cannot read training file", extra={"path": str(path)})
            continue
        responses = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(responses, dict):
            continue
        for name, variations in responses.items():
            if not str(name).startswith("utter_faq/") or not isinstance(variations, list):
                continue
            key = str(name).split("/", 1)[1]
            for variation in variations:
                if not isinstance(variation, dict) or not variation.get("text"):
                    continue
                language = "en"
                for cond in variation.get("condition") or []:
                    if isinstance(cond, dict) and cond.get("name") == "language":
                        language = str(cond.get("value"))
                title = key.replace("_", " ").capitalize()
                out.append(Entry(f"faq/{key}", title, " ".join(str(variation["text"]).split()), language, "faq"))
    return out


class KnowledgeBase:
    def __init__(self, training_dir: Path, articles: list[Article]) -> None:
        self.training_dir = training_dir
        self.articles = [Entry(f"article/{i}", a.title, a.body, a.language, "article", a.url)
                         for i, a in enumerate(articles)]
        self._stamp: tuple[float, ...] = ()
        self._faq: list[Entry] = []

    def entries(self) -> list[Entry]:
        files = sorted(self.training_dir.rglob("*.yml")) if self.training_dir.is_dir() else []
        stamp = (*(p.stat().st_mtime for p in files), len(files))
        if stamp != self._stamp:
            self._faq = faq_entries(self.training_dir) if files else []
            self._stamp = stamp
        return [*self._faq, *self.articles]

    def search(self, query: str, language: str | None = None, limit: int = 8) -> list[dict[str, Any]]:
        terms = _words(query)
        if not terms:
            return []
        scored = []
        for entry in self.entries():
            if language and entry.language != language:
                continue
            title_words = set(_words(entry.title + " " + entry.key))
            body_words = _words(entry.body)
            score = 0.0
            for term in terms:
                if term in title_words:
                    score += 3
                hits = sum(1 for w in body_words if w == term or (len(term) >= 4 and w.startswith(term)))
                score += min(hits, 3)
            if score > 0:
                scored.append((score, entry))
        scored.sort(key=lambda item: (-item[0], item[1].key))
        return [{"key": e.key, "title": e.title, "body": e.body, "language": e.language, "source": e.source,
                 "url": e.url} for _, e in scored[:limit]]
