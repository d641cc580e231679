"""The one reader of held-out NLU files (`chat311 nlu-eval FILE.csv`, the train & test scores).

Format: CSV with the header `text,label,lang`; `label` is a resolved label (chat_server/labels.py),
`lang` is `en` or `es`. A malformed file is refused with the file and line, never half-read.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

HEADER = ("text", "label", "lang")
LANGUAGES = ("en", "es")
# Evaluation files never tuned on (heldout_test.csv, kb_test.csv) end their name with this.
BLIND_SUFFIX = "_test"


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


def errors_to_list(path: Path, asked: int | None, default: int) -> int:
    """How many wrong rows an evaluation of `path` lists. A test file's rows are listed only when asked
    for: a run that measures it should not put in front of its reader the rows that would tempt a fix."""
    if asked is not None:
        return asked
    if path.stem.endswith(BLIND_SUFFIX):
        print(f"{path.name}: a test file's wrong rows are listed only with --show-errors N", file=sys.stderr)
        return 0
    return default
