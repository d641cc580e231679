"""The one reader of held-out NLU files (`chat311 nlu-eval FILE.csv`, the train & test scores).

Format: CSV with the header `text,label,lang`; `label` is a resolved label (chat_server/labels.py),
`lang` is `en` or `es`. A malformed file is refused with the file and line, never half-read.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

HEADER = ("text", "label", "lang")
LANGUAGES = ("en", "es")


@dataclass(frozen=True)
class HeldoutRow:
    text: str
    label: str
    lang: str


def read_heldout(path: Path) -> list[HeldoutRow]:
    """Every row of `path`; ValueError naming the file (and line) when it is not a held-out CSV."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [name for name in HEADER if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: header must be text,label,lang (missing {', '.join(missing)})")
        rows = []
        for record in reader:
            text, label = (record.get("text") or "").strip(), (record.get("label") or "").strip()
            lang = (record.get("lang") or "").strip().lower()
            where = f"{path}:{reader.line_num}"
            if not text:
                raise ValueError(f"{where}: empty text")
            if not label:
                raise ValueError(f"{where}: empty label")
            if lang not in LANGUAGES:
                raise ValueError(f"{where}: lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
            rows.append(HeldoutRow(text, label, lang))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows
