"""Bot texts used by custom actions: the `bot` section of chat_server/resident_texts/<language>.yml,
the same files that hold chat_server's resident copy (one file per language, edited by content
staff). chat_server checks both files when it starts (same keys, same placeholders) and names the
file and key of any error. Service names, attribute questions and values come from the service
catalogue (chat_server/tickets/catalogue.yml), not from here."""

from __future__ import annotations

from pathlib import Path

import yaml

TEXTS_DIR = Path(__file__).resolve().parents[2] / "chat_server" / "resident_texts"
LANGUAGES = ("en", "es")


def _load() -> dict[str, dict[str, str]]:
    """key → language → text."""
    out: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        data = yaml.safe_load((TEXTS_DIR / f"{lang}.yml").read_text(encoding="utf-8"))
        for key, value in data["bot"].items():
            out.setdefault(key, {})[lang] = value
    return out


TEXTS = _load()


def t(key: str, lang: str | None, **kwargs: object) -> str:
    entry = TEXTS[key]
    text = entry.get(lang or "en") or entry["en"]
    return text.format(**kwargs) if kwargs else text
